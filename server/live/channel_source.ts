/**
 * A job's view of a live channel: a StreamSource reading through its own cursor into the
 * channel's ring. It never ends by itself (a dropped source is waited for); only closing it, when
 * the job stops, ends it.
 *
 * `latencyMs` is the buffer between arrival and pacing: whenever the cursor has run dry (at the
 * start, after a stall or a drop) the next bytes are held back until they have been waiting that
 * long, so the job starts again with that much stream in hand rather than at the very edge.
 *
 * @example
 * ```ts
 * const source = channelSource("live:cam1", ring.reader(), 200);
 * ```
 */
import type { StreamSource } from "../../sources/stream_source.ts";
import type { RingReader } from "./live_ring.ts";

export interface ChannelSource extends StreamSource {
  readonly reader: RingReader;
}

export function channelSource(label: string, reader: RingReader, latencyMs: number): ChannelSource {
  let closed = false;
  let primed = false;
  /** performance.now() when the bytes now held back first became readable. */
  let heldSince: number | null = null;
  let primeTimer: ReturnType<typeof setTimeout> | null = null;
  let waiters: (() => void)[] = [];

  const wake = () => {
    if (waiters.length > 0) {
      const w = waiters;
      waiters = [];
      for (const f of w) f();
    }
    source.onReadable?.();
  };
  reader.onData = wake;

  const source: ChannelSource = {
    label,
    reader,
    onReadable: null,
    get ended() {
      return closed;
    },
    read(target, at, length) {
      if (closed) return -1;
      if (reader.available === 0) {
        primed = false;
        heldSince = null;
        return 0;
      }
      if (!primed) {
        const now = performance.now();
        heldSince ??= now;
        if (now - heldSince < latencyMs) {
          // The latency may run out with no new bytes to call us back.
          primeTimer ??= setTimeout(() => {
            primeTimer = null;
            source.onReadable?.();
          }, Math.ceil(latencyMs - (now - heldSince)) + 1);
          return 0;
        }
        primed = true;
      }
      return reader.read(target, at, length);
    },
    async peek(n, signal) {
      while (reader.available < n && !closed && !signal?.aborted) {
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          signal?.addEventListener("abort", () => resolve(), { once: true });
        });
      }
      return reader.copyAhead(n);
    },
    rewind: () => false,
    close() {
      if (closed) return;
      closed = true;
      if (primeTimer) clearTimeout(primeTimer);
      reader.close();
      wake();
    },
  };
  return source;
}
