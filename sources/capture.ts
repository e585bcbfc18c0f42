/**
 * `alsa:DEVICE` as an input: a sound card's capture, as a live PCM source. The ALSA bindings
 * are a backend (backends/alsa/), a floor above sources, so the backend registers its capture
 * opener here at start-up and sources never import it.
 *
 * The device is read without blocking on the live input's poll (every 2 ms), into one reused
 * buffer; what it captured is copied into the live queue. An overrun (the device's buffer filled
 * before it was read: samples lost) is recovered by the backend and reported as a gap.
 *
 * @example
 * ```ts
 * registerCaptureOpener((device, format) => alsaCapture(device, format)); // backends/alsa
 * const mic = openCapture("alsa:hw:1,0", parseSampleFormat("s16le:48000:2"));
 * ```
 */
import { PacerError } from "../foundation/errors.ts";
import type { SampleFormat } from "../protocol/sample_format.ts";
import { liveInput, type LiveSource } from "./live_input.ts";

/** What a capture backend gives: an open, non-blocking device. */
export interface CaptureDevice {
  /** The format it runs at (its rate may differ from the one asked for). */
  readonly format: SampleFormat;
  readonly bytesPerFrame: number;
  /** Reads the frames captured so far that fit in `buf`; returns the frame count (0: none yet). */
  read(buf: Uint8Array): number;
  /** Overruns so far: each lost samples. */
  readonly overruns: number;
  close(): void;
}

export type CaptureOpener = (device: string, format: SampleFormat) => CaptureDevice;

/** When --format is not given: what most sound cards capture natively. */
export const DEFAULT_CAPTURE_FORMAT: SampleFormat = { encoding: "s16le", rate: 48_000, channels: 2 };
/** Bytes read per call: 64 KiB is 340 ms of 48 kHz stereo s16, far more than a 2 ms poll gathers. */
const READ_BYTES = 64 << 10;
const MAX_READS_PER_POLL = 2;

let opener: CaptureOpener | null = null;

export function registerCaptureOpener(open: CaptureOpener): void {
  opener = open;
}

export type CaptureSource = LiveSource & { readonly format: SampleFormat };

/** Opens `alsa:DEVICE` for capture in `format` (DEFAULT_CAPTURE_FORMAT when not given). */
export function openCapture(spec: string, format: SampleFormat = DEFAULT_CAPTURE_FORMAT): CaptureSource {
  if (!opener) throw new PacerError(`input "${spec}": sound card capture is not available in this build`);
  const name = spec.replace(/^alsa:/i, "") || "default";
  const device = opener(name, format);
  const buf = new Uint8Array(Math.max(device.bytesPerFrame, READ_BYTES - (READ_BYTES % device.bytesPerFrame)));
  const source = liveInput(spec, {
    poll(push, _now, room) {
      // A few reads at most: a device with no clock of its own (ALSA's null) never runs dry. And no
      // more than the queue takes: the rest waits in the device's buffer, whose overruns are counted.
      for (let reads = 0; reads < MAX_READS_PER_POLL; reads++) {
        const fits = Math.min(buf.length, room - (room % device.bytesPerFrame));
        if (fits <= 0) return reads === 0;
        const frames = device.read(fits === buf.length ? buf : buf.subarray(0, fits));
        if (frames <= 0) return false;
        const bytes = frames * device.bytesPerFrame;
        push(buf.subarray(0, bytes));
        room -= bytes;
        if (bytes < fits) return false;
      }
      return false;
    },
    overruns: () => device.overruns,
    close: () => device.close(),
  });
  return Object.assign(source, { format: device.format });
}
