/**
 * An output whose receivers place its units by their timestamps (RTP: not pushed back, a lead of
 * `aheadUs`) keeps the same lead through gaps and a listener's skip to the next input
 * (pipeline/destination.ts, restart). Before, a gap sent the lead again at once, so the stream ran
 * 20 ms further ahead of its timestamps after each gap, and a skip moved the timestamps on by the
 * read-ahead it dropped (half a second) where no time had passed. Manual clock; a stand-in
 * output records each unit's send time and first frame, which RTP's timestamp is made from.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import "../../backends/all.ts";
import { type Backend, type BackendContext, newCounters } from "../../backends/backend.ts";
import { registerBackend } from "../../backends/registry.ts";
import { silentLogger } from "../../foundation/log.ts";
import { Job } from "../../pipeline/job.ts";
import type { SampleFormat } from "../../protocol/sample_format.ts";
import { ManualClock } from "../../scheduler/clock.ts";
import { Scheduler } from "../../scheduler/scheduler.ts";
import { openInput } from "../../sources/open_input.ts";
import { sequenceSource } from "../../sources/sequence_source.ts";
import { streamSource } from "../../sources/stream_source.ts";
import { writeWav } from "../helpers/audio.ts";
import { runWithIo } from "../helpers/manual_run.ts";

const FORMAT: SampleFormat = { encoding: "s16le", rate: 8_000, channels: 1 };
const UNIT_FRAMES = 160; // 20 ms
const AHEAD_US = 20_000;

/** Each unit the stand-in took: when (scheduler time) and its first frame. */
let sends: { at: number; frame: number }[] = [];

/** `lead-probe:` takes every unit (never pushes back) and has RTP's default lead. */
registerBackend({
  scheme: "lead-probe",
  summary: "lead-probe:  a stand-in timestamped output for tests",
  async create(target: string, _stream, ctx: BackendContext): Promise<Backend> {
    const counters = newCounters();
    return {
      label: target,
      format: FORMAT,
      unitBytes: UNIT_FRAMES * 2,
      aheadUs: AHEAD_US,
      counters,
      send(unit, timing) {
        sends.push({ at: ctx.scheduler.now(), frame: timing.frame });
        counters.bytes += unit.length;
        return unit.length;
      },
      async close() {},
    };
  },
});

/** How far each unit's media time (its first frame) was ahead of its send, from the first send, µs. */
function leads(): number[] {
  const t0 = sends[0]!.at;
  return sends.map((s) => (s.frame * 1e6) / FORMAT.rate - (s.at - t0));
}


let dir: string;
beforeAll(() => (dir = mkdtempSync(join(tmpdir(), "pacer-lead-"))));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("a timestamped output's lead", () => {
  test("stays aheadUs through gaps: nothing is sent early twice", async () => {
    sends = [];
    const scheduler = new Scheduler(new ManualClock(1_000_000));
    const pipe = new PassThrough();
    const job = await Job.create({ input: { label: "-", kind: "pcm", format: FORMAT }, source: streamSource("-", pipe), outputs: ["lead-probe:"], scheduler, log: silentLogger });
    job.start();
    // 0.4 s of audio, then nothing for 0.3 s (a stalled live input, or a pause): three times.
    for (let i = 0; i < 3; i++) {
      pipe.write(Buffer.alloc(0.4 * FORMAT.rate * 2));
      await Bun.sleep(5);
      await runWithIo(scheduler, scheduler.now() + 700_000, 2_000);
    }
    const lead = leads();
    // The units of the first 20 ms go at once (the lead), then every one is exactly 20 ms ahead.
    expect(lead.length).toBe(60);
    expect(job.destinations[0]!.gaps).toBe(3);
    expect(Math.max(...lead)).toBe(AHEAD_US);
    expect(lead.slice(1).every((us) => us === AHEAD_US)).toBe(true);
    pipe.end();
  });

  test("goes on as it was across a skip to the next input, where no time passed", async () => {
    sends = [];
    const wavs = ["a.wav", "b.wav"].map((name) => {
      const path = join(dir, name);
      writeWav(path, FORMAT, new Uint8Array(FORMAT.rate * 2)); // 1 s each
      return path;
    });
    const inputs = await Promise.all(wavs.map((w) => openInput(w)));
    const scheduler = new Scheduler(new ManualClock(1_000_000));
    const job = await Job.create({ input: { ...inputs[0]!.info, label: "a+b" }, source: sequenceSource(inputs.map((i) => i.source)), outputs: ["lead-probe:"], scheduler, log: silentLogger });
    job.start();
    await runWithIo(scheduler, scheduler.now() + 300_000, 2_000);
    const ofA = sends.length;
    expect(job.nextInput()).toBe(true);
    await runWithIo(scheduler, scheduler.now() + 1_500_000, 2_000);
    // Some of a, then all of b, the frames going on from where a stopped (before, they jumped by
    // the 0.5 s of a that was read ahead and dropped), 20 ms ahead throughout.
    expect(ofA).toBeGreaterThan(10);
    expect(sends.length - ofA).toBe(FORMAT.rate / UNIT_FRAMES);
    expect(sends.every((s, i) => s.frame === i * UNIT_FRAMES)).toBe(true);
    expect(leads().slice(1).every((us) => us === AHEAD_US)).toBe(true);
  });
});
