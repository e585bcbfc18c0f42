/**
 * Self-measured pacing of one destination, from the times its send events already read (the
 * scheduler's `now`; no clock reads or system calls of its own, nothing allocated per send):
 *
 * - the gaps between sends, in a log-linear histogram (16 buckets per octave, so a quantile is
 *   within about 3 % of the true gap), reported as p50 / p99 / max;
 * - the largest burst: the most sends within any 1 ms, as a kernel-stamped receiver counts
 *   datagrams arriving within 1 ms (bench section 7);
 * - the accuracy: how far each send was from its due time on the stream's own clock line, as
 *   the schedule placed it (for TS the PCR line: ETSI TR 101 290's PCR_AC, seen from the sender).
 *
 * What the schedule sends at once on purpose is left out by the caller: the lead at the start
 * (`ahead`), and the first send after a gap or a pause ({@link SendPacing.restart}).
 *
 * @example
 * ```ts
 * const pacing = new SendPacing();
 * for (const t of [0, 1000, 2000, 2100]) pacing.record(t);
 * pacing.summary(); // { sends: 4, gap_us: { p50: 1000, p99: 1000, max: 1000 }, burst_1ms: 2, accuracy_us: … }
 * ```
 */

import { LogHistogram, type QuantileSummary } from "./log_histogram.ts";

/** [sends, largest burst], then the two histograms. */
const SCALARS_BYTES = 16;

/** The burst window, µs. */
export const BURST_WINDOW_US = 1000;
/** Sends remembered for the burst count: a larger burst reads as this many. */
const BURST_RING = 64;

export interface SendPacingSummary {
  sends: number;
  /** Gaps between sends, µs. */
  gap_us: QuantileSummary;
  /** Most sends within any 1 ms. */
  burst_1ms: number;
  /** How far each send was from its due time on the stream's own clock, µs: for TS the PCR line (PCR_AC). */
  accuracy_us: QuantileSummary;
}

export class SendPacing {
  /** Bytes of the memory one keeps (see the constructor). */
  static readonly BYTES = SCALARS_BYTES + 2 * LogHistogram.BYTES;
  private readonly scalars: Float64Array;
  private readonly gaps: LogHistogram;
  /** |send time - due time|: the stream's clock line (PCR, SCR or sample clock) as the schedule placed it. */
  readonly accuracy: LogHistogram;

  /**
   * In `memory` (SendPacing.BYTES of it): a SharedArrayBuffer lets the thread that sends record
   * and another read (a sender thread's destination, read by the main thread's status).
   */
  constructor(memory: ArrayBufferLike = new ArrayBuffer(SendPacing.BYTES)) {
    this.scalars = new Float64Array(memory, 0, 2);
    this.gaps = new LogHistogram(memory, SCALARS_BYTES);
    this.accuracy = new LogHistogram(memory, SCALARS_BYTES + LogHistogram.BYTES);
  }

  get sends(): number {
    return this.scalars[0]!;
  }

  get largestBurst(): number {
    return this.scalars[1]!;
  }
  private last = -1;
  private readonly recent = new Float64Array(BURST_RING);
  private head = 0;
  private tail = 0;

  get maxGapUs(): number {
    return this.gaps.max;
  }

  /** A send at `nowUs` (the scheduler's clock) that was due at `dueUs`. */
  record(nowUs: number, dueUs = nowUs): void {
    const scalars = this.scalars;
    scalars[0]!++;
    this.accuracy.add(Math.abs(nowUs - dueUs));
    if (this.last >= 0) this.gaps.add(nowUs - this.last);
    this.last = nowUs;
    const ring = this.recent;
    ring[this.head % BURST_RING] = nowUs;
    this.head++;
    while (this.head - this.tail > BURST_RING || ring[this.tail % BURST_RING]! <= nowUs - BURST_WINDOW_US) this.tail++;
    const inWindow = this.head - this.tail;
    if (inWindow > scalars[1]!) scalars[1] = inWindow;
  }

  /** The next send follows a gap or a pause, not the pace: neither its gap nor a burst across it counts. */
  restart(): void {
    this.last = -1;
    this.tail = this.head;
  }

  /** The gap below which a fraction `q` of gaps fall, µs. */
  gapQuantile(q: number): number {
    return this.gaps.quantile(q);
  }

  summary(): SendPacingSummary {
    return {
      sends: this.sends,
      gap_us: this.gaps.summary(),
      burst_1ms: this.largestBurst,
      accuracy_us: this.accuracy.summary(),
    };
  }
}
