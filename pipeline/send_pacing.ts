/**
 * Self-measured pacing of one destination, from the times its send events already read (the
 * scheduler's `now`; no clock reads or system calls of its own, nothing allocated per send):
 *
 * - the gaps between sends, in a log-linear histogram (16 buckets per octave, so a quantile is
 *   within about 3 % of the true gap), reported as p50 / p99 / max;
 * - the largest burst: the most sends within any 1 ms, as a kernel-stamped receiver counts
 *   datagrams arriving within 1 ms (bench section 7).
 *
 * What the schedule sends at once on purpose is left out by the caller: the lead at the start
 * (`ahead`), and the first send after a gap or a pause ({@link SendPacing.restart}).
 *
 * @example
 * ```ts
 * const pacing = new SendPacing();
 * for (const t of [0, 1000, 2000, 2100]) pacing.record(t);
 * pacing.summary(); // { sends: 4, gap_us: { p50: 1000, p99: 1000, max: 1000 }, burst_1ms: 2 }
 * ```
 */

/** The burst window, µs. */
export const BURST_WINDOW_US = 1000;
/** Sends remembered for the burst count: a larger burst reads as this many. */
const BURST_RING = 64;
const LINEAR_LIMIT = 16;
const SUB_BUCKET_BITS = 4;
const SUB_BUCKETS = 1 << SUB_BUCKET_BITS;
const FIRST_EXPONENT = 4; // log2(LINEAR_LIMIT)
const MAX_EXPONENT = 30; // about 18 minutes in µs; longer gaps are clamped
const BUCKETS = LINEAR_LIMIT + (MAX_EXPONENT - FIRST_EXPONENT + 1) * SUB_BUCKETS;

function bucketOf(us: number): number {
  if (us < LINEAR_LIMIT) return us < 0 ? 0 : Math.floor(us);
  if (us >= 2 ** (MAX_EXPONENT + 1)) return BUCKETS - 1;
  const e = 31 - Math.clz32(us);
  const sub = (us >>> (e - SUB_BUCKET_BITS)) & (SUB_BUCKETS - 1);
  return LINEAR_LIMIT + (e - FIRST_EXPONENT) * SUB_BUCKETS + sub;
}

/** The middle of a bucket (of the whole µs it holds). */
function middleOf(bucket: number): number {
  if (bucket < LINEAR_LIMIT) return bucket;
  const i = bucket - LINEAR_LIMIT;
  const e = FIRST_EXPONENT + Math.floor(i / SUB_BUCKETS);
  const width = 2 ** (e - SUB_BUCKET_BITS);
  return (SUB_BUCKETS + (i % SUB_BUCKETS)) * width + (width - 1) / 2;
}

export interface SendPacingSummary {
  sends: number;
  /** Gaps between sends, µs. */
  gap_us: { p50: number; p99: number; max: number };
  /** Most sends within any 1 ms. */
  burst_1ms: number;
}

export class SendPacing {
  sends = 0;
  largestBurst = 0;
  maxGapUs = 0;
  private readonly gaps = new Uint32Array(BUCKETS);
  private gapCount = 0;
  private last = -1;
  private readonly recent = new Float64Array(BURST_RING);
  private head = 0;
  private tail = 0;

  /** A send at `nowUs` (the scheduler's clock). */
  record(nowUs: number): void {
    this.sends++;
    if (this.last >= 0) {
      const gap = nowUs - this.last;
      this.gaps[bucketOf(gap)]!++;
      this.gapCount++;
      if (gap > this.maxGapUs) this.maxGapUs = gap;
    }
    this.last = nowUs;
    const ring = this.recent;
    ring[this.head % BURST_RING] = nowUs;
    this.head++;
    while (this.head - this.tail > BURST_RING || ring[this.tail % BURST_RING]! <= nowUs - BURST_WINDOW_US) this.tail++;
    const inWindow = this.head - this.tail;
    if (inWindow > this.largestBurst) this.largestBurst = inWindow;
  }

  /** The next send follows a gap or a pause, not the pace: neither its gap nor a burst across it counts. */
  restart(): void {
    this.last = -1;
    this.tail = this.head;
  }

  /** The gap below which a fraction `q` of gaps fall, µs (a bucket's middle, at most the largest gap). */
  gapQuantile(q: number): number {
    if (this.gapCount === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.gapCount));
    let seen = 0;
    for (let b = 0; b < BUCKETS; b++) {
      seen += this.gaps[b]!;
      if (seen >= rank) return Math.min(Math.round(middleOf(b)), this.maxGapUs);
    }
    return this.maxGapUs;
  }

  summary(): SendPacingSummary {
    return {
      sends: this.sends,
      gap_us: { p50: this.gapQuantile(0.5), p99: this.gapQuantile(0.99), max: this.maxGapUs },
      burst_1ms: this.largestBurst,
    };
  }
}
