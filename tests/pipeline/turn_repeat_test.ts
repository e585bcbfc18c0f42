/**
 * `--loop` over a WAV of one or a few frames (pipeline/turn_repeat.ts): the output is exactly the
 * samples repeated, and the input is read a few times per load, not once per turn (a one-frame
 * WAV had been read 48,000 times a second at 48 kHz, and its jobs' sends ran 11 ms late at p99
 * beside the reads). Manual clock; real WAV files in, a real `file:` output; the reads of the real
 * file source are counted.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import "../../backends/all.ts";
import { silentLogger } from "../../foundation/log.ts";
import { Job } from "../../pipeline/job.ts";
import type { SampleFormat } from "../../protocol/sample_format.ts";
import { ManualClock } from "../../scheduler/clock.ts";
import { Scheduler } from "../../scheduler/scheduler.ts";
import { openInput } from "../../sources/open_input.ts";
import { rampS16, writeWav } from "../helpers/audio.ts";

const FORMAT: SampleFormat = { encoding: "s16le", rate: 48_000, channels: 2 };
const FRAME = 4;
const SECONDS = 3;
const dir = mkdtempSync(join(tmpdir(), "pacer-turns-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Plays `frames` frames of a WAV with --loop for SECONDS of media to a file; counts the source's reads. */
async function loopWav(name: string, frames: number, options: { chunkBytes?: number; startSeconds?: number } = {}) {
  const wav = join(dir, `${name}.wav`);
  const samples = rampS16(frames + 1).subarray(FRAME); // from frame 1: frame 0 of the ramp is silence
  writeWav(wav, FORMAT, samples);
  const out = join(dir, `${name}.raw`);
  const scheduler = new Scheduler(new ManualClock(1_000_000));
  const opened = await openInput(wav, { startSeconds: options.startSeconds });
  let reads = 0;
  const read = opened.source.read.bind(opened.source);
  opened.source.read = (target, at, length) => (reads++, read(target, at, length));
  const job = await Job.create({ input: opened.info, source: opened.source, outputs: [`file:${out}`], scheduler, log: silentLogger, loop: true, chunkBytes: options.chunkBytes });
  job.start();
  const end = scheduler.now() + SECONDS * 1_000_000;
  while (scheduler.now() < end) scheduler.runUntil(scheduler.now() + 10_000);
  await job.stop();
  return { samples: Buffer.from(samples), sent: readFileSync(out), reads, loops: job.loops };
}

/** The bytes of `turn` repeated from byte `from` of it, `length` long. */
function repeated(turn: Buffer, from: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = turn[(from + i) % turn.length]!;
  return out;
}

describe("--loop over a tiny WAV", () => {
  test("one frame: the output is that frame repeated, from a few reads per load, not a read per frame", async () => {
    const { samples, sent, reads, loops } = await loopWav("one-frame", 1);
    // Most of the three seconds went out (the file: output takes its media in real time).
    expect(sent.length).toBeGreaterThan((SECONDS - 1) * FORMAT.rate * FRAME);
    expect(sent.length % FRAME).toBe(0);
    expect(sent.equals(repeated(samples, 0, sent.length))).toBe(true);
    expect(loops).toBeGreaterThanOrEqual(sent.length / FRAME - 1);
    // A read per turn was SECONDS × 48,000 and more; a long file's loads read a few times a second.
    console.log(`one frame looped: ${reads} reads for ${loops} turns`);
    expect(reads).toBeLessThan(SECONDS * 100);
  });

  test("three frames, from the second (--start), through loads of an odd size that wrap the buffer: the samples repeated in order", async () => {
    const { samples, sent, reads, loops } = await loopWav("three-frames", 3, { chunkBytes: 5000, startSeconds: 1 / FORMAT.rate });
    expect(sent.length).toBeGreaterThan((SECONDS - 1) * FORMAT.rate * FRAME);
    expect(sent.equals(repeated(samples, FRAME, sent.length))).toBe(true);
    expect(loops).toBeGreaterThanOrEqual(sent.length / samples.length - 1);
    console.log(`three frames looped: ${reads} reads for ${loops} turns`);
    expect(reads).toBeLessThan(SECONDS * 1000);
  });
});
