/**
 * The latency buffer between a live input's arrival and its pacing. Whenever the stream has to
 * start from nothing in hand (at the start, and after a stall longer than the latency, which has
 * drained everything that was buffered) its bytes are held back until the first of them has
 * waited `latencyMs`. The job then starts, or resumes on its clock, with that much stream
 * buffered, so arrival jitter up to the latency never reaches the output.
 *
 * A dry spell shorter than the latency is jitter: the buffer covers it and nothing is held.
 * Nothing received is dropped, and nothing is held back once the input has ended.
 *
 * One mechanism for `pacer play` from a network input and for the server's live channels.
 *
 * @example
 * ```ts
 * const held = latencyHold(udpInput, 200);
 * const opened = await openStreamInput(held); // detection reads through
 * held.hold(); // from here read() gives 0 until the first bytes have waited 200 ms
 * ```
 */
import type { StreamSource } from "./stream_source.ts";

/** The held stream: it passes reads through until `hold()` (detection reads a WAV header off first). */
export type HeldStream<S extends StreamSource> = S & { hold(): void };

export interface LatencyHoldOptions {
  /** Milliseconds on a monotonic clock (tests give a manual one). */
  now?: () => number;
}

export function latencyHold<S extends StreamSource>(inner: S, latencyMs: number, options: LatencyHoldOptions = {}): HeldStream<S> {
  const now = options.now ?? (() => performance.now());
  /** Reads pass straight through until the stream is known and the hold begins. */
  let holding = false;
  let primed = false;
  /** When the bytes now held back first became readable. */
  let heldSince: number | null = null;
  /** When a read last gave bytes: a dry spell longer than the latency has emptied the buffer. */
  let lastDataAt = 0;
  let wakeTimer: ReturnType<typeof setTimeout> | null = null;

  const wakeLater = (ms: number) => {
    // The latency may run out with no new bytes arriving to call the reader back.
    wakeTimer ??= setTimeout(() => {
      wakeTimer = null;
      held.onReadable?.();
    }, Math.ceil(ms) + 1);
  };

  const held: HeldStream<S> = Object.create(inner, {
    hold: {
      value(): void {
        holding = true;
      },
    },
    read: {
      value(target: Buffer, at: number, length: number): number {
        if (!holding) return inner.read(target, at, length);
        const t = now();
        if (!primed && !inner.ended) {
          if (inner.available === 0) {
            heldSince = null;
            return 0;
          }
          heldSince ??= t;
          if (t - heldSince < latencyMs) {
            wakeLater(latencyMs - (t - heldSince));
            return 0;
          }
          primed = true;
          heldSince = null;
        }
        const n = inner.read(target, at, length);
        if (n > 0) lastDataAt = t;
        else if (n === 0 && t - lastDataAt > latencyMs) primed = false;
        return n;
      },
    },
    onReadable: { writable: true, value: null },
    close: {
      value(): void {
        if (wakeTimer) clearTimeout(wakeTimer);
        wakeTimer = null;
        inner.close();
      },
    },
  });
  // The inner source calls back through whoever reads the held one.
  inner.onReadable = () => held.onReadable?.();
  return held;
}
