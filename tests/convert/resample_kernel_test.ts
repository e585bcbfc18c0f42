/**
 * The resampler's SIMD kernel, through the Resampler: each channel of a
 * multichannel stream comes out exactly as that channel alone would, on the
 * exact (table row per phase) and the interpolated (blended row) paths, and a
 * constant comes out as itself. The sound quality is quality_test.ts's.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Resampler } from "../../convert/resample.ts";
import { writeWav } from "../helpers/audio.ts";
import { runPacer } from "../helpers/pacer.ts";

const BLOCK = 1000;

/** Resamples `frames` interleaved frames in blocks of {@link BLOCK}, then flushes. */
function resampleAll(channels: number, from: number, to: number, input: Float32Array): Float32Array {
  const rs = new Resampler(channels, from, to, BLOCK);
  const frames = input.length / channels;
  const out = new Float32Array((rs.outputFramesFor(frames) + rs.flushFrames) * channels);
  const block = new Float32Array(rs.outputFramesFor(BLOCK) * channels);
  const tail = new Float32Array(rs.flushFrames * channels);
  let written = 0;
  for (let at = 0; at < frames; at += BLOCK) {
    const n = Math.min(BLOCK, frames - at);
    const got = rs.process(input.subarray(at * channels, (at + n) * channels), n, block);
    out.set(block.subarray(0, got * channels), written * channels);
    written += got;
  }
  const got = rs.flush(tail);
  out.set(tail.subarray(0, got * channels), written * channels);
  written += got;
  return out.subarray(0, written * channels);
}

/** Noise in [−0.5, 0.5), a different stream per channel (a fixed LCG, so runs repeat). */
function noise(channels: number, frames: number): Float32Array {
  const x = new Float32Array(channels * frames);
  let state = 12345;
  for (let i = 0; i < x.length; i++) {
    state = (Math.imul(state, 1103515245) + 12345) | 0;
    x[i] = ((state >>> 8) & 0xffff) / 65536 - 0.5;
  }
  return x;
}

function channelOf(x: Float32Array, channels: number, c: number): Float32Array {
  const out = new Float32Array(x.length / channels);
  for (let f = 0; f < out.length; f++) out[f] = x[f * channels + c];
  return out;
}

describe("resampler kernel", () => {
  // 48000 → 44100 has 147 phases (a row each); 48000 → 44101 has 44101 (blended rows).
  for (const [from, to, path] of [[48000, 44100, "exact"], [48000, 44101, "interpolated"], [22050, 48000, "exact, up"]] as const) {
    for (const channels of [1, 2, 3, 6]) {
      test(`${from} → ${to} (${path}), ${channels} channel(s): each channel as it would come alone`, () => {
        const input = noise(channels, 4321);
        const all = resampleAll(channels, from, to, input);
        expect(all.length / channels).toBe(Math.ceil((4321 * to) / from));
        for (let c = 0; c < channels; c++) {
          const alone = resampleAll(1, from, to, channelOf(input, channels, c));
          expect(channelOf(all, channels, c)).toEqual(alone);
        }
      });
    }
    test(`${from} → ${to} (${path}): a constant comes out as itself`, () => {
      const input = new Float32Array(2 * 9600).fill(0.5);
      const out = resampleAll(2, from, to, input);
      // Past the filter's edges, where the input is constant on every tap.
      for (let i = 400; i < out.length - 400; i++) expect(Math.abs(out[i] - 0.5)).toBeLessThan(1e-6);
    });
  }
});

describe("an engine without WebAssembly SIMD", () => {
  const dir = mkdtempSync(join(tmpdir(), "pacer-kernel-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("resamples through the JavaScript loop, to within float rounding of the SIMD kernel", async () => {
    const input = join(dir, "noise.wav");
    writeWav(input, { encoding: "f32le", rate: 48_000, channels: 2 }, new Uint8Array(noise(2, 24_000).buffer));
    const play = async (out: string, env: Record<string, string> = {}) => {
      const run = await runPacer(["play", input, "--out-format", "f32le:44100:2", "--to", `file:${out}`], { env: { ...process.env, ...env } as Record<string, string> });
      expect(run.stderr).toBe("");
      expect(run.code).toBe(0);
      return new Float32Array(readFileSync(out).buffer.slice(0));
    };
    // JavaScriptCore's switch for it: the module does not validate, and the fallback runs.
    const scalar = await play(join(dir, "scalar.raw"), { BUN_JSC_useWasmSIMD: "0" });
    const simd = await play(join(dir, "simd.raw"));
    expect(scalar.length).toBe(simd.length);
    expect(scalar.length).toBe(2 * Math.ceil((24_000 * 44_100) / 48_000));
    let worst = 0;
    let differ = 0;
    for (let i = 0; i < simd.length; i++) {
      worst = Math.max(worst, Math.abs(scalar[i]! - simd[i]!));
      if (scalar[i] !== simd[i]) differ++;
    }
    expect(worst).toBeLessThan(1e-6);
    // Sums in double there and in float here: not the same code path, or they would agree to the bit.
    expect(differ).toBeGreaterThan(0);
  });
});
