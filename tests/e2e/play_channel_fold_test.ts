/**
 * Surround WAVs in the layouts ffmpeg writes them (5.0: L R C Ls Rs; 6.1: L R C LFE Cb Ls Rs;
 * 7.1: L R C LFE Lb Rb Ls Rs) played to stereo or mono fold as 5.1 does: each surround to its
 * side at −3 dB, a back centre to both at −6 dB, the LFE dropped (a hostile try with a music
 * library). By the any-N rule (channel i to output i mod 2) a 5.0's and a 6.1's right surround
 * went to the left speaker, and 7.1's centre to the left only and its LFE to the right.
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
const g = Math.SQRT1_2;

/** A WAV of `channels` in which channel k holds 1000·(k + 1) throughout: each output's sum names its inputs. */
function levels(channels: number): { path: string; v: number[] } {
  const v = Array.from({ length: channels }, (_, k) => 1000 * (k + 1));
  const samples = Buffer.alloc(FRAMES * channels * 2);
  for (let f = 0; f < FRAMES; f++) v.forEach((level, k) => samples.writeInt16LE(level, (f * channels + k) * 2));
  const path = join(dir, `${channels}ch.wav`);
  writeWav(path, { encoding: "s16le", rate: 48_000, channels }, samples);
  return { path, v };
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

describe("surround folded down", () => {
  test("7.1 to stereo: each side's front, surrounds and the centre at −3 dB; no LFE", async () => {
    const { path, v } = levels(8);
    const [L, R, C, , Lb, Rb, Ls, Rs] = v as [number, number, number, number, number, number, number, number];
    const [left, right] = await firstFrame(path, 2);
    expect(left).toBeCloseTo(L + g * (C + Lb + Ls), 1);
    expect(right).toBeCloseTo(R + g * (C + Rb + Rs), 1);
    const [mono] = await firstFrame(path, 1);
    expect(mono).toBeCloseTo(0.5 * (left! + right!), 1);
  });

  test("5.0 and 6.1 to stereo: each surround on its own side", async () => {
    const five = levels(5);
    const [L5, R5, C5, Ls5, Rs5] = five.v as [number, number, number, number, number];
    expect(await firstFrame(five.path, 2)).toEqual([expect.closeTo(L5 + g * (C5 + Ls5), 1), expect.closeTo(R5 + g * (C5 + Rs5), 1)]);
    const six = levels(7);
    const [L, R, C, , Cb, Ls, Rs] = six.v as [number, number, number, number, number, number, number];
    expect(await firstFrame(six.path, 2)).toEqual([expect.closeTo(L + g * (C + Ls) + 0.5 * Cb, 1), expect.closeTo(R + g * (C + Rs) + 0.5 * Cb, 1)]);
  });
});
