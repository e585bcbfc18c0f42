/**
 * Input options that cannot apply to the inputs given are refused rather than ignored, by play
 * and by probe alike, so that probe says what play would do: --format where no input is raw PCM
 * (a WAV or MPEG keeps the format it says), --bitrate on PCM (paced by its sample rate).
 */
import { UsageError } from "../foundation/errors.ts";
import { formatToString, type SampleFormat } from "../protocol/sample_format.ts";
import type { OpenedInput } from "../sources/open_input.ts";

/** How each container is named where an option is refused for it. */
export const CONTAINER_NAMES: Record<string, string> = { mpegts: "MPEG-TS", m2ts: "M2TS", mpegps: "MPEG-PS" };

/** Throws a UsageError when --format or --bitrate was given for inputs it cannot apply to. */
export function refuseInapplicableInputOptions(inputs: readonly OpenedInput[], options: { bitrate: number | undefined; format: SampleFormat | undefined }): void {
  if (options.format && !inputs.some((i) => i.container === "raw pcm")) {
    const first = inputs[0]!;
    const what = first.info.format ? `WAV, ${formatToString(first.info.format)},` : CONTAINER_NAMES[first.container] ?? first.container;
    throw new UsageError(`--format is for raw PCM input: ${first.info.label} is ${what} by its own header`);
  }
  const pcm = inputs.find((i) => i.info.kind === "pcm");
  if (options.bitrate !== undefined && pcm) {
    throw new UsageError(`--bitrate is for MPEG and other data: ${pcm.info.label} is PCM, paced by its sample rate`);
  }
}
