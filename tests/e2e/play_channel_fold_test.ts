/**
 * A 7.1 WAV (what ffmpeg and sox write for 8 channels: L, R, C, LFE, Lb, Rb, Ls, Rs) played to
 * stereo or mono folds as 5.1 does, each surround to its side at −3 dB and the LFE dropped
 * (a hostile try with a music library). By the any-N rule (channel i to output i mod 2) the
 * centre had gone to the left only and the LFE to the right.
 *
 * Real files and real pacer runs; f32 output, so the gains are read back undithered.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeWav } from "../helpers/audio.ts";
import { runPacer } from "../helpers/pacer.ts";

const dir = mkdtempSync(join(tmpdir(), "pacer-fold-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const FRAMES = 480;
/** Channel k holds 1000·(k + 1) throughout: each output's sum names its inputs. */
const LEVELS = [1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000];
const [L, R, C, , Lb, Rb, Ls, Rs] = LEVELS as [number, number, number, number, number, number, number, number];
const g = Math.SQRT1_2;

function sevenOne(): string {
  const samples = Buffer.alloc(FRAMES * 8 * 2);
  for (let f = 0; f < FRAMES; f++) LEVELS.forEach((v, k) => samples.writeInt16LE(v, (f * 8 + k) * 2));
  const path = join(dir, "7.1.wav");
  writeWav(path, { encoding: "s16le", rate: 48_000, channels: 8 }, samples);
  return path;
}

/** The first frame `path` plays as, to f32 at `channels`, in s16 steps. */
async function firstFrame(path: string, channels: number): Promise<number[]> {
  const out = join(dir, `out-${channels}.f32`);
  const run = await runPacer(["play", path, "--out-format", `f32le:48000:${channels}`, "--to", `file:${out}`]);
  expect({ stderr: run.stderr, code: run.code }).toEqual({ stderr: "", code: 0 });
  const floats = new Float32Array(readFileSync(out).buffer.slice(0));
  expect(floats.length).toBe(FRAMES * channels);
  return [...floats.subarray(0, channels)].map((v) => v * 32768);
}

describe("7.1 folded down", () => {
  test("to stereo: each side's front, surrounds and the centre at −3 dB; no LFE", async () => {
    const [left, right] = await firstFrame(sevenOne(), 2);
    expect(left).toBeCloseTo(L + g * (C + Lb + Ls), 1);
    expect(right).toBeCloseTo(R + g * (C + Rb + Rs), 1);
  });

  test("to mono: the stereo fold, halved", async () => {
    const [mono] = await firstFrame(sevenOne(), 1);
    expect(mono).toBeCloseTo(0.5 * (L + R + g * (2 * C + Lb + Ls + Rb + Rs)), 1);
  });
});
