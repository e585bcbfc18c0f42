/**
 * Where a destination's next unit comes from. A destination paces units,
 * waits out starvation and retries a backend that took part of a unit; what
 * a unit is made of (converted PCM frames, whole MPEG-TS packets around
 * garbage, raw bytes) is its reader's business. A new kind of input adds a
 * reader, not a branch in the destination.
 *
 * Each reader keeps its destination's own position in the job's shared
 * read-ahead buffer, so destinations never wait on each other's reads.
 *
 * @example
 * ```ts
 * const length = reader.next(unit); // 0: starved (a load is asked for), or ended()
 * const taken = backend.send(unit.subarray(0, length), timing);
 * reader.advance(taken);
 * schedule(anchor + reader.mediaUs());
 * ```
 */
import type { ReadAheadBuffer } from "./read_ahead.ts";

export interface UnitReader {
  /** The next stream byte this reader needs: the job keeps the read-ahead buffer from the lowest one on. */
  readonly position: number;
  /** Input bytes one unit needs before it can go out (the job's load mark is at least this). */
  readonly inputBytesPerUnit: number;
  /** Media time one whole unit lasts, µs; 0 when units are timed by the stream's own clock instead. */
  readonly unitUs: number;
  /** Index of the next unit's first output frame, counting gaps (PCM; 0 for other streams). */
  readonly frame: number;
  /**
   * Copies the next unit into `unit` (reused, allocation-free) and returns its length: `unit.length`,
   * less only at the end of the stream. 0 when none is ready: then more input has been asked for,
   * or the stream has ended (see `ended`).
   */
  next(unit: Buffer): number;
  /**
   * Like `next`, but leaves the unit where it is: its length as `next` would give it (0 as
   * `next`), lying in the job's read-ahead buffer at this reader's position (on over the ring's
   * end to its start), for a backend that sends it from there. -1 where it does not lie so
   * (garbage to pass over): then `next` copies it. Absent where units never do (PCM to convert).
   */
  nextInPlace?(unitBytes: number): number;
  /**
   * Like `next`, but a short unit of what is there (whole packets) rather than nothing: for a live
   * input that stalled, so what was received goes out instead of waiting for the rest of a unit.
   * Absent where units cannot be short. `stalled`: the input has said nothing for a while (not
   * just a unit the backend took in part), so what a converter holds back goes too.
   */
  nextPartial?(unit: Buffer, stalled: boolean): number;
  /** The backend took the first `bytes` of the unit `next` gave; the rest is offered again. */
  advance(bytes: number): void;
  /** Media time of the next unit on this reader's timeline, µs. */
  mediaUs(): number;
  /** Nothing was ready for `lostUs`: the timeline moves on by the time lost (RTP timestamps advance across a gap). */
  skipGap(lostUs: number): void;
  /** True once the input has ended and every unit of it has been given out. */
  ended(): boolean;
  /**
   * The job needs the buffer below `offset` back, and this reader is still there (its output fell
   * too far behind the others): it moves on to the first whole frame or packet at or after
   * `offset`, dropping what it had staged, and returns the media time dropped, µs. Also a
   * listener's skip to the next input, `clockMoves` false: a PCM timeline (the frame count, which
   * RTP timestamps follow) then goes on from where it was, as no time passed.
   */
  skipTo(offset: number, clockMoves?: boolean): number;
  /** Drops everything left (the output is given up on at the end of the stream); returns the media time dropped, µs. */
  dropRest(): number;
  /** Media time that `bytes` of the backend's format last, µs (to report what a backend lost). */
  outputUs(bytes: number): number;
}

/** What every reader needs from its job: the shared read-ahead buffer and a way to ask for more. */
export interface SharedInput {
  /** Replaced while the job sizes itself (before any load): read it each time, never keep it. */
  readonly ring: ReadAheadBuffer;
  /** Ask for a load when this many bytes or fewer are left ahead of a reader. */
  readonly loadMark: number;
  /** True once the input has no more bytes to load. */
  readonly inputEnded: boolean;
  /** Asks for a load event (idempotent; nothing once the input ended). */
  requestLoad(): void;
}

/** A reader now at `position` asks for a load when it is down to the load mark, so its sends never wait on the disk. */
export function loadIfLow(input: SharedInput, position: number): void {
  if (input.ring.available(position) <= input.loadMark) input.requestLoad();
}
