/**
 * A response body rendered at most once per `maxAgeMs`; in between, every request gets the same
 * bytes. Rendering /metrics or /status walks every destination of every job on the thread that
 * runs the sends (220 KB for 19 jobs of 288 destinations): rendered per request, clients polling
 * /metrics ~1,000 times a second stalled every stream for seconds. Time is passed in (ms).
 *
 * @example
 * ```ts
 * const metrics = new RenderedBody(() => metricsText(server), 1_000);
 * return new Response(metrics.bytes(performance.now()), { headers });
 * ```
 */
export class RenderedBody {
  readonly #render: () => string;
  readonly #maxAgeMs: number;
  #bytes: Uint8Array | null = null;
  #renderedAtMs = 0;

  constructor(render: () => string, maxAgeMs: number) {
    this.#render = render;
    this.#maxAgeMs = maxAgeMs;
  }

  /** The body as last rendered, or rendered now when that was `maxAgeMs` ago or more. */
  bytes(nowMs: number): Uint8Array {
    if (this.#bytes === null || nowMs - this.#renderedAtMs >= this.#maxAgeMs) {
      // Encoded once here, not by every Response built from a string.
      this.#bytes = new TextEncoder().encode(this.#render());
      this.#renderedAtMs = nowMs;
    }
    return this.#bytes;
  }
}
