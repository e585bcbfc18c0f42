/**
 * Jobs started at one moment load apart (pipeline/job.ts, nextLoadPhase). Each job reads a chunk
 * whenever its outputs reach the load mark, so jobs of one rate started together (a live
 * channel's, once its latency has passed; a schedule's) loaded at the same moments for ever, and
 * every stream's sends waited behind all their loads at once; and a live input's jobs fall back
 * into step whenever it stalls. Manual clock; a real file, or pipes; stand-in outputs that keep
 * what they are sent.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { PassThrough } from "node:stream";
import { tmpdir } from "node:os";
import { join } from "node:path";
import "../../backends/all.ts";
import { silentLogger } from "../../foundation/log.ts";
import { Job } from "../../pipeline/job.ts";
import { TS_SIZE } from "../../protocol/mpegts.ts";
import { ManualClock } from "../../scheduler/clock.ts";
import { Scheduler } from "../../scheduler/scheduler.ts";
import { openInput, openStreamInput } from "../../sources/open_input.ts";
import { streamSource } from "../../sources/stream_source.ts";
import { makeCbrTs } from "../helpers/mpeg_fixtures.ts";
import { recordingOutput } from "../helpers/recording_output.ts";
import { runWithIo } from "../helpers/manual_run.ts";

const JOBS = 8;
const RATE = 1_500_000;
const UNIT = 7 * TS_SIZE;
const dir = mkdtempSync(join(tmpdir(), "pacer-load-phase-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const outputs = Array.from({ length: JOBS }, (_, j) => recordingOutput(`keep-phase-${j}`, { unitBytes: UNIT }));

/** Wraps `source.read` to note when a load read bytes (the scheduler's time of each). */
function noteLoads(source: { read(target: Buffer, at: number, length: number): number }, scheduler: Scheduler, at: number[]): void {
  const read = source.read.bind(source);
  source.read = (target, offset, length) => {
    const n = read(target, offset, length);
    if (n > 0 && at.at(-1) !== scheduler.now()) at.push(scheduler.now());
    return n;
  };
}

/** The least time between two loads of different jobs, µs. */
function closestLoads(loads: number[][], from: number): number {
  const steady = loads.flatMap((times, j) => times.filter((t) => t >= from).map((t) => ({ t, j })));
  expect(new Set(steady.map((l) => l.j)).size).toBe(loads.length);
  steady.sort((a, b) => a.t - b.t);
  let closest = Infinity;
  for (let i = 1; i < steady.length; i++) if (steady[i]!.j !== steady[i - 1]!.j) closest = Math.min(closest, steady[i]!.t - steady[i - 1]!.t);
  return closest;
}

test("eight jobs of one file started at one moment load at eight different moments, and each sends the stream whole, in order", async () => {
  for (const taken of outputs) taken.length = 0;
  const stream = Buffer.from(makeCbrTs({ bitrate: RATE, duration: 5 }));
  const path = join(dir, "a.ts");
  writeFileSync(path, stream);
  const scheduler = new Scheduler(new ManualClock(1_000_000));
  /** When each job's loads read bytes (the scheduler's time of each). */
  const loads: number[][] = [];
  const jobs: Job[] = [];
  for (let j = 0; j < JOBS; j++) {
    const opened = await openInput(path);
    const at: number[] = [];
    loads.push(at);
    const source = opened.source;
    noteLoads(source, scheduler, at);
    jobs.push(await Job.create({ input: opened.info, source, byteClock: opened.byteClock, outputs: [`keep-phase-${j}:`], scheduler, log: silentLogger }));
  }
  const start = scheduler.now();
  for (const job of jobs) job.start();
  scheduler.runUntil(start + 4_000_000);

  // Past the first loads (at the start, and topping up to the load mark): the steady loads. No two
  // jobs load at one moment: before, all eight loaded at the same microsecond every period.
  expect(closestLoads(loads, start + 1_000_000)).toBeGreaterThan(10_000);

  for (const taken of outputs) {
    const sent = Buffer.concat(taken.map((t) => t.bytes));
    expect(sent.length).toBeGreaterThan((3 * RATE) / 8);
    expect(sent.equals(stream.subarray(0, sent.length))).toBe(true);
  }
  await Promise.all(jobs.map((job) => job.stop()));
});

test("eight live jobs whose input stalled past their read-ahead load apart again once it comes back", async () => {
  const stream = Buffer.from(makeCbrTs({ bitrate: RATE, duration: 8 }));
  const first = 2 * Math.floor(RATE / 8 / UNIT) * UNIT;
  const scheduler = new Scheduler(new ManualClock(1_000_000));
  const pipes: PassThrough[] = [];
  const loads: number[][] = [];
  const jobs: Job[] = [];
  for (let j = 0; j < JOBS; j++) {
    const pipe = new PassThrough();
    pipe.write(stream.subarray(0, first));
    pipes.push(pipe);
    const opened = await openStreamInput(streamSource("-", pipe), { bitrate: RATE });
    const at: number[] = [];
    loads.push(at);
    noteLoads(opened.source, scheduler, at);
    jobs.push(await Job.create({ input: opened.info, source: opened.source, byteClock: opened.byteClock, outputs: [`keep-phase-${j}:`], scheduler, log: silentLogger }));
  }
  for (const job of jobs) job.start();
  // Two seconds in hand, then nothing for three: every job runs dry and waits.
  await runWithIo(scheduler, scheduler.now() + 5_000_000, 5_000);
  for (const taken of outputs) taken.length = 0;
  // The rest arrives for all eight at one moment: they start again together.
  for (const pipe of pipes) pipe.write(stream.subarray(first));
  const resumed = scheduler.now();
  await runWithIo(scheduler, resumed + 4_000_000, 5_000);
  expect(closestLoads(loads, resumed + 1_000_000)).toBeGreaterThan(10_000);
  for (const taken of outputs) {
    const sent = Buffer.concat(taken.map((t) => t.bytes));
    expect(sent.length).toBeGreaterThan((3 * RATE) / 8);
    expect(sent.equals(stream.subarray(first, first + sent.length))).toBe(true);
  }
  for (const pipe of pipes) pipe.end();
  await Promise.all(jobs.map((job) => job.stop()));
});
