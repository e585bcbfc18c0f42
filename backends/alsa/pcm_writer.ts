/**
 * An ALSA PCM driven from its own thread (writer_thread.ts). The job's send events copy whole
 * frames into a shared ring of one device buffer and return at once; the thread moves them into
 * the device. So a PCM that blocks inside libasound (the `file` plugin writing to a pipe that is
 * not read, whatever SND_PCM_NONBLOCK says) stalls this output only: its ring fills, `write`
 * takes nothing, and the job lets it fall behind the other outputs as it does a slow command.
 *
 * @example
 * ```ts
 * const writer = startPcmWriter(AlsaPcm.open("default", { stream: "playback", format }), log);
 * const taken = writer.write(unit);   // bytes: whole frames, as many as the ring has room for
 * writer.pause(true);
 * await writer.close({ drain: true, timeoutMs: 3000 });
 * ```
 */
import type { Logger } from "../../foundation/log.ts";
import { threadEntry } from "../../foundation/thread_entry.ts";
import type { AlsaPcm } from "./pcm.ts";
import { CLOSE, CLOSE_DRAIN, CLOSE_NOW, FILLED, makeWriterRing, PAUSE, UNDERRUNS, WAKE } from "./writer_ring.ts";
import type { WriterReport, WriterStart } from "./writer_thread.ts";

export interface PcmWriter {
  /** Copies the whole frames of `bytes` that fit into the ring; returns the bytes taken (0 when full or failed). */
  write(bytes: Uint8Array): number;
  pause(on: boolean): void;
  /** The device's xruns so far. */
  readonly underruns: number;
  /** Bytes in the ring, not yet in the device. */
  readonly held: number;
  /** Set when the device failed (the thread said why); the output is done. */
  readonly failure: Error | null;
  /** Called once when the device fails. */
  onFailure: ((error: Error) => void) | null;
  /**
   * Ends it: with `drain`, once what the ring and the device hold has played ("closed"). A thread
   * still stuck in libasound after `timeoutMs` is left behind ("left behind": it ends with the
   * process, and what it holds is lost).
   */
  close(options: { drain: boolean; timeoutMs?: number }): Promise<"closed" | "left behind">;
}

/**
 * The writer thread's module: beside this one in the source tree. The compiled binary embeds it
 * as an entry point of its own (`npm run build`), at its path from the repository root.
 */
const WRITER_THREAD = threadEntry("backends/alsa/writer_thread.ts");

/** Takes `pcm` over (this thread must not touch it again) and starts its writer thread. */
export function startPcmWriter(pcm: AlsaPcm, log: Logger): PcmWriter {
  const frameBytes = pcm.bytesPerFrame;
  const ring = makeWriterRing(pcm.bufferFrames * frameBytes);
  const { control, data, capacity } = ring;
  const label = `alsa:${pcm.name}`;
  const worker = new Worker(WRITER_THREAD);
  // A thread stuck in a blocking call must not keep the process alive.
  worker.unref();
  let writeAt = 0;
  let failure: Error | null = null;
  let closed = false;
  let resolveClosed: () => void = () => {};
  const done = new Promise<void>((resolve) => (resolveClosed = resolve));
  const wake = () => {
    Atomics.add(control, WAKE, 1);
    Atomics.notify(control, WAKE);
  };

  const writer: PcmWriter = {
    onFailure: null,
    get underruns() {
      return Atomics.load(control, UNDERRUNS);
    },
    get failure() {
      return failure;
    },
    get held() {
      return Atomics.load(control, FILLED);
    },
    write(bytes) {
      if (failure || closed) return 0;
      let n = Math.min(bytes.length, capacity - Atomics.load(control, FILLED));
      n -= n % frameBytes;
      if (n <= 0) return 0;
      const first = Math.min(n, capacity - writeAt);
      Buffer.prototype.copy.call(bytes, data, writeAt, 0, first);
      if (first < n) Buffer.prototype.copy.call(bytes, data, 0, first, n);
      writeAt = (writeAt + n) % capacity;
      Atomics.add(control, FILLED, n);
      wake();
      return n;
    },
    pause(on) {
      Atomics.store(control, PAUSE, on ? 1 : 0);
      wake();
    },
    close({ drain, timeoutMs }) {
      if (!closed) {
        closed = true;
        Atomics.store(control, PAUSE, 0);
        Atomics.store(control, CLOSE, drain && !failure ? CLOSE_DRAIN : CLOSE_NOW);
        wake();
      }
      const closedNormally = done.then(() => "closed" as const);
      if (timeoutMs === undefined) return closedNormally;
      let timer: Timer | undefined;
      const late = new Promise<"left behind">((resolve) => (timer = setTimeout(() => resolve("left behind"), timeoutMs)));
      return Promise.race([closedNormally, late]).finally(() => clearTimeout(timer));
    },
  };

  worker.onmessage = (event: MessageEvent<WriterReport>) => {
    const report = event.data;
    if (report.type === "closed") {
      worker.terminate();
      resolveClosed();
    } else if (report.type === "note") {
      log.info(`${label}: ${report.message}`);
    } else if (!failure) {
      failure = new Error(report.message);
      writer.onFailure?.(failure);
    }
  };
  worker.onerror = (event) => {
    if (failure) return;
    failure = new Error(`${label}: writer thread: ${event.message}`);
    writer.onFailure?.(failure);
    resolveClosed();
  };
  worker.postMessage({ pcm: pcm.handOver(), shared: ring.shared, capacity } satisfies WriterStart);
  return writer;
}
