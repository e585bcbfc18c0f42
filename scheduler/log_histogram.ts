/**
 * A log-linear histogram of microsecond values: whole µs below 16, then 16 buckets per octave up
 * to about 18 minutes, so a quantile is within about 3 % of the true value. Fixed size, nothing
 * allocated per value: for figures a destination keeps of every send. It may live in memory
 * that another thread reads (a sender thread's destinations: backends/net/senders/).
 *
 * @example
 * ```ts
 * const h = new LogHistogram(new Float64Array(2), 0, new Uint32Array(LogHistogram.BUCKETS), 0);
 * h.add(1000); h.add(1040);
 * h.quantile(0.5); // about 1000
 * ```
 */
const LINEAR_LIMIT = 16;
const SUB_BUCKET_BITS = 4;
const SUB_BUCKETS = 1 << SUB_BUCKET_BITS;
const FIRST_EXPONENT = 4; // log2(LINEAR_LIMIT)
const MAX_EXPONENT = 30; // about 18 minutes in µs; longer values are clamped
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

export interface QuantileSummary {
  p50: number;
  p99: number;
  max: number;
}

/** Counts `us` in the histogram whose [count, max] are `scalars[at]`, `scalars[at + 1]` and whose buckets start at `buckets[from]`. */
export function histogramAdd(scalars: Float64Array, at: number, buckets: Uint32Array, from: number, us: number): void {
  buckets[from + bucketOf(us)]!++;
  scalars[at]!++;
  if (us > scalars[at + 1]!) scalars[at + 1] = us;
}

export class LogHistogram {
  /** Its buckets (its count and its largest value are two doubles kept elsewhere). */
  static readonly BUCKETS = BUCKETS;

  /**
   * Over memory its owner lays out: [count, max] at `scalars[at]`, the buckets from `buckets[from]`.
   * One owner keeps several histograms and its own figures in one block, so a send that counts
   * in all of them touches a few cache lines of one block, not a view object each (send_pacing.ts).
   */
  constructor(
    private readonly scalars: Float64Array,
    private readonly at: number,
    private readonly buckets: Uint32Array,
    private readonly from: number,
  ) {}

  get count(): number {
    return this.scalars[this.at]!;
  }

  get max(): number {
    return this.scalars[this.at + 1]!;
  }

  add(us: number): void {
    histogramAdd(this.scalars, this.at, this.buckets, this.from, us);
  }

  /** The value below which a fraction `q` of values fall (a bucket's middle, at most the largest). */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let b = 0; b < BUCKETS; b++) {
      seen += this.buckets[this.from + b]!;
      if (seen >= rank) return Math.min(Math.round(middleOf(b)), this.max);
    }
    return this.max;
  }

  /** Whole µs: the values may be fractions (a clock's µs), a report's are not. */
  summary(): QuantileSummary {
    return { p50: Math.round(this.quantile(0.5)), p99: Math.round(this.quantile(0.99)), max: Math.round(this.max) };
  }
}
