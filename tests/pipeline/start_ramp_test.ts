/**
 * Many outputs of one job join over a ramp (pipeline/job.ts, start): a few more each unit, each on
 * a whole unit so it keeps its place in the stagger, rather than all in the first unit, where their
 * cold first sends queued for tens of ms. Never more of the stream than half a load mark, which
 * the buffer keeps for the last to join; a few outputs still start together. Each output's stream
 * is whole and evenly paced from its own first unit. Manual clock; a stand-in output records when
 * it was sent each unit.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import "../../backends/all.ts";
import { type Backend, type BackendContext, newCounters } from "../../backends/backend.ts";
import { registerBackend } from "../../backends/registry.ts";
import { silentLogger } from "../../foundation/log.ts";
import { Job, loadMarkBytes, DEFAULT_CHUNK_BYTES } from "../../pipeline/job.ts";
import type { SampleFormat } from "../../protocol/sample_format.ts";
import { ManualClock } from "../../scheduler/clock.ts";
import { Scheduler } from "../../scheduler/scheduler.ts";
import { PcrClock } from "../../protocol/mpeg_timing.ts";
import { openInput } from "../../sources/open_input.ts";
import { streamSource } from "../../sources/stream_source.ts";
import { PassThrough } from "node:stream";
import { rampS16, writeWav } from "../helpers/audio.ts";
import { makeCbrTs } from "../helpers/mpeg_fixtures.ts";

const UNIT_FRAMES = 160;
const START_US = 1_000_000;

/** Send times (scheduler µs) by output label. */
const sends = new Map<string, number[]>();

/** `ramp-probe:NAME` takes every unit at once, as a datagram output does, and remembers when. */
registerBackend({
  scheme: "ramp-probe",
  summary: "ramp-probe:NAME  a stand-in output for tests",
  async create(target: string, stream, ctx: BackendContext): Promise<Backend> {
    const counters = newCounters();
    const at: number[] = [];
    sends.set(target, at);
    const format = stream.kind === "pcm" ? stream.format : undefined;
    return {
      label: target,
      format,
      unitBytes: format ? UNIT_FRAMES * 2 * format.channels : 7 * 188,
      aheadUs: 0,
      counters,
      send(unit) {
        at.push(ctx.scheduler.now());
        counters.units++;
        counters.bytes += unit.length;
        return unit.length;
      },
      async close() {},
    };
  },
});

const dir = mkdtempSync(join(tmpdir(), "pacer-ramp-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Plays `seconds` of PCM in `format` to `n` stand-in outputs; each output's send times. */
async function play(format: SampleFormat, seconds: number, n: number): Promise<number[][]> {
  sends.clear();
  const path = join(dir, `in-${format.rate}-${format.channels}.wav`);
  writeWav(path, format, rampS16(Math.round(seconds * format.rate), format.channels));
  const scheduler = new Scheduler(new ManualClock(START_US));
  const opened = await openInput(path);
  const outputs = Array.from({ length: n }, (_, i) => `ramp-probe:${i}`);
  const job = await Job.create({ input: opened.info, source: opened.source, outputs, scheduler, log: silentLogger });
  job.start();
  while (job.destinations.some((d) => d.active)) {
    scheduler.runUntil(scheduler.now() + 10_000);
    await Bun.sleep(0);
  }
  await job.done;
  return outputs.map((o) => sends.get(o)!);
}

describe("a job's outputs join over a ramp", () => {
  test("1000 outputs join on whole units over 50 ms, each keeping its stagger, each stream whole and even", async () => {
    const format: SampleFormat = { encoding: "s16le", rate: 8_000, channels: 1 };
    const unitUs = (UNIT_FRAMES / format.rate) * 1e6; // 20 ms
    const at = await play(format, 1, 1000);
    const firsts = at.map((t) => t[0]! - START_US);
    // 50 µs each: 50 ms, so 400 join in each of the first two units and the rest in the third.
    const joined = [0, 1, 2].map((k) => firsts.filter((f) => Math.floor(f / unitUs) === k).length);
    expect(joined).toEqual([400, 400, 200]);
    // Within its unit, each keeps its place in the stagger (10 µs apart).
    firsts.forEach((f, i) => expect(f % unitUs).toBe(i * 10));
    for (const t of at) {
      expect(t.length).toBe(50); // the whole second, 20 ms a unit
      for (let u = 1; u < t.length; u++) expect(t[u]! - t[u - 1]!).toBe(unitUs);
    }
  });

  test("a few outputs still start together, in the first unit", async () => {
    const at = await play({ encoding: "s16le", rate: 8_000, channels: 1 }, 0.2, 4);
    expect(Math.max(...at.map((t) => t[0]! - START_US))).toBeLessThan(20_000);
  });

  test("the ramp is never more of the stream than half a load mark, however many outputs", async () => {
    const format: SampleFormat = { encoding: "s16le", rate: 192_000, channels: 8 };
    const bytesPerSecond = format.rate * 16;
    const boundUs = (loadMarkBytes(bytesPerSecond, DEFAULT_CHUNK_BYTES) / 2 / bytesPerSecond) * 1e6; // about 21 ms
    const unitUs = (UNIT_FRAMES / format.rate) * 1e6;
    const at = await play(format, 0.1, 1000); // 50 ms at 50 µs each, were it not bound
    // The last joins on the last whole unit within the bound, plus its place in the stagger (under a unit).
    const last = Math.max(...at.map((t) => t[0]! - START_US));
    expect(last).toBeLessThan(boundUs + unitUs);
    expect(last).toBeGreaterThan(boundUs - unitUs);
    for (const t of at) expect(t.length).toBe(Math.ceil((0.1 * format.rate) / UNIT_FRAMES));
  });

  test("a stream whose rate is not known at the start (TS from a pipe) starts its outputs at once, on time", async () => {
    sends.clear();
    const scheduler = new Scheduler(new ManualClock(START_US));
    const pipe = new PassThrough();
    const outputs = ["ramp-probe:a", "ramp-probe:b"];
    const job = await Job.create({ input: { label: "-", kind: "mpegts" }, source: streamSource("-", pipe), byteClock: new PcrClock(), outputs, scheduler, log: silentLogger });
    job.start(); // nothing has come yet, so no rate either
    pipe.end(Buffer.from(makeCbrTs({ bitrate: 1_500_000, duration: 0.5 })));
    while (job.destinations.some((d) => d.active)) {
      scheduler.runUntil(scheduler.now() + 10_000);
      await Bun.sleep(0);
    }
    await job.done;
    for (const o of outputs) {
      const at = sends.get(o)!;
      expect(at.length).toBeGreaterThan(60);
      for (const t of at) expect(Number.isFinite(t)).toBe(true);
      expect(at[at.length - 1]! - at[0]!).toBeGreaterThan(400_000); // paced over the half second, not burst
    }
  });
});
