/**
 * Writes tone.wav: 5 s of a 440 Hz sine at -6 dBFS, 44.1 kHz 16-bit stereo,
 * with pacer's own WAV writer. `npm run tone [PATH] [SECONDS]`.
 */
import { writeFileSync } from "node:fs";
import { wavHeader } from "../protocol/wav.ts";

const path = process.argv[2] ?? "tone.wav";
const seconds = Number(process.argv[3] ?? 5);
const rate = 44_100;
const frames = Math.round(rate * seconds);
const samples = Buffer.alloc(frames * 4);
for (let i = 0; i < frames; i++) {
  const v = Math.round(Math.sin((2 * Math.PI * 440 * i) / rate) * 16384);
  samples.writeInt16LE(v, i * 4);
  samples.writeInt16LE(v, i * 4 + 2);
}
writeFileSync(path, Buffer.concat([wavHeader({ encoding: "s16le", rate, channels: 2 }, samples.length), samples]));
console.log(`wrote ${path}: ${seconds} s of 440 Hz, s16le:44100:2`);
