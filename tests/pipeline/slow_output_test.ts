/**
 * Stories (issue 10, item 1), on a manual clock: one output of a job that pushes back — stuck, or
 * taking half the stream's rate — never holds back the others (DESIGN.md, "Unreachable
 * destinations"). They keep their schedule and get every byte; the slow one falls at most
 * LAG_BOUND_S behind, then skips ahead in whole frames or packets, each skip counted; at the end
 * of the stream it gets END_GRACE_US, then is given up on, and the job reports what it lost. Alone,
 * a slow output still slows the job (backpressure), losing nothing.
 *
 * The slow outputs are stand-in stream backends that take bytes by the manual clock; the others
 * are real `file:` outputs.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import "../../backends/all.ts";
import { type Backend, type BackendContext, newCounters, type StreamInfo } from "../../backends/backend.ts";
import { registerBackend } from "../../backends/registry.ts";
import { PacerError } from "../../foundation/errors.ts";
import { createLogger, type Logger } from "../../foundation/log.ts";
import { DEFAULT_CHUNK_BYTES, END_GRACE_US, Job, LAG_BOUND_S } from "../../pipeline/job.ts";
import { TS_SIZE, TS_SYNC } from "../../protocol/mpegts.ts";
import { bytesPerFrame } from "../../protocol/sample_format.ts";
import { ManualClock } from "../../scheduler/clock.ts";
import { Scheduler } from "../../scheduler/scheduler.ts";
import { openInput } from "../../sources/open_input.ts";
import { rampS16, writeWav } from "../helpers/audio.ts";
import { garbageBytes, insertBytes, makeCbrTs } from "../helpers/mpeg_fixtures.ts";

const dir = mkdtempSync(join(tmpdir(), "pacer-slow-output-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What a stand-in stream output took, unit by unit, and when. */
const taken = new Map<string, Buffer[]>();

/**
 * `slow:RATE` takes at most RATE bytes per second of clock time (0: nothing, ever), like a command
 * reading its pipe at that rate; it pushes back, as cmd: and alsa: do.
 */
registerBackend({
  scheme: "slow",
  summary: "slow:BYTES_PER_S  a stand-in stream output for tests",
  async create(target: string, stream: StreamInfo, ctx: BackendContext): Promise<Backend> {
    const rate = Number(target.slice("slow:".length));
    const format = stream.kind === "pcm" ? stream.format : undefined;
    const unitBytes = format ? 882 * bytesPerFrame(format) : 43 * TS_SIZE;
    const units: Buffer[] = [];
    taken.set(target, units);
    const counters = newCounters();
    let startedAt = -1;
    let took = 0;
    return {
      label: target,
      format,
      unitBytes,
      aheadUs: 20_000,
      pushesBack: true,
      counters,
      send(unit) {
        const now = ctx.scheduler.now();
        if (startedAt < 0) startedAt = now;
        const budget = Math.floor((rate * (now - startedAt)) / 1e6) + (rate > 0 ? unitBytes : 0) - took;
        const align = format ? bytesPerFrame(format) : TS_SIZE;
        const n = Math.max(0, Math.min(unit.length, budget - (budget % align)));
        if (n > 0) units.push(Buffer.from(unit.subarray(0, n)));
        took += n;
        counters.bytes += n;
        return n;
      },
      async close() {},
    };
  },
});

/** `closefail:` takes everything and fails to close, as a `file:` whose fdatasync fails. */
registerBackend({
  scheme: "closefail",
  summary: "closefail:  a stand-in output whose close fails",
  async create(target: string, stream: StreamInfo): Promise<Backend> {
    return {
      label: target,
      format: stream.format,
      unitBytes: 4096,
      aheadUs: 0,
      counters: newCounters(),
      send: (unit) => unit.length,
      close: async () => {
        throw new PacerError("cannot flush to disk: input/output error (EIO)");
      },
    };
  },
});

function capturingLog(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: createLogger({ level: "info", write: (line) => lines.push(line) }), lines };
}

/** Runs a job on a manual clock in 10 ms steps; notes when each destination stopped running (µs since start). */
async function runJob(input: string, outputs: string[], log: Logger) {
  const scheduler = new Scheduler(new ManualClock(1_000_000));
  const opened = await openInput(input);
  const job = await Job.create({ input: opened.info, source: opened.source, byteClock: opened.byteClock, outputs, scheduler, log });
  const endedAt = new Map<string, number>();
  let worstLag = 0;
  job.start();
  const start = scheduler.now();
  const limit = start + (opened.info.durationUs ?? 0) * 3 + 2 * END_GRACE_US;
  while (scheduler.now() < limit && job.destinations.some((d) => d.active)) {
    scheduler.runUntil(scheduler.now() + 10_000);
    const positions = job.destinations.filter((d) => d.active).map((d) => d.reader.position);
    if (positions.length > 1) worstLag = Math.max(worstLag, Math.max(...positions) - Math.min(...positions));
    for (const d of job.destinations) if (!d.active && !endedAt.has(d.label)) endedAt.set(d.label, scheduler.now() - start);
  }
  const result = await job.done;
  return { job, result, endedAt, worstLag, durationUs: opened.info.durationUs! };
}

