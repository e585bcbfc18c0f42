/**
 * The writer thread of an ALSA output (a Worker; pcm_writer.ts starts it). It alone calls
 * libasound for its PCM, which it adopts from the main thread: it moves the frames the job puts
 * in the shared ring into the device, holds the device on pause, and plays out and closes it at
 * the end. A call that blocks inside libasound, as the `file` plugin's write to a pipe does
 * whatever the non-blocking mode says, then holds up this thread only.
 */
import { AlsaPcm, type AlsaPcmHandle } from "./pcm.ts";
import { CLOSE, CLOSE_DRAIN, CLOSE_NOW, FILLED, PAUSE, UNDERRUNS, viewWriterRing, WAKE, type WriterRing } from "./writer_ring.ts";

declare const self: Worker;

export interface WriterStart {
  readonly pcm: AlsaPcmHandle;
  readonly shared: SharedArrayBuffer;
  readonly capacity: number;
}

/** What the writer tells the main thread. */
export type WriterReport =
  | { type: "note"; message: string }
  | { type: "error"; message: string }
  | { type: "closed" };

self.onmessage = (event: MessageEvent<WriterStart>) => {
  void run(AlsaPcm.adopt(event.data.pcm), viewWriterRing(event.data.shared, event.data.capacity));
};

async function run(pcm: AlsaPcm, ring: WriterRing): Promise<void> {
  const { control, data, capacity } = ring;
  const frameBytes = pcm.bytesPerFrame;
  const periodMs = Math.max(1, (pcm.periodFrames * 1000) / pcm.actualRate);
  let readAt = 0;
  let paused = false;
  let drain = true;
  try {
    for (;;) {
      const wake = Atomics.load(control, WAKE);
      const close = Atomics.load(control, CLOSE);
      const filled = Atomics.load(control, FILLED);
      if (close === CLOSE_NOW || (close === CLOSE_DRAIN && filled < frameBytes)) {
        drain = close === CLOSE_DRAIN;
        break;
      }
      const pause = Atomics.load(control, PAUSE) === 1;
      if (pause !== paused) {
        paused = pause;
        if (pcm.pause(pause) === "dropped" && !pause) report({ type: "note", message: "the device cannot pause; what it held when paused was dropped" });
      }
      if (paused || filled < frameBytes) {
        Atomics.wait(control, WAKE, wake, periodMs);
        continue;
      }
      // Frames never straddle the ring's end: it holds a whole number of them.
      const frames = Math.floor(Math.min(filled, capacity - readAt) / frameBytes);
      const written = pcm.write(data, frames, readAt);
      Atomics.store(control, UNDERRUNS, pcm.underruns);
      if (written === 0) {
        // The device is full: it takes more within half a period.
        Atomics.wait(control, WAKE, wake, periodMs / 2);
        continue;
      }
      readAt = (readAt + written * frameBytes) % capacity;
      Atomics.sub(control, FILLED, written * frameBytes);
    }
  } catch (error) {
    report({ type: "error", message: (error as Error).message });
    drain = false;
  }
  try {
    await pcm.close({ drain });
  } catch (error) {
    report({ type: "error", message: (error as Error).message });
  }
  report({ type: "closed" });
}

function report(message: WriterReport): void {
  self.postMessage(message);
}
