/**
 * A wall clock stepped while a recording runs (NTP at a VM's resume, a host back from sleep, a
 * clock set right by hand): the wall clock names files and places cuts; lengths stay on the
 * monotonic clock. The recorder's wall clock is stepped through its `wallClock` option; the
 * input, the files and their WAV headers are real.
 */
import { expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { silentLogger } from "../../foundation/log.ts";
import { parseWavHeader } from "../../protocol/wav.ts";
import { Recorder } from "../../recorder/recorder.ts";
import { streamSource } from "../../sources/stream_source.ts";
import { patPackets } from "../helpers/mpeg_fixtures.ts";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** A wall clock that runs with the real one from `startMs`, and can be stepped. */
function steppableClock(startMs: number) {
  let offset = startMs - Date.now();
  return { now: () => Date.now() + offset, step: (ms: number) => (offset += ms) };
}

/** An hourly TS recording to `dir/%H%M.ts` from `startMs` on a steppable wall clock, and the files it has made. */
function hourlyRecording(dir: string, startMs: number) {
  const clock = steppableClock(startMs);
  const input = new PassThrough();
  const recorder = new Recorder(streamSource("test input", input), { pattern: join(dir, "%H%M.ts"), kind: "ts", rotateEveryMs: HOUR, syncEveryMs: 1000, log: silentLogger, wallClock: clock.now });
  // Not the list of names taken again (.%H%M.ts.again).
  const files = () => readdirSync(dir).filter((name) => !name.startsWith(".")).sort();
  return { clock, input, recorder, files };
}

async function until(what: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!what() && Date.now() < deadline) await Bun.sleep(10);
}

test("hourly files when the clock steps on hours and back one: named after the last hour passed, cut where the clock reads the hour again", async () => {
  const dir = mkdtempSync(join(tmpdir(), "pacer-clock-step-"));
  try {
    const { clock, input, recorder, files } = hourlyRecording(dir, new Date(2026, 5, 1, 10, 30).getTime());
    input.write(patPackets(10, 0));
    await until(() => files().length === 1);
    clock.step(4 * HOUR + 40 * MINUTE); // 15:10: past the boundaries of 11:00 … 15:00
    input.write(patPackets(10, 10));
    await until(() => files().length === 2);
    expect(files()).toEqual(["1030.ts", "1500.ts"]); // (was 1100.ts, for a file begun at 15:10)
    clock.step(-HOUR); // 14:10
    input.write(patPackets(10, 20));
    await Bun.sleep(250);
    clock.step(50 * MINUTE + 1000); // 15:00:01, the hour again
    input.write(patPackets(10, 30));
    await until(() => files().length === 3);
    input.end();
    const summary = await recorder.done;
    // (Before, no cut came until 16:00: the file of 15:00 ran two hours.)
    expect(files()).toEqual(["1030.ts", "1500-1.ts", "1500.ts"]);
    expect(summary.bytes).toBe(40 * 188);
    expect(summary.seconds).toBeGreaterThan(0);
    expect(summary.seconds).toBeLessThan(10); // (was 16,200 s: the wall clock's span)
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 10_000);

test("a step back of seconds just after an hour's cut is let be: no file of those seconds", async () => {
  const dir = mkdtempSync(join(tmpdir(), "pacer-clock-step-"));
  try {
    const { clock, input, recorder, files } = hourlyRecording(dir, new Date(2026, 5, 1, 10, 59, 59, 900).getTime());
    input.write(patPackets(5, 0));
    await until(() => files().length === 1);
    await Bun.sleep(200);
    input.write(patPackets(5, 5)); // 11:00:00.1: cut
    await until(() => files().length === 2);
    clock.step(-2000); // NTP takes two seconds back: 10:59:58.1
    input.write(patPackets(5, 10));
    await Bun.sleep(200);
    clock.step(2500); // 11:00:00.6, the hour read again
    input.write(patPackets(5, 15));
    await Bun.sleep(200);
    input.end();
    await recorder.done;
    expect(files()).toEqual(["1059.ts", "1100.ts"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 10_000);

test("a WAV's header is still rewritten every sync after the clock steps back an hour", async () => {
  const dir = mkdtempSync(join(tmpdir(), "pacer-clock-step-"));
  try {
    const clock = steppableClock(Date.now());
    const input = new PassThrough();
    const path = join(dir, "x.wav");
    const recorder = new Recorder(streamSource("test input", input), {
      pattern: path,
      kind: "wav",
      pcmFormat: () => ({ encoding: "s16le", rate: 48_000, channels: 2 }),
      syncEveryMs: 100,
      log: silentLogger,
      wallClock: clock.now,
    });
    const dataBytes = () => {
      const header = parseWavHeader(readFileSync(path));
      return header.status === "ok" ? header.dataBytes : -1;
    };
    input.write(Buffer.alloc(4800));
    await until(() => dataBytes() === 4800);
    expect(dataBytes()).toBe(4800);
    clock.step(-HOUR);
    input.write(Buffer.alloc(4800));
    await until(() => dataBytes() === 9600, 1500);
    // (Before, the next sync was due an hour on: the header said 4800 bytes, and a kill -9 lost the rest.)
    expect(dataBytes()).toBe(9600);
    input.end();
    const summary = await recorder.done;
    expect(summary.seconds).toBeGreaterThanOrEqual(0); // (was -3600 s)
    expect(summary.seconds).toBeLessThan(10);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 10_000);

test("--wait is a length: a clock stepped back an hour does not hold it off", async () => {
  const clock = steppableClock(Date.now());
  const recorder = new Recorder(streamSource("test input", new PassThrough()), {
    pattern: join(tmpdir(), "pacer-never-made-%s.ts"),
    kind: "ts",
    waitUntilMonotonicMs: performance.now() + 200,
    syncEveryMs: 1000,
    log: silentLogger,
    wallClock: clock.now,
  });
  clock.step(-HOUR);
  const ended = await Promise.race([recorder.done, Bun.sleep(2000).then(() => null)]);
  // (Before, --wait ended at a time on the wall clock, an hour on.)
  expect(ended?.nothing).toBe(true);
  if (!ended) recorder.stop();
});

test("a cut on the clock waits a second for a PAT, not a second and the step back the clock took meanwhile", async () => {
  const dir = mkdtempSync(join(tmpdir(), "pacer-clock-step-"));
  try {
    const { clock, input, recorder, files } = hourlyRecording(dir, new Date(2026, 5, 1, 10, 59, 59, 800).getTime());
    // Packets of PID 0x100: no PAT, so a cut waits PAT_WAIT_MS, then falls on a packet boundary.
    const packets = (n: number, from: number) => {
      const out = patPackets(n, from);
      for (let at = 0; at < out.length; at += 188) out[at + 1] = 0x01;
      return out;
    };
    input.write(packets(5, 0));
    await until(() => files().length === 1);
    await Bun.sleep(300); // 11:00:00.1: the cut is due, and waits for a PAT
    input.write(packets(5, 5));
    await Bun.sleep(50);
    clock.step(-HOUR);
    for (let i = 0; i < 15 && files().length < 2; i++) {
      input.write(packets(1, 10 + i));
      await Bun.sleep(100);
    }
    // (Before, the wait ran on the wall clock: an hour and a second.)
    expect(files()).toEqual(["1059.ts", "1100.ts"]);
    input.end();
    await recorder.done;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 10_000);
