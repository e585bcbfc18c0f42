/**
 * A gate in front of a destination's reader: while it is closed the reader
 * gives nothing, so the destination sends nothing and treats the time as a
 * gap (RTP timestamps move on by it and the next packet carries the marker,
 * RFC 3551). Nothing buffered is dropped: when the gate opens, sending goes
 * on from the very frame where it stopped. This is how the speaker pauses:
 * the output stops within the backend's lead, not after the read-ahead.
 *
 * @example
 * ```ts
 * const gate: ReaderGate = { closed: false };
 * const reader = gatedReader(new PcmReader(...), gate);
 * gate.closed = true;   // pause: the next send event finds nothing
 * gate.closed = false;  // resume (then wake the destination)
 * ```
 */
import type { UnitReader } from "./unit_reader.ts";

/** Shared by every destination of a job; whoever holds it opens and closes it. */
export interface ReaderGate {
  closed: boolean;
}

export function gatedReader(inner: UnitReader, gate: ReaderGate): UnitReader {
  return {
    get position() {
      return inner.position;
    },
    get inputBytesPerUnit() {
      return inner.inputBytesPerUnit;
    },
    get unitUs() {
      return inner.unitUs;
    },
    get frame() {
      return inner.frame;
    },
    next: (unit) => (gate.closed ? 0 : inner.next(unit)),
    nextInPlace: inner.nextInPlace && ((unitBytes) => (gate.closed ? 0 : inner.nextInPlace!(unitBytes))),
    nextPartial: inner.nextPartial && ((unit, stalled) => (gate.closed ? 0 : inner.nextPartial!(unit, stalled))),
    advance: (bytes) => inner.advance(bytes),
    mediaUs: () => inner.mediaUs(),
    skipGap: (lostUs) => inner.skipGap(lostUs),
    ended: () => !gate.closed && inner.ended(),
    skipTo: (offset, clockMoves) => inner.skipTo(offset, clockMoves),
    dropRest: () => inner.dropRest(),
    outputUs: (bytes) => inner.outputUs(bytes),
  };
}
