/**
 * `--format` says what raw PCM is; a WAV or MPEG file keeps what its own
 * bytes say (a hostile try). Before, `--format` made every file raw PCM:
 * `pacer play a.wav b.raw --format s16le:48000:2` played a.wav's 44-byte
 * header as samples and its 44.1 kHz audio at 48 kHz, exit 0, no word said;
 * a TS file with --format went out as PCM noise.
 *
 * Real subprocesses and real files.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { rampS16, writeWav } from "../helpers/audio.ts";
import { makeCbrTs } from "../helpers/mpeg_fixtures.ts";
import { runPacer } from "../helpers/pacer.ts";

const dir = mkdtempSync(join(tmpdir(), "pacer-format-option-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const samples = rampS16(4410);
const wav = join(dir, "cd.wav");
writeWav(wav, { encoding: "s16le", rate: 44_100, channels: 2 }, samples);
const raw = join(dir, "next.raw");
writeFileSync(raw, samples);

describe("--format beside WAV and MPEG files", () => {
  test("a WAV keeps its header's format: the raw input of another format is refused as a mismatch", async () => {
    const run = await runPacer(["play", wav, raw, "--format", "s16le:48000:2", "--to", `file:${join(dir, "x.raw")}`]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`pacer: error: ${raw} is s16le:48000:2 but ${wav} is s16le:44100:2: inputs played back to back must share a format\n`);
  });

  test("a WAV and raw PCM of its format play back to back, the header not among the samples", async () => {
    const out = join(dir, "both.raw");
    const run = await runPacer(["play", wav, raw, "--format", "s16le:44100:2", "--to", `file:${out}`]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(readFileSync(out).equals(Buffer.concat([samples, samples]))).toBe(true);
  });

  test("--format with no raw input is a usage error naming what the file is", async () => {
    const ts = join(dir, "a.ts");
    writeFileSync(ts, makeCbrTs({ bitrate: 1_000_000, duration: 0.2 }));
    const onTs = await runPacer(["play", ts, "--format", "s16le:44100:2", "--to", `file:${join(dir, "y.raw")}`]);
    expect(onTs.code).toBe(2);
    expect(onTs.stderr).toBe(`pacer: error: --format is for raw PCM input: ${ts} is MPEG-TS by its own header\n`);
    const onWav = await runPacer(["play", wav, "--format", "s16le:48000:2", "--to", `file:${join(dir, "z.raw")}`]);
    expect(onWav.code).toBe(2);
    expect(onWav.stderr).toBe(`pacer: error: --format is for raw PCM input: ${wav} is WAV, s16le:44100:2, by its own header\n`);
  });
});
