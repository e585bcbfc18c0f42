/** Test audio: WAV files with known samples, written with pacer's own WAV writer. */
import { writeFileSync } from "node:fs";
import { wavHeader } from "../../protocol/wav.ts";
import type { SampleFormat } from "../../protocol/sample_format.ts";

/** s16le stereo samples that differ in every frame and channel, so reordering or loss shows. */
export function rampS16(frames: number, channels = 2): Buffer {
  const out = Buffer.alloc(frames * channels * 2);
  for (let i = 0; i < frames; i++) {
    for (let c = 0; c < channels; c++) {
      const v = Math.round(Math.sin((i * (c + 1) * 2 * Math.PI) / 441) * 20000) + (i % 7);
      out.writeInt16LE(Math.max(-32768, Math.min(32767, v)), (i * channels + c) * 2);
    }
  }
  return out;
}

export function writeWav(path: string, format: SampleFormat, samples: Uint8Array): void {
  writeFileSync(path, Buffer.concat([wavHeader(format, samples.length), samples]));
}

/** Swaps each 16-bit sample's bytes: little-endian WAV samples to L16's big-endian. */
export function swap16(samples: Uint8Array): Buffer {
  const out = Buffer.from(samples);
  out.swap16();
  return out;
}
