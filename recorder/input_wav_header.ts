/**
 * The WAV header a recording's input may open with: a WAV file, `arecord -t wav` on stdin,
 * `pacer acquire`'s PCM stream on `tcp://:PORT`. A `.wav` recording reads it off and takes the
 * format it states. Before, it was "the sample format is not known; give --format", and with
 * --format the header was recorded as samples: a click, and for a header of an odd number of
 * 16-bit words (ffmpeg's 78 bytes) every stereo frame after it split in two, channels swapped.
 *
 * @example
 * ```ts
 * inputWavHeader(firstBytes, "-"); // { format, dataOffset: 44 }, "wait" while it arrives, or null: no WAV
 * ```
 */
import type { SampleFormat } from "../protocol/sample_format.ts";
import { parseWavHeader, riffIdIn } from "../protocol/wav.ts";

/** "RIFF"/"RF64", a size, "WAVE": the bytes that make the input a WAV rather than bare samples. */
const RIFF_ID_BYTES = 12;

export interface InputWavHeader {
  readonly format: SampleFormat;
  /** The input's first sample, from its first byte. */
  readonly dataOffset: number;
}

/**
 * The header in the input's first bytes: "wait" while more of it is needed (up to `limit` bytes),
 * null when the input is no WAV. Throws a WavError (one line, naming `label`) for a WAV that is
 * not PCM pacer can record, or whose header does not end within `limit`.
 */
export function inputWavHeader(first: Uint8Array, label: string, limit?: number): InputWavHeader | "wait" | null {
  if (riffIdIn(first) === "no") return null;
  if (first.length < RIFF_ID_BYTES) return "wait";
  if (String.fromCharCode(...first.subarray(8, 12)) !== "WAVE") return null;
  const header = parseWavHeader(first, label, undefined, limit);
  return header.status === "ok" ? { format: header.format, dataOffset: header.dataOffset } : "wait";
}
