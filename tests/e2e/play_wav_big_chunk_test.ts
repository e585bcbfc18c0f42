/**
 * A WAV file whose chunks before the audio are large (a 2 MB `id3 ` chunk of
 * cover art), as ffmpeg plays it: pacer refused anything past 1 MiB before
 * the data chunk ("chunk "id3 " of 2000001 bytes before the audio data is too
 * large"). A file's header is now read from disk as far as its chunks say, up
 * to 16 MiB; a stream's stays bounded at 1 MiB. Real files and processes.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { wavHeader } from "../../protocol/wav.ts";
import { rampS16 } from "../helpers/audio.ts";
import { havePeer, runPacer } from "../helpers/pacer.ts";

const dir = mkdtempSync(join(tmpdir(), "pacer-wav-big-chunk-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const CD = { encoding: "s16le", rate: 44_100, channels: 2 } as const;
const samples = rampS16(44_100);

/** RIFF/WAVE, a chunk `id` of `size` bytes (odd sizes padded), then fmt and data as wavHeader writes them. */
function wavWithChunkFirst(id: string, size: number): Buffer {
  const plain = wavHeader(CD, samples.length);
  const chunk = Buffer.alloc(8 + size + (size & 1), 0x55);
  chunk.write(id, 0, "latin1");
  chunk.writeUInt32LE(size, 4);
  const riffSize = Buffer.alloc(4);
  riffSize.writeUInt32LE(plain.length - 8 + chunk.length + samples.length);
  return Buffer.concat([Buffer.from("RIFF"), riffSize, Buffer.from("WAVE"), chunk, plain.subarray(12), samples]);
}

describe("a WAV file with a large chunk before its data", () => {
  const path = join(dir, "cover.wav");
  writeFileSync(path, wavWithChunkFirst("id3 ", 2_000_001));

  test.skipIf(!havePeer("ffprobe"))("ffprobe reads it as 1 s of audio (the file is well formed)", () => {
    const r = spawnSync("ffprobe", ["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path], { encoding: "utf8" });
    expect(Number(r.stdout.trim())).toBeCloseTo(1, 2);
  });

  test("play sends exactly its samples, and probe gives its length", async () => {
    const out = join(dir, "cover.raw");
    const run = await runPacer(["play", path, "--to", `file:${out}`]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(readFileSync(out).equals(samples)).toBe(true);
    const probe = await runPacer(["probe", path]);
    expect(probe.code).toBe(0);
    expect(probe.stdout).toContain("1.000 s");
  });

  test("a chunk past 16 MiB is still refused in one line, naming it", async () => {
    const huge = join(dir, "huge.wav");
    writeFileSync(huge, wavWithChunkFirst("junk", 17 << 20));
    const run = await runPacer(["play", huge, "--to", `file:${join(dir, "huge.raw")}`]);
    expect(run.code).toBe(1);
    expect(run.stderr.trim()).toBe(`pacer: error: ${huge}: chunk "junk" of ${17 << 20} bytes before the audio data is too large`);
  });

  test("on stdin the bound stays 1 MiB: the header is held in memory as it comes", async () => {
    const run = await runPacer(["play", "-", "--to", `file:${join(dir, "stdin.raw")}`], { stdin: readFileSync(path) });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('chunk "id3 " of 2000001 bytes before the audio data is too large');
  });
});