describe("an output that pushes back never holds back the others (manual clock)", () => {
  test("a stuck output: the file: beside it gets every byte on time; the stuck one skips ahead, is given up 5 s after the end, and its loss is one line", async () => {
    const samples = rampS16(5 * 44_100);
    const wav = join(dir, "five.wav");
    writeWav(wav, { encoding: "s16le", rate: 44_100, channels: 2 }, samples);
    const out = join(dir, "five-out.raw");
    const { log, lines } = capturingLog();
    const { job, result, endedAt, durationUs } = await runJob(wav, ["slow:0", `file:${out}`], log);

    // Before: the file stopped at the read-ahead's size (393,216 bytes of a 5 s file) and never ended.
    expect(readFileSync(out).equals(samples)).toBe(true);
    expect(endedAt.get(`file:${out}`)!).toBeLessThan(durationUs + 50_000);
    // The stuck one was given up on END_GRACE_US after the end of the stream.
    const stuck = job.destinations[0]!;
    expect(stuck.givenUp).toBe(true);
    expect(stuck.skipsAhead).toBeGreaterThanOrEqual(1);
    expect(endedAt.get("slow:0")!).toBeGreaterThanOrEqual(durationUs + END_GRACE_US - 50_000);
    expect(endedAt.get("slow:0")!).toBeLessThan(durationUs + END_GRACE_US + 50_000);
    // Counted exactly: every frame of the 5 s was lost; warned once while playing, one error line at the end.
    expect(result.failures).toEqual([]);
    expect(result.losses.map((l) => [l.label, l.lostUs, l.spanUs])).toEqual([["slow:0", 5_000_000, 5_000_000]]);
    expect(lines.filter((l) => l.includes("behind the other outputs; skipping ahead"))).toHaveLength(1);
    expect(lines.filter((l) => l.startsWith("pacer: error: "))).toEqual([
      `pacer: error: slow:0: lost 5.0 s of 5.0 s (fell more than ${LAG_BOUND_S} s behind the other outputs and skipped ahead ${stuck.skipsAhead} times; cut off 5 s after the end of the stream)`,
    ]);
  });

  test("a half-rate output of MPEG-TS with garbage: never more than 2 s (and a chunk) behind, whole packets of the clean stream only, its loss counted", async () => {
    const clean = makeCbrTs({ bitrate: 1_500_000, duration: 8 });
    const dirty = insertBytes(insertBytes(clean, 3000 * TS_SIZE, garbageBytes(500, 7)), 100 * TS_SIZE, garbageBytes(77, 3));
    const input = join(dir, "half.ts");
    writeFileSync(input, dirty);
    const out = join(dir, "half-out.ts");
    const bytesPerS = 1_500_000 / 8;
    const { log, lines } = capturingLog();
    const { job, result, endedAt, worstLag, durationUs } = await runJob(input, [`slow:${bytesPerS / 2}`, `file:${out}`], log);

    expect(readFileSync(out).equals(Buffer.from(clean))).toBe(true);
    expect(endedAt.get(`file:${out}`)!).toBeLessThan(durationUs + 100_000);
    expect(worstLag).toBeLessThanOrEqual(job.lagBytes + DEFAULT_CHUNK_BYTES);
    // 2 s at the rate probed from the PCRs (within 1 % of the nominal 1.5 Mbit/s).
    expect(Math.abs(job.lagBytes / (LAG_BOUND_S * bytesPerS) - 1)).toBeLessThan(0.01);

    // Whole packets, each one of the clean stream's, in stream order, with skips between runs.
    const packets = Buffer.concat(taken.get(`slow:${bytesPerS / 2}`)!);
    expect(packets.length % TS_SIZE).toBe(0);
    let at = 0;
    let jumps = 0;
    for (let p = 0; p < packets.length; p += TS_SIZE) {
      expect(packets[p]).toBe(TS_SYNC);
      const packet = packets.subarray(p, p + TS_SIZE);
      if (!Buffer.from(clean.subarray(at, at + TS_SIZE)).equals(packet)) {
        const found = Buffer.from(clean).indexOf(packet, at);
        expect(found).toBeGreaterThan(at);
        expect(found % TS_SIZE).toBe(0);
        at = found;
        jumps++;
      }
      at += TS_SIZE;
    }
    const slow = job.destinations[0]!;
    expect(jumps).toBe(slow.skipsAhead);
    expect(slow.skipsAhead).toBeGreaterThanOrEqual(1);
    // What it lost is what it did not take, within a packet's time per skip.
    const loss = result.losses.find((l) => l.label === slow.label)!;
    const missedUs = ((clean.length - packets.length) / bytesPerS) * 1e6;
    expect(Math.abs(loss.lostUs - missedUs)).toBeLessThan((slow.skipsAhead + 2) * ((TS_SIZE / bytesPerS) * 1e6));
    expect(lines.filter((l) => l.startsWith("pacer: error: "))).toHaveLength(1);
  });

  test("alone, a half-rate output still slows the job instead (backpressure): every byte, twice the time, nothing lost", async () => {
    const samples = rampS16(44_100);
    const wav = join(dir, "alone.wav");
    writeWav(wav, { encoding: "s16le", rate: 44_100, channels: 2 }, samples);
    const { log, lines } = capturingLog();
    const { job, result, endedAt } = await runJob(wav, ["slow:88200"], log);
    expect(Buffer.concat(taken.get("slow:88200")!).equals(samples)).toBe(true);
    expect(endedAt.get("slow:88200")!).toBeGreaterThan(1_900_000);
    expect(job.destinations[0]!.skipsAhead).toBe(0);
    expect(result.losses).toEqual([]);
    expect(lines).toEqual([]);
  });

  test("an output whose close fails (a file: that cannot flush to disk) is one error line naming it", async () => {
    const wav = join(dir, "short.wav");
    writeWav(wav, { encoding: "s16le", rate: 44_100, channels: 2 }, rampS16(4410));
    const { log, lines } = capturingLog();
    const { result } = await runJob(wav, ["closefail:x"], log);
    expect(result.failures.map((f) => f.label)).toEqual(["closefail:x"]);
    // Before, play exited 1 with no message at all.
    expect(lines).toEqual(["pacer: error: closefail:x: cannot flush to disk: input/output error (EIO)"]);
  });
});
