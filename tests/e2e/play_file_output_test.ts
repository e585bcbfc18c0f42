/**
 * Story: a user plays to `file:` outputs at rates far from the input's, and into a FIFO that a
 * reader opens only later. The file gets the same stream whatever the rate (a unit is about
 * 100 ms of audio, at least one frame), and a FIFO with no reader yet is waited for without
 * freezing pacer.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createConverter } from "../../convert/converter.ts";
import { parseSampleFormat } from "../../protocol/sample_format.ts";
import { parseWavHeader } from "../../protocol/wav.ts";
import { havePeer, runPacer } from "../helpers/pacer.ts";

const dir = mkdtempSync(join(tmpdir(), "pacer-file-output-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A 2 s 44.1 kHz stereo 16-bit WAV made by sox (not by pacer). */
function toneWav(): string | null {
  if (!havePeer("sox")) return null;
  const wav = join(dir, "tone.wav");
  expect(spawnSync("sox", ["-n", "-r", "44100", "-c", "2", "-b", "16", wav, "synth", "2", "sine", "3", "vol", "-3dB"]).status).toBe(0);
  return wav;
}

describe("file: outputs at any --out-format rate", () => {
  test("u8:1:1 plays (one frame a second), where 64 KiB units asked for an 11 GB conversion buffer and crashed", async () => {
    const wav = toneWav();
    if (!wav) return;
    const out = join(dir, "one-hertz.raw");
    const run = await runPacer(["play", wav, "--out-format", "u8:1:1", "--to", `file:${out}`]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(readFileSync(out).length).toBe(2);
  });

  test("f32le:10:1 holds exactly what the converter makes of the whole input at once", async () => {
    const wav = toneWav();
    if (!wav) return;
    const out = join(dir, "ten-hertz.raw");
    const run = await runPacer(["play", wav, "--out-format", "f32le:10:1", "--to", `file:${out}`]);
    expect(run.code).toBe(0);
    // Float output is never dithered, so the stream is exact, whatever the units it went out in.
    const bytes = readFileSync(wav);
    const header = parseWavHeader(bytes);
    if (header.status !== "ok") throw new Error("sox made no WAV");
    const converter = await createConverter(header.format, parseSampleFormat("f32le:10:1"));
    const samples = bytes.subarray(header.dataOffset, header.dataOffset + header.dataBytes!);
    const expected = Buffer.concat([Buffer.from(converter.convert(samples)), Buffer.from(converter.flush())]);
    expect(expected.length).toBe(20 * 4);
    expect(readFileSync(out).equals(expected)).toBe(true);
  });
});
