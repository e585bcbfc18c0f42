/**
 * A job's view of a live channel: a StreamSource reading through its own cursor into the
 * channel's ring. It never ends by itself (a dropped source is waited for); only closing it, when
 * the job stops, ends it.
 *
 * `latencyMs` is the buffer between arrival and pacing (sources/latency_hold.ts, the same hold
 * `pacer play` puts on a network input): once the job knows what the bytes are it calls `hold()`,
 * and from then on, whenever the stream starts from nothing in hand (at the start, after a stall
 * or a drop longer than the latency), the next bytes wait that long, so the job goes on with that
 * much stream in hand rather than at the very edge.
 *
 * @example
 * ```ts
 * const source = channelSource("live:cam1", ring.reader(), 200);
 * ```
 */
import { latencyHold, type HeldStream } from "../../sources/latency_hold.ts";
import type { StreamSource } from "../../sources/stream_source.ts";
import type { RingReader } from "./live_ring.ts";

export type ChannelSource = HeldStream<StreamSource & { readonly reader: RingReader }>;

export function channelSource(label: string, reader: RingReader, latencyMs: number): ChannelSource {
  let closed = false;
  let waiters: (() => void)[] = [];

  const wake = () => {
    if (waiters.length > 0) {
      const w = waiters;
      waiters = [];
      for (const f of w) f();
    }
    ring.onReadable?.();
  };
  reader.onData = wake;

  const ring: StreamSource & { readonly reader: RingReader } = {
    label,
    reader,
    onReadable: null,
    get ended() {
      return closed;
    },
    get available() {
      return reader.available;
    },
    read(target, at, length) {
      if (closed) return -1;
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
      reader.close();
      wake();
    },
  };
  return latencyHold(ring, latencyMs);
}
