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

/**
 * A 16-bit stereo WAV with a `LIST` chunk of `metadataBytes` before its samples, as ffmpeg writes
 * one (its header is 78 bytes: `metadataBytes` 26).
 */
export function wavWithMetadata(metadataBytes: number, samples: Uint8Array, rate = 44_100): Buffer {
  const fmt = Buffer.alloc(24);
  fmt.write("fmt ", 0);
  fmt.writeUInt32LE(16, 4);
  fmt.writeUInt16LE(1, 8); // PCM
  fmt.writeUInt16LE(2, 10);
  fmt.writeUInt32LE(rate, 12);
  fmt.writeUInt32LE(rate * 4, 16);
  fmt.writeUInt16LE(4, 20);
  fmt.writeUInt16LE(16, 22);
  const list = Buffer.alloc(8 + metadataBytes, 0x20);
  list.write("LIST", 0);
  list.writeUInt32LE(metadataBytes, 4);
  const data = Buffer.alloc(8);
  data.write("data", 0);
  data.writeUInt32LE(samples.length, 4);
  const riff = Buffer.alloc(12);
  riff.write("RIFF", 0);
  riff.writeUInt32LE(4 + fmt.length + list.length + data.length + samples.length, 4);
  riff.write("WAVE", 8);
  return Buffer.concat([riff, fmt, list, data, samples]);
}
