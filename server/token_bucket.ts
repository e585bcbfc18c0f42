/**
 * A token bucket: tokens accrue at a rate up to a depth, and what is spent is taken out. The
 * control port spends one per request (rate_limit.ts), a live channel one per byte it reads
 * (live/live_channel.ts). Time is passed in, so there are no timers.
 *
 * @example
 * ```ts
 * const bucket = new TokenBucket(50 / 1000, 100, nowMs); // 50 a second, 100 at once
 * bucket.refill(nowMs);
 * if (bucket.tokens >= 1) bucket.tokens -= 1;
 * ```
 */
export class TokenBucket {
  /** What may be spent now; below 0 when more was taken than there was (a debt). */
  tokens: number;
  #lastMs: number;

  /** Starts full. */
  constructor(
    readonly ratePerMs: number,
    readonly depth: number,
    nowMs: number,
  ) {
    this.tokens = depth;
    this.#lastMs = nowMs;
  }

  /** Adds what accrued since the last refill, up to the depth. */
  refill(nowMs: number): void {
    // max(0, …): a clock stepping backwards must not drain the bucket.
    const elapsed = Math.max(0, nowMs - this.#lastMs);
    this.tokens = Math.min(this.depth, this.tokens + elapsed * this.ratePerMs);
    this.#lastMs = Math.max(this.#lastMs, nowMs);
  }

  /** Takes `n` whether or not they are there; returns how long until the bucket is out of debt, ms (0: it is not in debt). */
  spend(n: number, nowMs: number): number {
    this.refill(nowMs);
    this.tokens -= n;
    return this.tokens >= 0 ? 0 : -this.tokens / this.ratePerMs;
  }
}
