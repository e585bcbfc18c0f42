/**
 * Where a transport stream starts over (a `--loop` turn, the next file of a
 * sequence), every PID's continuity_counter jumps and each PCR steps back.
 * Receivers count a continuity error per PID at every such seam, and a
 * decoder that trusts the counters drops what follows. A looping head-end
 * mends the seam instead, in the packets' own headers, so the bytes sent stay
 * the input's bytes and nothing is added:
 * - each PID's counter goes on from the last one sent (the first packet of a
 *   PID after the seam sets how far that PID's counters are moved, until the
 *   next seam);
 * - the first packet after the seam of each PID that carries PCRs, and has an
 *   adaptation field to hold it, gets discontinuity_indicator, which says a
 *   new time base begins there (ISO/IEC 13818-1 §2.4.3.5).
 *
 * The mended bytes are written where the stream is sent from (`out`), by
 * stream offset, since a packet split across two loads reaches the scanner as
 * a joined copy. Before the first seam a packet costs one lookup and nothing
 * is written; nothing is allocated per packet.
 *
 * @example
 * ```ts
 * const seams = new TsSeams({ setByteAt: (offset, value) => (ring[offset % ring.length] = value) });
 * scanner.push(firstTurn, (buf, at, offset) => seams.packet(buf, at, offset));
 * seams.seamAt(firstTurn.length);   // the input starts over here
 * scanner.push(secondTurn, (buf, at, offset) => seams.packet(buf, at, offset));
 * ```
 */
import { TS_PID_NULL, tsGetAdaptationLength, tsGetCc, tsHasPayload, tsHasPcr, tsGetPid } from "./mpegts.ts";

/** Where a mended header byte goes: the buffer the stream is sent from, by stream offset. */
export interface ByteSink {
  setByteAt(offset: number, value: number): void;
}

const PIDS = 8192;
/** The PID has been seen: it has a last counter to go on from. */
const SEEN = 1;
/** Its first packet since the last seam is still to come: it sets the PID's counter shift. */
const CC_PENDING = 2;
/** It has carried a PCR. */
const CARRIES_PCR = 4;
/** It carries PCRs and has not yet been flagged since the last seam. */
const TIMEBASE_PENDING = 8;
/** discontinuity_indicator, in the adaptation field's flags byte (the packet's byte 5). */
const AF_DISCONTINUITY = 0x80;

export class TsSeams {
  private readonly state = new Uint8Array(PIDS);
  /** The last continuity_counter sent on each PID (after its shift). */
  private readonly lastCc = new Uint8Array(PIDS);
  /** What is added to each PID's counters, mod 16, since the last seam. */
  private readonly shift = new Uint8Array(PIDS);
  /** Stream offset of a seam the packets have not reached yet (Infinity: none). */
  private nextSeam = Infinity;
  /** Seams the packets have passed. */
  seams = 0;

  constructor(private readonly out: ByteSink) {}

  /** The stream starts over at `offset`: packets from there on are after the seam. */
  seamAt(offset: number): void {
    if (offset === this.nextSeam) return;
    // One seam not yet reached is taken at once: marking a PID early costs nothing where its
    // counters run on (its shift comes out unchanged), and a turn that short has none to mend.
    if (this.nextSeam !== Infinity) this.begin();
    this.nextSeam = offset;
  }

  /** One packet: buf[at] is its sync byte, and it lies at `streamOffset` of the stream. */
  packet(buf: Uint8Array, at: number, streamOffset: number): void {
    if (streamOffset >= this.nextSeam) {
      this.nextSeam = Infinity;
      this.begin();
    }
    const pid = tsGetPid(buf, at);
    if (pid === TS_PID_NULL) return;
    const state = this.state[pid];
    const payload = tsHasPayload(buf, at);
    const cc = tsGetCc(buf, at);
    let flags = state | SEEN;
    if (state & CC_PENDING) {
      // A packet without payload does not move the counter (§2.4.3.3).
      const expected = (this.lastCc[pid] + (payload ? 1 : 0)) & 0xf;
      this.shift[pid] = (expected - cc) & 0xf;
      flags &= ~CC_PENDING;
    }
    const shift = this.shift[pid];
    const sent = (cc + shift) & 0xf;
    this.lastCc[pid] = sent;
    if (shift !== 0) this.write(buf, at, streamOffset, 3, (buf[at + 3] & 0xf0) | sent);
    const adaptation = tsGetAdaptationLength(buf, at) > 0;
    if (adaptation && tsHasPcr(buf, at)) flags |= CARRIES_PCR;
    if (flags & TIMEBASE_PENDING && adaptation) {
      this.write(buf, at, streamOffset, 5, buf[at + 5] | AF_DISCONTINUITY);
      flags &= ~TIMEBASE_PENDING;
    }
    this.state[pid] = flags;
  }

  private begin(): void {
    const state = this.state;
    for (let pid = 0; pid < PIDS; pid++) {
      const s = state[pid];
      if (s & SEEN) state[pid] = s | CC_PENDING | (s & CARRIES_PCR ? TIMEBASE_PENDING : 0);
    }
    this.seams++;
  }

  /** Byte `at + i` of the packet, both in the scanner's copy (which the clock reads next) and where it is sent from. */
  private write(buf: Uint8Array, at: number, streamOffset: number, i: number, value: number): void {
    buf[at + i] = value;
    this.out.setByteAt(streamOffset + i, value);
  }
}
