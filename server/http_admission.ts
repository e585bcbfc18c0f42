/**
 * Which HTTP requests (metrics_http.ts) are served: each source (policy.ts sourceKey) has its own
 * token bucket, and all sources together share one more, so neither one client nor many can make
 * the endpoint take the event loop from the sends (README, "Control under load"). A refused
 * request costs a canned reply; the caller answers 429 (`rate_limited`, the source's share) or 503
 * (`overloaded`, everyone's) and counts it. Time is passed in (ms).
 *
 * @example
 * ```ts
 * const admission = new HttpAdmission();
 * const refusal = admission.refusal(http.requestIP(request)?.address ?? "", performance.now());
 * if (refusal) return refused(refusal);
 * ```
 */
import { sourceKey } from "./policy.ts";
import { RateLimiter } from "./rate_limit.ts";

export interface HttpAdmissionShape {
  /** Requests a second one source is served, and how many it may send at once after a quiet spell. */
  readonly perSourcePerSecond: number;
  readonly perSourceBurst: number;
  /** Requests a second all sources together are served, and the burst they share. */
  readonly overallPerSecond: number;
  readonly overallBurst: number;
  /** Sources tracked at once (rate_limit.ts: the least recently seen is forgotten first). */
  readonly maxSources: number;
}

/**
 * Prometheus scrapes a target every 15–60 s (twice for an HA pair) and a dashboard or `watch
 * curl` polls about once a second, so 10/s per source leaves any of them ample room. Bodies are
 * rendered at most once a second (rendered_body.ts), so an admitted request costs Bun's parse and
 * a copy of cached bytes; 50/s of those is a few ms of each second of the loop.
 */
export const DEFAULT_HTTP_ADMISSION: HttpAdmissionShape = {
  perSourcePerSecond: 10,
  perSourceBurst: 20,
  overallPerSecond: 50,
  overallBurst: 100,
  maxSources: 4_096,
};

export type HttpRefusal = "rate_limited" | "overloaded";

/** The one bucket every source shares. */
const EVERYONE = "*";

export class HttpAdmission {
  readonly #perSource: RateLimiter;
  readonly #overall: RateLimiter;
  /** Requests refused so far, by reason (for /metrics). */
  readonly refused: Record<HttpRefusal, number> = { rate_limited: 0, overloaded: 0 };

  constructor(shape: HttpAdmissionShape = DEFAULT_HTTP_ADMISSION) {
    this.#perSource = new RateLimiter({ ratePerSecond: shape.perSourcePerSecond, burst: shape.perSourceBurst, maxSources: shape.maxSources });
    this.#overall = new RateLimiter({ ratePerSecond: shape.overallPerSecond, burst: shape.overallBurst, maxSources: 1 });
  }

  /** Why a request from `address` is refused now, or null to serve it; a refusal is counted. */
  refusal(address: string, nowMs: number): HttpRefusal | null {
    // The source first: a client over its own share must not spend everyone's.
    const reason = !this.#perSource.allow(sourceKey(address), nowMs) ? "rate_limited" : !this.#overall.allow(EVERYONE, nowMs) ? "overloaded" : null;
    if (reason) this.refused[reason]++;
    return reason;
  }
}
