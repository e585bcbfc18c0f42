/**
 * PCM as it arrives, turned into what a WAV holds (little-endian; 8-bit unsigned), in place.
 * RTP carries L16 and L24 big-endian (RFC 3551 §4.5.11, RFC 3190), so RTP audio is byte-swapped
 * on its way to disk.
 *
 * @example
 * ```ts
 * const wav = wavFormatOf({ encoding: "s16be", rate: 44100, channels: 2 }); // s16le
 * toWavSamples("s16be", buf, 0, buf.length);
 * ```
 */
import { UsageError } from "../foundation/errors.ts";
import type { Encoding, SampleFormat } from "../protocol/sample_format.ts";

export function wavFormatOf(format: SampleFormat): SampleFormat {
  switch (format.encoding) {
    case "s16be":
      return { ...format, encoding: "s16le" };
    case "s24be":
      return { ...format, encoding: "s24le" };
    case "s8":
      return { ...format, encoding: "u8" };
    case "u8":
    case "s16le":
    case "s24le":
    case "s32le":
    case "f32le":
      return format;
  }
  throw new UsageError(`${format.encoding} cannot be written as WAV`);
}

/** Converts `buf[start..end)` (whole samples) from `encoding` to its WAV form. */
export function toWavSamples(encoding: Encoding, buf: Uint8Array, start: number, end: number): void {
  if (encoding === "s16be") {
    for (let i = start; i + 1 < end; i += 2) {
      const b = buf[i]!;
      buf[i] = buf[i + 1]!;
      buf[i + 1] = b;
    }
  } else if (encoding === "s24be") {
    for (let i = start; i + 2 < end; i += 3) {
      const b = buf[i]!;
      buf[i] = buf[i + 2]!;
      buf[i + 2] = b;
    }
  } else if (encoding === "s8") {
    for (let i = start; i < end; i++) buf[i] = buf[i]! ^ 0x80;
  }
}
