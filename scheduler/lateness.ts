/**
 * Lateness statistics: a log-linear histogram of microsecond values that
 * records without allocating, and reports p50, p99 and max.
 *
 * Values under 128 µs are exact; above, each power of two is cut into 64
 * buckets, so a quantile is within 1.6 % of the true value.
 *
 * @example
 * ```ts
 * const h = new LatenessHistogram();
 * h.record(12); h.record(300);
 * h.quantile(0.5); // 12
 * ```
 */
const LINEAR_LIMIT = 128;
const SUB_BUCKET_BITS = 6;
const SUB_BUCKETS = 1 << SUB_BUCKET_BITS;
const FIRST_EXPONENT = 7; // log2(LINEAR_LIMIT)
const MAX_EXPONENT = 42; // ~ 50 days in µs: beyond that values are clamped
const BUCKETS = LINEAR_LIMIT + (MAX_EXPONENT - FIRST_EXPONENT + 1) * SUB_BUCKETS;

function bucketOf(value: number): number {
  if (value < LINEAR_LIMIT) return value < 0 ? 0 : Math.floor(value);
  let e = 31 - Math.clz32(value);
  if (value >= 2 ** 32) e = Math.floor(Math.log2(value));
  if (e > MAX_EXPONENT) return BUCKETS - 1;
  const sub = Math.floor(value / 2 ** (e - SUB_BUCKET_BITS)) & (SUB_BUCKETS - 1);
  return LINEAR_LIMIT + (e - FIRST_EXPONENT) * SUB_BUCKETS + sub;
}

function lowerBoundOf(bucket: number): number {
  if (bucket < LINEAR_LIMIT) return bucket;
  const i = bucket - LINEAR_LIMIT;
  const e = FIRST_EXPONENT + Math.floor(i / SUB_BUCKETS);
  const sub = i % SUB_BUCKETS;
  return (SUB_BUCKETS + sub) * 2 ** (e - SUB_BUCKET_BITS);
}

export class LatenessHistogram {
  private readonly counts = new Float64Array(BUCKETS);
  count = 0;
  max = 0;
  sum = 0;

  record(us: number): void {
    this.counts[bucketOf(us)]!++;
    this.count++;
    this.sum += us;
    if (us > this.max) this.max = us;
  }

  /** The value below which a fraction `q` of the recorded values fall (bucket lower bound). */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.ceil(q * this.count);
    let seen = 0;
    for (let b = 0; b < BUCKETS; b++) {
      seen += this.counts[b]!;
      if (seen >= rank) return Math.min(lowerBoundOf(b), this.max);
    }
    return this.max;
  }

  /**
   * For each of `bounds` (ascending, µs), how many recorded values lie in buckets wholly below it,
   * in one pass over the buckets: exact where a bound falls on a bucket edge (every integer up to
   * 128, every even number to 256, every multiple of 4 to 512, …), otherwise short by at most the
   * one bucket it falls in. Used for Prometheus buckets.
   */
  countsBelow(bounds: readonly number[]): number[] {
    const out = new Array<number>(bounds.length).fill(0);
    let seen = 0;
    let i = 0;
    for (let b = 0; b < BUCKETS && i < bounds.length; b++) {
      while (i < bounds.length && lowerBoundOf(b + 1) > bounds[i]!) out[i++] = seen;
      seen += this.counts[b]!;
    }
    while (i < bounds.length) out[i++] = seen;
    return out;
  }

  /** Its state as plain data, to hand to another thread (a sender thread reports its own). */
  export(): LatenessData {
    return { counts: this.counts.slice(), count: this.count, max: this.max, sum: this.sum };
  }

  /** Adds another histogram's exported state to this one. */
  add(data: LatenessData): void {
    const counts = this.counts;
    for (let b = 0; b < BUCKETS; b++) counts[b]! += data.counts[b] ?? 0;
    this.count += data.count;
    this.sum += data.sum;
    if (data.max > this.max) this.max = data.max;
  }

  reset(): void {
    this.counts.fill(0);
    this.count = 0;
    this.max = 0;
    this.sum = 0;
  }

  /** Summary for status output and benchmarks. */
  summary(): LatenessSummary {
    return { count: this.count, p50: this.quantile(0.5), p99: this.quantile(0.99), max: this.max };
  }
}

export interface LatenessData {
  counts: Float64Array;
  count: number;
  max: number;
  sum: number;
}

export interface LatenessSummary {
  count: number;
  p50: number;
  p99: number;
  max: number;
}
