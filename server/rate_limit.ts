/**
 * Per-source token buckets for the control endpoint: requests over the limit are dropped with no
 * reply (DESIGN.md, "Anti-reflection"). Time is passed in, so there are no timers.
 *
 * The number of tracked sources is bounded; the least recently seen is forgotten first. A forgotten
 * source comes back with a full bucket, which is the price of bounded memory under address spoofing.
 *
 * @example
 * ```ts
 * const limiter = new RateLimiter({ ratePerSecond: 50, burst: 100 });
 * if (!limiter.allow(rinfo.address, nowMs)) { counters.rateLimited++; return; }
 * ```
 */

import { LruMap } from "./lru_map.ts";
import { TokenBucket } from "./token_bucket.ts";

export const DEFAULT_RATE_PER_SECOND = 50;
export const DEFAULT_BURST = 100;
export const DEFAULT_MAX_SOURCES = 65_536;

export interface RateLimitOptions {
  /** Tokens added per second; default DEFAULT_RATE_PER_SECOND. */
  readonly ratePerSecond?: number;
  /** Bucket size: requests allowed at once after a quiet spell; default DEFAULT_BURST. */
  readonly burst?: number;
  /** Sources tracked at once; default DEFAULT_MAX_SOURCES. */
  readonly maxSources?: number;
}

export class RateLimiter {
  readonly #buckets: LruMap<TokenBucket>;
  readonly #ratePerMs: number;
  readonly #burst: number;

  constructor(options: RateLimitOptions = {}) {
    this.#ratePerMs = (options.ratePerSecond ?? DEFAULT_RATE_PER_SECOND) / 1000;
    this.#burst = options.burst ?? DEFAULT_BURST;
    this.#buckets = new LruMap(options.maxSources ?? DEFAULT_MAX_SOURCES);
  }

  /** Number of sources currently tracked. */
  get size(): number {
    return this.#buckets.size;
  }

  /**
   * Takes one token from `source`'s bucket (policy.ts sourceKey of the sender, so changing ports, or
   * addresses within one IPv6 /64, does not buy a fresh bucket). Returns false when the bucket is empty.
   */
  allow(source: string, nowMs: number): boolean {
    const bucket = this.#buckets.get(source) ?? new TokenBucket(this.#ratePerMs, this.#burst, nowMs);
    bucket.refill(nowMs);
    this.#buckets.set(source, bucket); // most recently seen; evicts the least recent beyond the bound
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }
}
