/**
 * A PS whose first stretch (first SCR to second) runs at another rate than its head's average is
 * paced by its SCRs from the first byte: the probe of the head has read them, and the job's clock
 * starts from them (sources/open_input.ts). Paced at the head's average until the job's own load
 * reached the second SCR, a GStreamer PS whose first stretch was the busier left 210 ms late.
 * A TS's first two PCRs seed its clock the same way (112 ms off at its second PCR without), also
 * in 204-byte and M2TS units.
 * Manual clock; a stand-in output records when each unit is due.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import "../../backends/all.ts";
import { silentLogger } from "../../foundation/log.ts";
import { Job } from "../../pipeline/job.ts";
import { ManualClock } from "../../scheduler/clock.ts";
import { Scheduler } from "../../scheduler/scheduler.ts";
import { openInput } from "../../sources/open_input.ts";
import { PCR_HZ, TS_SIZE, tsGetPcr, tsHasPcr, tsSetPcr } from "../../protocol/mpegts.ts";
import { makeCbrTs, makeGstreamerLikePs } from "../helpers/mpeg_fixtures.ts";
import { recordingOutput } from "../helpers/recording_output.ts";

const START_US = 1_000_000;
const taken = recordingOutput("stretch-probe", { unitBytes: 1316 });

const dir = mkdtempSync(join(tmpdir(), "pacer-stretch-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** When (µs after the first unit) the unit holding byte `offset` is due. */
function dueAt(offset: number): number {
  let at = 0;
  const k = taken.findIndex((t) => (at += t.bytes.length) > offset);
  return taken[k]!.dueUs - taken[0]!.dueUs;
}

/** Plays `bytes` as file `name` on the manual clock until the output has taken more than `throughByte`. */
async function play(name: string, bytes: Uint8Array, throughByte: number): Promise<void> {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  taken.length = 0;
  const scheduler = new Scheduler(new ManualClock(START_US));
  const opened = await openInput(path);
  const job = await Job.create({ input: opened.info, source: opened.source, byteClock: opened.byteClock, outputs: ["stretch-probe:a"], scheduler, log: silentLogger });
  job.start();
  while (job.destinations.some((d) => d.active) && taken.reduce((n, t) => n + t.bytes.length, 0) <= throughByte) {
    scheduler.runUntil(scheduler.now() + 10_000);
    await Bun.sleep(0);
  }
  job.stop();
  await job.done;
}

test("a PS's first stretch goes at its SCRs' rate, not the head's average: the byte at the second SCR leaves at its SCR time", async () => {
  // 3.2 Mbit/s, SCRs 0.7 s apart, the first stretch 1.8 times as busy: the head's 2 MiB average is 3.6 Mbit/s.
  const muxRate = 400_000;
  const ps = makeGstreamerLikePs({ muxRate, duration: 2.5, scrEvery: 0.7, firstRate: 1.8 * muxRate });
  // The second SCR and the third (0.7 s of SCRs after it).
  const second = Math.round((0.7 * 1.8 * muxRate) / 2048) * 2048;
  const third = second + Math.round((0.7 * muxRate) / 2048) * 2048;
  await play("fast-start.mpg", ps, third);
  // At the second SCR (before: 888 ms, paced at the head's average until the load reached it), halfway to it, and at the third: each at its SCR time, give or take 20 ms.
  expect(Math.abs(dueAt(second) - 700_000)).toBeLessThan(20_000);
  expect(Math.abs(dueAt(second / 2) - 350_000)).toBeLessThan(20_000);
  expect(Math.abs(dueAt(third) - 1_400_000)).toBeLessThan(20_000);
});

/**
 * 8 Mbit/s with PCRs 700 ms apart, the first stretch's PCRs drawn in to 0.4 s: 1.75 times as busy.
 * Its 700 kB are past what the job reads ahead at first, as the PS's are. Also the offset of its
 * second PCR.
 */
function drawnInTs(): { ts: Uint8Array; second: number } {
  const ts = makeCbrTs({ bitrate: 8_000_000, duration: 2.5, pcrIntervalMs: 700 });
  const drawnIn = Math.round(0.3 * PCR_HZ);
  let second = -1;
  for (let at = TS_SIZE; at < ts.length; at += TS_SIZE) {
    if (!tsHasPcr(ts, at)) continue;
    if (second < 0) second = at;
    tsSetPcr(ts, at, tsGetPcr(ts, at) - drawnIn);
  }
  return { ts, second };
}

test("a TS's first stretch goes at its first two PCRs' rate too", async () => {
  const { ts, second } = drawnInTs();
  const third = second + second; // 0.7 s of the steady rate on
  await play("fast-start.ts", ts, third);
  expect(Math.abs(dueAt(second) - 400_000)).toBeLessThan(20_000);
  expect(Math.abs(dueAt(third) - 1_100_000)).toBeLessThan(20_000);
});

/** Each packet of `ts` in a unit of `size` bytes, at `syncAt` in it; the rest zeros (M2TS stamps of 0 time nothing, RS parity is not checked). */
function inUnits(ts: Uint8Array, size: number, syncAt: number): Uint8Array {
  const out = new Uint8Array((ts.length / TS_SIZE) * size);
  for (let k = 0; k * TS_SIZE < ts.length; k++) out.set(ts.subarray(k * TS_SIZE, (k + 1) * TS_SIZE), k * size + syncAt);
  return out;
}

test("in 204-byte units (DVB-ASI dumps with RS parity) and in M2TS units without usable stamps, the first two PCRs seed the clock too", async () => {
  const { ts, second } = drawnInTs();
  const third = second + second;
  // Offsets here are of the stream as sent: 188 bytes a packet, the unit's extra bytes dropped.
  // Without the seeding each was 112 ms off at the second PCR.
  for (const [name, size, syncAt] of [["fast-start-rs.ts", 204, 0], ["fast-start.m2ts", 192, 4]] as const) {
    await play(name, inUnits(ts, size, syncAt), third);
    expect(Math.abs(dueAt(second) - 400_000), name).toBeLessThan(20_000);
    expect(Math.abs(dueAt(third) - 1_100_000), name).toBeLessThan(20_000);
  }
});
