/**
 * A WAVE_FORMAT_EXTENSIBLE file of 24-bit audio in 32-bit containers (wValidBitsPerSample 24,
 * as pro tools and ffmpeg's `-c:a pcm_s32le` of 24-bit sources write it), played to a 24-bit
 * output (`--out-format s24le`, RTP L24), comes out sample-exact, as ffmpeg decodes it (a
 * hostile try with a music library). Before, the 32 → 24 narrowing dithered it: ±1 LSB on about
 * a quarter of the samples, for bits that were all zero. Real files and a real pacer run.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { wavHeader } from "../../protocol/wav.ts";
import { runPacer } from "../helpers/pacer.ts";

const dir = mkdtempSync(join(tmpdir(), "pacer-valid-bits-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("24-bit audio in 32-bit containers plays to s24le exactly", async () => {
  const frames = 4800;
  const in32 = Buffer.alloc(frames * 2 * 4);
  const want24 = Buffer.alloc(frames * 2 * 3);
  for (let i = 0; i < frames * 2; i++) {
    const sample = Math.round(3_000_000 * Math.sin(i / 7)); // 24-bit values
    in32.writeInt32LE(sample * 256, i * 4);
    want24.writeIntLE(sample, i * 3, 3);
  }
  const header = Buffer.from(wavHeader({ encoding: "s32le", rate: 48_000, channels: 3 }, 0)); // 3 channels: extensible
  // The same header for 2 channels: channels, byte rate, block align; then 24 valid bits.
  header.writeUInt16LE(2, 22);
  header.writeUInt32LE(48_000 * 8, 28);
  header.writeUInt16LE(8, 32);
  header.writeUInt16LE(24, 38);
  header.writeUInt32LE(in32.length, header.length - 4);
  const path = join(dir, "24in32.wav");
  writeFileSync(path, Buffer.concat([header, in32]));
  const out = join(dir, "out.s24");
  const run = await runPacer(["play", path, "--out-format", "s24le:48000:2", "--to", `file:${out}`]);
  expect({ stderr: run.stderr, code: run.code }).toEqual({ stderr: "", code: 0 });
  expect(readFileSync(out).equals(want24)).toBe(true);
});
