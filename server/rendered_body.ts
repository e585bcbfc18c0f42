/**
 * A response body rendered at most once per `maxAgeMs`; in between, every request gets the same
 * bytes. Rendering /metrics or /status walks every destination of every job on the thread that
 * runs the sends (220 KB for 19 jobs of 288 destinations): rendered per request, clients polling
 * /metrics ~1,000 times a second stalled every stream for seconds.
 *
 * Rendered once, it is still rendered in slices of at most SLICE_MS, with a turn of the event loop
 * (the sends due) between them: the render is a generator that yields after each piece of work (a
 * job), and returns its text in parts. In one go, the 720 KB /metrics of 1000 jobs held every
 * stream's sends for 5–21 ms a scrape (measured).
 *
 * @example
 * ```ts
 * const metrics = new RenderedBody(function* () { for (const job of jobs) { lines.push(…); yield; } return [lines.join("\n")]; }, 1_000);
 * return new Response(await metrics.bytes(performance.now()), { headers });
 * ```
 */

/** Yields after each piece of work, where a slice may end; returns the body's text in parts. */
export type BodyRender = () => Generator<void, string[], void>;

/** The longest a render holds the thread before the event loop's next turn, ms. */
const SLICE_MS = 0.25;

export class RenderedBody {
  readonly #render: BodyRender;
  readonly #maxAgeMs: number;
  #bytes: Uint8Array | null = null;
  #renderedAtMs = 0;
  /** The render under way: requests meanwhile wait for it rather than start another. */
  #pending: Promise<Uint8Array> | null = null;

  constructor(render: BodyRender, maxAgeMs: number) {
    this.#render = render;
    this.#maxAgeMs = maxAgeMs;
  }

  /** The body as last rendered, or rendered from now (`nowMs`, performance.now()) when that was `maxAgeMs` ago or more. */
  bytes(nowMs: number): Promise<Uint8Array> {
    if (this.#bytes !== null && nowMs - this.#renderedAtMs < this.#maxAgeMs) return Promise.resolve(this.#bytes);
    this.#pending ??= this.#renderFrom(nowMs).finally(() => (this.#pending = null));
    return this.#pending;
  }

  async #renderFrom(nowMs: number): Promise<Uint8Array> {
    const steps = this.#render();
    const slice = new Slice();
    let step = steps.next();
    while (!step.done) {
      if (slice.spent()) await slice.next();
      step = steps.next();
    }
    // Encoded part by part, not by every Response built from a string; then copied together part
    // by part: one copy into a fresh 720 KB buffer (its pages faulted in as it goes) took 0.5 ms.
    const encoder = new TextEncoder();
    const encoded: Uint8Array[] = [];
    let total = 0;
    for (const part of step.value) {
      if (slice.spent()) await slice.next();
      const bytes = encoder.encode(part);
      encoded.push(bytes);
      total += bytes.length;
    }
    const body = Buffer.allocUnsafe(total);
    let at = 0;
    for (const bytes of encoded) {
      if (slice.spent()) await slice.next();
      body.set(bytes, at);
      at += bytes.length;
    }
    this.#bytes = body;
    this.#renderedAtMs = nowMs;
    return this.#bytes;
  }
}

/** The time a render may hold the thread before it gives the event loop a turn. */
class Slice {
  #end = performance.now() + SLICE_MS;

  spent(): boolean {
    return performance.now() >= this.#end;
  }

  /** Resolves after the event loop has had a turn (the scheduler's due passes run first), with a new slice begun. */
  async next(): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve));
    this.#end = performance.now() + SLICE_MS;
  }
}

/**
 * Lines gathered into parts of a few hundred, so that no one join (or encode) of a whole body
 * holds the thread: `parts()` after the last line.
 */
export class LineParts {
  readonly #parts: string[] = [];
  #lines: string[] = [];

  push(...lines: string[]): void {
    for (const line of lines) this.#lines.push(line);
    if (this.#lines.length >= LINES_PER_PART) this.#close();
  }

  /** Appends another's parts after this one's. */
  append(other: LineParts): void {
    this.#close();
    for (const part of other.parts()) this.#parts.push(part);
  }

  parts(): string[] {
    this.#close();
    return this.#parts;
  }

  #close(): void {
    if (this.#lines.length === 0) return;
    this.#parts.push(this.#lines.join("\n") + "\n");
    this.#lines = [];
  }
}

/** About 30 KB of metrics text: a join and an encode well inside a slice. */
const LINES_PER_PART = 400;
