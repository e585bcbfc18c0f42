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

/** The cursor's reader, and `newSourceAt`: where a source that began after the cursor starts (see channelSource). */
export type ChannelSource = HeldStream<StreamSource & { readonly reader: RingReader; newSourceAt(offset: number): void }>;

/**
 * `prefix`: bytes read before the ring's (a WAV header, for a job that joins its stream mid-way).
 * A source that begins while the job reads (`newSourceAt`) is the next input, as in a sequence of
 * files: a read stops where it begins and `inputIndex` moves on, so the job knows where one
 * source's stream ends and the next one's starts (a TS seam it mends: protocol/ts_seams.ts).
 */
export function channelSource(label: string, reader: RingReader, latencyMs: number, prefix?: Uint8Array): ChannelSource {
  let closed = false;
  let before = prefix ?? new Uint8Array(0);
  let waiters: (() => void)[] = [];
  /** Where the sources begun since the cursor's start lie in the channel, oldest first. */
  const starts: number[] = [];
  let inputIndex = 0;
  const readRing = (target: Uint8Array, at: number, length: number): number => {
    while (starts.length > 0 && starts[0]! <= reader.position) {
      starts.shift();
      inputIndex++;
    }
    return reader.read(target, at, starts.length > 0 ? Math.min(length, starts[0]! - reader.position) : length);
  };

  const wake = () => {
    if (waiters.length > 0) {
      const w = waiters;
      waiters = [];
      for (const f of w) f();
    }
    ring.onReadable?.();
  };
  reader.onData = wake;

  const ring: StreamSource & { readonly reader: RingReader; newSourceAt(offset: number): void } = {
    label,
    reader,
    onReadable: null,
    get inputIndex() {
      return inputIndex;
    },
    newSourceAt(offset) {
      if (offset >= reader.position) starts.push(offset);
    },
    get ended() {
      return closed;
    },
    get available() {
      return before.length + reader.available;
    },
    read(target, at, length) {
      if (closed) return -1;
      if (before.length === 0) return readRing(target, at, length);
      const n = Math.min(length, before.length);
      target.set(before.subarray(0, n), at);
      before = before.subarray(n);
      return n + (n < length ? readRing(target, at + n, length - n) : 0);
    },
    async peek(n, signal) {
      while (before.length + reader.available < n && !closed && !signal?.aborted) {
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          signal?.addEventListener("abort", () => resolve(), { once: true });
        });
      }
      if (before.length === 0) return reader.copyAhead(n);
      const ahead = reader.copyAhead(Math.max(0, n - before.length));
      const out = new Uint8Array(Math.min(n, before.length) + ahead.length);
      out.set(before.subarray(0, n));
      out.set(ahead, Math.min(n, before.length));
      return out;
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
