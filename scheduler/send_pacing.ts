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

import { histogramAdd, LogHistogram, type QuantileSummary } from "./log_histogram.ts";

/** The burst window, µs. */
export const BURST_WINDOW_US = 1000;
/** Sends remembered for the burst count: a larger burst reads as this many (a power of two). */
const BURST_RING = 64;
const RING_REBASE = 1 << 30;

/*
 * Its memory, one block: doubles [sends, largest burst, last send, burst head, burst tail, gaps'
 * count and max, accuracy's count and max, the burst ring], then the two histograms' buckets. One
 * block, as a send counts in all of it: a server's thousand destinations are each cold when they
 * send, and a view object for each part cost a cache miss each (docs/scale.md).
 */
const SENDS = 0;
const BURST = 1;
/** The last send's time + 1, so 0 (zeroed memory, as a block another thread reads begins) is none. */
const LAST = 2;
const HEAD = 3;
const TAIL = 4;
const GAPS = 5;
const ACCURACY = 7;
const RING = 9;
const DOUBLES = RING + BURST_RING;
const GAP_BUCKETS = (DOUBLES * 8) / 4;
const ACCURACY_BUCKETS = GAP_BUCKETS + LogHistogram.BUCKETS;

export interface SendPacingSummary {
  sends: number;
  /** Gaps between sends, µs. */
  gap_us: QuantileSummary;
  /** Most sends within any 1 ms. */
  burst_1ms: number;
  /** How far each send was from its due time on the stream's own clock, µs: for TS the PCR line (PCR_AC). */
  accuracy_us: QuantileSummary;
}

/**
 * Memory that many destinations' pacing blocks share, each at its own offset (pacing_blocks.ts): the
 * views are the same objects for all of them, so a send finds them in cache and goes straight to
 * its block, where views of its own were two more cold objects a send (docs/scale.md).
 */
export interface PacingMemory {
  readonly doubles: Float64Array;
  readonly buckets: Uint32Array;
}

export class SendPacing {
  /** Bytes of the memory one keeps (see the constructor). */
  static readonly BYTES = DOUBLES * 8 + 2 * LogHistogram.BUCKETS * 4;
  private readonly doubles: Float64Array;
  private readonly buckets: Uint32Array;
  /** Its block in them: the index of its first double, and of its first 32-bit word. */
  private readonly d0: number;
  private readonly w0: number;
  private readonly gaps: LogHistogram;
  /** |send time - due time|: the stream's clock line (PCR, SCR or sample clock) as the schedule placed it. */
  readonly accuracy: LogHistogram;

  /**
   * In SendPacing.BYTES of `memory` from byte `at` (a multiple of 8): a SharedArrayBuffer lets
   * the thread that sends record and another read (a sender thread's destination, read by the
   * main thread's status). Or in shared views, at byte `at` of them (pacing_blocks.ts).
   */
  constructor(memory: ArrayBufferLike | PacingMemory = new ArrayBuffer(SendPacing.BYTES), at = 0) {
    const shared = "doubles" in memory;
    this.doubles = shared ? memory.doubles : new Float64Array(memory, at, DOUBLES);
    this.buckets = shared ? memory.buckets : new Uint32Array(memory, at, SendPacing.BYTES / 4);
    // Views of its own start at its block; shared ones at the buffer's start.
    this.d0 = shared ? at / 8 : 0;
    this.w0 = shared ? at / 4 : 0;
    this.gaps = new LogHistogram(this.doubles, this.d0 + GAPS, this.buckets, this.w0 + GAP_BUCKETS);
    this.accuracy = new LogHistogram(this.doubles, this.d0 + ACCURACY, this.buckets, this.w0 + ACCURACY_BUCKETS);
  }

  get sends(): number {
    return this.doubles[this.d0 + SENDS]!;
  }

  get largestBurst(): number {
    return this.doubles[this.d0 + BURST]!;
  }

  get maxGapUs(): number {
    return this.gaps.max;
  }

  /** A send at `nowUs` (the scheduler's clock) that was due at `dueUs`. */
  record(nowUs: number, dueUs = nowUs): void {
    const d = this.doubles;
    const buckets = this.buckets;
    const o = this.d0;
    const w = this.w0;
    d[o + SENDS]!++;
    histogramAdd(d, o + ACCURACY, buckets, w + ACCURACY_BUCKETS, Math.abs(nowUs - dueUs));
    const last = d[o + LAST]! - 1;
    if (last >= 0) histogramAdd(d, o + GAPS, buckets, w + GAP_BUCKETS, nowUs - last);
    d[o + LAST] = nowUs + 1;
    // Counts kept as doubles, worked on as int32s (a double's % is a slow one).
    let head = d[o + HEAD]! | 0;
    let tail = d[o + TAIL]! | 0;
    const ring = o + RING;
    d[ring + (head & (BURST_RING - 1))] = nowUs;
    head++;
    while (head - tail > BURST_RING || d[ring + (tail & (BURST_RING - 1))]! <= nowUs - BURST_WINDOW_US) tail++;
    if (head - tail > d[o + BURST]!) d[o + BURST] = head - tail;
    // Kept far from int32's end (a multiple of the ring off both: the same slots).
    if (tail >= RING_REBASE) {
      head -= RING_REBASE;
      tail -= RING_REBASE;
    }
    d[o + HEAD] = head;
    d[o + TAIL] = tail;
  }

  /** The next send follows a gap or a pause, not the pace: neither its gap nor a burst across it counts. */
  restart(): void {
    const d = this.doubles;
    d[this.d0 + LAST] = 0;
    d[this.d0 + TAIL] = d[this.d0 + HEAD]!;
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
