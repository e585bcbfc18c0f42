/**
 * A pipe (stdin, a FIFO, `<(…)`), a character device or any Node readable
 * stream as a Source. What arrives is
 * queued, up to a bound; past it the stream is paused, so a fast producer
 * (`cat big.wav | pacer play -`) is held back instead of filling memory.
 *
 * @example
 * ```ts
 * const src = streamSource("stdin", stdinReadable());
 * ```
 */
import { Readable } from "node:stream";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { fsErrorText } from "../foundation/fs_error.ts";
import { SOURCE_END, type Source } from "./source.ts";

/** The one stdin Readable of the process (stdinReadable). */
let stdin: Readable | null = null;

/**
 * Standard input as a Readable, for streamSource. Not `process.stdin`: Bun's (1.4.5) sometimes
 * never emits 'end' when a 'data' handler pauses it and it is resumed soon after, which is what
 * the queue bound below does, and a job then waits at the end of its pipe for ever (6 of 30
 * `cat 5MB | bun` runs with that pattern here; oven-sh/bun#43100). Bun.stdin's own stream through
 * Node's generic adapter pauses by not pulling, and always ends.
 */
export function stdinReadable(): Readable {
  // One for the process: Bun.stdin's stream can be read once (`play - -` names it twice).
  stdin ??= Readable.fromWeb(Bun.stdin.stream() as WebReadableStream<Uint8Array>);
  return stdin;
}

/** Most bytes queued before the producer is paused. */
const QUEUE_LIMIT = 1 << 20;

export interface StreamSource extends Source {
  /**
   * Resolves with at least `n` bytes queued, or fewer at the end of the stream or once `signal`
   * aborts; nothing is consumed. Rejects when the input failed before `n` bytes came.
   */
  peek(n: number, signal?: AbortSignal): Promise<Uint8Array>;
  /** True once the input has ended: what is queued is all there will be. */
  readonly ended: boolean;
  /** Bytes that have arrived and not been read. */
  readonly available: number;
  /** Set by the input's owner before it ends the stream (Source.endNote). */
  endNote?: string | null;
}

export function streamSource(label: string, stream: Readable): StreamSource {
  const queue: Buffer[] = [];
  let queued = 0;
  let ended = false;
  let failure: Error | null = null;
  let waiters: (() => void)[] = [];
  const notify = () => {
    const w = waiters;
    waiters = [];
    for (const f of w) f();
    source.onReadable?.();
  };
  stream.on("data", (chunk: Buffer) => {
    queue.push(chunk);
    queued += chunk.length;
    if (queued >= QUEUE_LIMIT) stream.pause();
    notify();
  });
  stream.on("end", () => {
    ended = true;
    notify();
  });
  stream.on("error", (error) => {
    failure = error;
    ended = true;
    notify();
  });

  const source: StreamSource = {
    label,
    onReadable: null,
    endNote: null,
    read(target, at, length) {
      if (queued === 0) {
        if (failure) throw new Error(`${label}: read error: ${fsErrorText(failure)}`);
        return ended ? SOURCE_END : 0;
      }
      let copied = 0;
      while (copied < length && queue.length > 0) {
        const head = queue[0]!;
        const n = Math.min(head.length, length - copied);
        head.copy(target, at + copied, 0, n);
        copied += n;
        if (n === head.length) queue.shift();
        else queue[0] = head.subarray(n);
      }
      queued -= copied;
      if (queued < QUEUE_LIMIT / 2 && stream.isPaused()) stream.resume();
      return copied;
    },
    async peek(n, signal) {
      while (queued < n && !ended && !signal?.aborted) {
        if (stream.isPaused()) stream.resume();
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          signal?.addEventListener("abort", () => resolve(), { once: true });
        });
      }
      // An input that failed before giving what was asked says why, not just that it is short.
      if (failure && queued < n) throw new Error(`${label}: read error: ${fsErrorText(failure)}`);
      const all = Buffer.concat(queue);
      queue.length = 0;
      if (all.length) queue.push(all);
      return all.subarray(0, Math.min(n, all.length));
    },
    get ended() {
      return ended;
    },
    get available() {
      return queued;
    },
    rewind() {
      return false;
    },
    close() {
      stream.destroy();
    },
  };
  return source;
}
