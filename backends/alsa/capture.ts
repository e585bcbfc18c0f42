/**
 * The capture opener that `alsa:DEVICE` inputs use (sources/capture.ts): an AlsaPcm opened for
 * capture, with its errors as pacer's kinds: a busy device is temporary (exit 75), any other
 * failure one line and exit 1.
 *
 * @example
 * ```ts
 * registerCaptureOpener(openAlsaCapture); // backends/all.ts
 * ```
 */
import { PacerError, TemporaryError } from "../../foundation/errors.ts";
import type { SampleFormat } from "../../protocol/sample_format.ts";
import type { CaptureDevice } from "../../sources/capture.ts";
import { libasoundUnavailable } from "./libasound.ts";
import { AlsaBusyError, AlsaError, AlsaPcm } from "./pcm.ts";

/** Half a second of device buffer: the input is read every 2 ms, but the event loop can be late. */
const CAPTURE_BUFFER_US = 500_000;
const CAPTURE_PERIOD_US = 20_000;

export function openAlsaCapture(device: string, format: SampleFormat): CaptureDevice {
  const missing = libasoundUnavailable();
  if (missing) throw new PacerError(`alsa:${device}: ${missing}`);
  let pcm: AlsaPcm;
  try {
    pcm = AlsaPcm.open(device, { stream: "capture", format, bufferUs: CAPTURE_BUFFER_US, periodUs: CAPTURE_PERIOD_US });
  } catch (error) {
    if (error instanceof AlsaBusyError) throw new TemporaryError(error.message);
    if (error instanceof AlsaError) throw new PacerError(error.message);
    throw error;
  }
  return {
    format: pcm.format,
    bytesPerFrame: pcm.bytesPerFrame,
    read: (buf) => pcm.read(buf),
    get overruns() {
      return pcm.overruns;
    },
    close: () => void pcm.close(),
  };
}
