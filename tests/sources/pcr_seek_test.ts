/**
 * --start by PCR in a variable-rate TS: a file at 1 Mbit/s for 2 s, then 4 Mbit/s for 2 s. The
 * average rate would put "3 s" at 3.375 s; the PCR search puts it within one PCR interval (20 ms).
 * A PS's SCRs place it likewise (at the end).
 * In a file whose clock restarts (two files back to back), a scan along the clock's stretches does.
 */
import { afterAll, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PCR_HZ, TS_SIZE, tsGetPcr, tsHasPcr } from "../../protocol/mpegts.ts";
import { openInput } from "../../sources/open_input.ts";
import { PcrClock } from "../../protocol/mpeg_timing.ts";
import { pcrScan, pcrSeek, pcrStart, type PcrTimeline } from "../../sources/pcr_seek.ts";
import { garbageBytes, insertBytes, makeCbrPs, makeCbrTs, makeM2ts, markDiscontinuityAt } from "../helpers/mpeg_fixtures.ts";
import { psIsPackStart, psPackScr } from "../../protocol/mpegps.ts";
import { runPacer } from "../helpers/pacer.ts";

const dir = mkdtempSync(join(tmpdir(), "pacer-seek-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const FIRST_PCR = 10 * PCR_HZ;
const slow = makeCbrTs({ bitrate: 1_000_000, duration: 2, firstPcr: FIRST_PCR });
const fast = makeCbrTs({ bitrate: 4_000_000, duration: 2, firstPcr: FIRST_PCR + 2 * PCR_HZ });
const vbr = concat(slow, fast);
const path = write("vbr.ts", vbr);
/** What the probe of the file's head gives: the PCR PID, the first PCR and the head's rate. */
const TIMELINE: PcrTimeline = { pcrPid: 0x100, firstPcr: FIRST_PCR, byteRate: 125_000 };

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function write(name: string, bytes: Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
}

async function seek(file: string, size: number, timeline: PcrTimeline, seconds: number): Promise<number | null> {
  const handle = await open(file, "r");
  try {
    return await pcrSeek(handle, size, timeline, seconds);
  } finally {
    await handle.close();
  }
}

/** Seconds after FIRST_PCR of the first PCR at or after `offset` in `bytes`. */
function pcrSecondsAt(bytes: Uint8Array, offset: number): number {
  for (let at = offset; at < bytes.length; at += TS_SIZE) if (tsHasPcr(bytes, at)) return (tsGetPcr(bytes, at) - FIRST_PCR) / PCR_HZ;
  return NaN;
}

/** Seconds at which play sends byte `offset` of `bytes`: pacing's own clock over the whole file, at the probed rate where it has none. */
function playSecondsAt(bytes: Uint8Array, offset: number): number {
  const clock = new PcrClock({ fallbackBitsPerSecond: 8 * TIMELINE.byteRate });
  clock.observe(bytes, 0);
  return clock.timeAt(offset) / 1e6;
}

/** The offset of the first packet carrying a PCR at or after `offset`. */
function firstPcrAt(bytes: Uint8Array, offset: number): number {
  for (let at = offset; at < bytes.length; at += TS_SIZE) if (tsHasPcr(bytes, at)) return at;
  return -1;
}

/** `play --start` past the end of the `seconds`-long file at `path` is refused in one line, with the length `probe` gives it. */
async function expectRefusedPastEnd(path: string, seconds: number): Promise<void> {
  const probe = await runPacer(["probe", path]);
  const length = /duration:\s+([\d.]+) s/.exec(probe.stdout)![1];
  expect(Number(length)).toBeCloseTo(seconds, 1);
  const start = String(seconds + 0.5);
  const past = await runPacer(["play", path, "--start", start, "--to", `file:${join(dir, "past.out")}`]);
  expect(past.stderr).toBe(`pacer: error: start ${start} s: ${path} is only ${length} s long, so nothing would play\n`);
  expect(past.code).toBe(1);
}

describe("--start by PCR", () => {
  test("property: any start time lands on a packet at most one PCR interval before it", async () => {
    await fc.assert(
      fc.asyncProperty(fc.double({ min: 0.05, max: 3.9, noNaN: true }), async (seconds) => {
        const offset = await seek(path, vbr.length, TIMELINE, seconds);
        expect(offset).not.toBeNull();
        expect(offset! % TS_SIZE).toBe(0);
        const at = pcrSecondsAt(vbr, offset!);
        expect(at).toBeLessThanOrEqual(seconds + 1e-6);
        expect(seconds - at).toBeLessThan(0.021);
      }),
      { numRuns: 60 },
    );
  });

  test("openInput --start 3 on the variable-rate file starts at 3 s (by the average rate it would be 3.375 s)", async () => {
    const opened = await openInput(path, { startSeconds: 3 });
    opened.source.close();
    expect(Math.abs(pcrSecondsAt(vbr, opened.startOffset) - 3)).toBeLessThan(0.021);
  });

  test("a file faster at its head than on (TS, and M2TS paced by its PCRs or its arrival stamps): a start past the head rate's length plays from there, and one past the clock's end is refused with the clock's length", async () => {
    // 2 s at 4 Mbit/s, then 2 s at 1 Mbit/s: by the head's rate the file lasted 2.5 s, so
    // `--start 3` was refused ("only 2.5 s long"), and so was 4.5 with that length.
    const fastHead = makeCbrTs({ bitrate: 4_000_000, duration: 2, firstPcr: FIRST_PCR });
    const fastSlow = concat(fastHead, makeCbrTs({ bitrate: 1_000_000, duration: 2, firstPcr: FIRST_PCR + 2 * PCR_HZ }));
    // The same as M2TS whose arrival stamps break at every packet (as ffmpeg writes them without
    // -muxrate), so its PCRs pace it: its 192-byte units are scanned as they lie; and as M2TS
    // whose stamps run with the packets, so they pace it, and place the start.
    const fastPackets = fastHead.length / TS_SIZE;
    const sentAt = (k: number) => (k < fastPackets ? (k * TS_SIZE * 8) / 4e6 : 2 + ((k - fastPackets) * TS_SIZE * 8) / 1e6);
    // The time of the start: its PCR (a PCR packet is where they place it), or its unit's stamp.
    const byPcr = (offset: number) => pcrSecondsAt(fastSlow, offset);
    const forms = [
      { path: write("fast_slow.ts", fastSlow), pacing: "pcr" as const, timeAt: byPcr },
      { path: write("fast_slow_pcr.m2ts", makeM2ts(fastSlow, (k) => k * 2 * PCR_HZ)), pacing: "pcr" as const, timeAt: byPcr },
      {
        path: write("fast_slow_ats.m2ts", makeM2ts(fastSlow, (k) => Math.round(sentAt(k) * PCR_HZ))),
        pacing: "arrival" as const,
        timeAt: (offset: number) => sentAt(offset / TS_SIZE),
      },
    ];
    for (const { path: fastSlowPath, pacing, timeAt } of forms) {
      for (const seconds of [3, 3.9]) {
        const opened = await openInput(fastSlowPath, { startSeconds: seconds });
        opened.source.close();
        expect(opened.pacing).toBe(pacing);
        // Offsets are of the stream as sent, 188-byte packets for either.
        const at = timeAt(opened.startOffset);
        expect(at).toBeLessThanOrEqual(seconds + 1e-6);
        expect(seconds - at).toBeLessThan(0.021);
      }
      await expectRefusedPastEnd(fastSlowPath, 4);
    }
  });

  test("where the search cannot trust the PCRs (the clock restarts) a scan counts along its stretches; past the last PCR, the average rate", async () => {
    // Two copies of the variable-rate file back to back: the clock restarts half way, and the search gives up.
    const twice = concat(vbr, vbr);
    const twicePath = write("twice.ts", twice);
    expect(await seek(twicePath, twice.length, TIMELINE, 5)).toBeNull();
    // 5 s is a second into the second copy (the bytes across the restart timed at the rate before
    // it). By the average rate it was 5 s of bytes: inside the first copy.
    for (const [seconds, copy, into] of [[1, 0, 1], [5, 1, 1], [7, 1, 3]] as const) {
      const opened = await openInput(twicePath, { startSeconds: seconds });
      opened.source.close();
      expect(opened.startOffset >= copy * vbr.length && opened.startOffset < (copy + 1) * vbr.length).toBe(true);
      const at = pcrSecondsAt(twice, opened.startOffset);
      expect(at).toBeLessThanOrEqual(into + 1e-6);
      expect(into - at).toBeLessThan(0.041); // a PCR interval, and the restart's one step
    }
    // Past the last PCR, neither places it (openInput then uses the average rate).
    expect(await seek(path, vbr.length, TIMELINE, 10)).toBeNull();
    const handle = await open(twicePath, "r");
    try {
      expect(await pcrScan(handle, twice.length, TIMELINE, 10)).toBeNull();
      // Nor beyond the bytes a scan may read.
      expect(await pcrScan(handle, twice.length, TIMELINE, 5, 64 * 1024)).toBeNull();
    } finally {
      await handle.close();
    }
  });

  test("files joined whose PCR PIDs differ: --start in the second counts along the new PID's PCRs, as pacing does (it used the average rate)", async () => {
    // 2 s at 1 Mbit/s on 0x100, then 2 s at 4 Mbit/s on 0x200 with a clock of its own.
    const second = makeCbrTs({ bitrate: 4_000_000, duration: 2, pcrPid: 0x200, payloadPid: 0x201, firstPcr: 700 * PCR_HZ });
    const joined = concat(slow, second);
    const joinedPath = write("joined_pids.ts", joined);
    const opened = await openInput(joinedPath, { startSeconds: 3 });
    opened.source.close();
    expect(opened.startOffset).toBeGreaterThanOrEqual(slow.length);
    // 1 s into the second file, within a PCR interval and the join's step.
    const at = (tsGetPcr(joined, firstPcrAt(joined, opened.startOffset)) - 700 * PCR_HZ) / PCR_HZ;
    expect(at).toBeLessThanOrEqual(1 + 1e-6);
    expect(1 - at).toBeLessThan(0.041);
  });

  test("a signalled break (discontinuity_indicator) whose step is under a second is a break too: the scan does not count its step as time", async () => {
    // 2 s, then 2 s whose clock starts 0.6 s on, flagged: "3 s" is a second into the second part.
    const second = makeCbrTs({ bitrate: 1_000_000, duration: 2, firstPcr: FIRST_PCR + 2.6 * PCR_HZ });
    markDiscontinuityAt(second, 0);
    const joined = concat(slow, second);
    const handle = await open(write("flagged.ts", joined), "r");
    try {
      const offset = await pcrScan(handle, joined.length, TIMELINE, 3);
      expect(offset).not.toBeNull();
      expect(offset! >= slow.length).toBe(true);
      // Counting the flagged step as time put it at 2.4 s of the clock, 0.4 s into the second part.
      const at = pcrSecondsAt(joined, offset!);
      expect(at).toBeLessThanOrEqual(3.6 + 1e-6);
      expect(3.6 - at).toBeLessThan(0.041);
    } finally {
      await handle.close();
    }
  });

  test("a flagged forward step under a second: --start lands where play's clock has the time, not where the PCRs read it (the search counted the step: 1.8 s began at 1.2 s of play)", async () => {
    // 1 s, then 1 s whose clock starts 0.6 s on, flagged: pacing times the step as its bytes.
    const first = makeCbrTs({ bitrate: 1_000_000, duration: 1, firstPcr: FIRST_PCR });
    const second = makeCbrTs({ bitrate: 1_000_000, duration: 1, firstPcr: FIRST_PCR + 1.6 * PCR_HZ });
    markDiscontinuityAt(second, 0);
    const joined = concat(first, second);
    const flaggedPath = write("flagged_short.ts", joined);
    for (const seconds of [0.5, 1.5, 1.8]) {
      const opened = await openInput(flaggedPath, { startSeconds: seconds });
      opened.source.close();
      const at = playSecondsAt(joined, opened.startOffset);
      expect(at).toBeLessThanOrEqual(seconds + 1e-6);
      expect(seconds - at).toBeLessThan(0.021);
    }
  });

  test("past what the scan reads, the search goes on from its last PCR with the time counted so far: a flag the scan saw still counts as play counts it", async () => {
    // 1 s, a flagged step of 0.6 s, then 3 s at 4 Mbit/s on one clock; the scan reads 200 KB (past the flag).
    const first = makeCbrTs({ bitrate: 1_000_000, duration: 1, firstPcr: FIRST_PCR });
    const second = makeCbrTs({ bitrate: 4_000_000, duration: 3, firstPcr: FIRST_PCR + 1.6 * PCR_HZ });
    markDiscontinuityAt(second, 0);
    const joined = concat(first, second);
    const handle = await open(write("flagged_long.ts", joined), "r");
    try {
      for (const seconds of [2.5, 3.7]) {
        const { offset } = await pcrStart(handle, joined.length, TIMELINE, seconds, 200_000);
        expect(offset).not.toBeNull();
        expect(offset!).toBeGreaterThan(200_000); // placed by the search
        const at = playSecondsAt(joined, offset!);
        expect(at).toBeLessThanOrEqual(seconds + 1e-6);
        expect(seconds - at).toBeLessThan(0.021);
      }
    } finally {
      await handle.close();
    }
  });

  test("garbage inside a read window: the scan finds the packets after it at once, as play does (it passed over the rest of that window's PCRs)", async () => {
    const dirty = insertBytes(vbr, 100_000, garbageBytes(777));
    const handle = await open(write("dirty.ts", dirty), "r");
    try {
      // 0.9 s is 12 KB past the garbage: the old scan stopped at the last PCR before it, 0.78 s.
      const offset = await pcrScan(handle, dirty.length, TIMELINE, 0.9);
      expect(offset).not.toBeNull();
      const at = pcrSecondsAt(dirty, offset!);
      expect(at).toBeLessThanOrEqual(0.9 + 1e-6);
      expect(0.9 - at).toBeLessThan(0.021);
    } finally {
      await handle.close();
    }
  });

  test("PCRs sparser than a read window are still found (40 Mbit/s, 100 ms apart: 500 KB between them)", async () => {
    const sparse = makeCbrTs({ bitrate: 40_000_000, duration: 1, pcrIntervalMs: 100, firstPcr: FIRST_PCR });
    const sparsePath = write("sparse.ts", sparse);
    const offset = await seek(sparsePath, sparse.length, { ...TIMELINE, byteRate: 5_000_000 }, 0.55);
    expect(offset).not.toBeNull();
    expect(Math.abs(pcrSecondsAt(sparse, offset!) - 0.5)).toBeLessThan(0.001);
  });
});

describe("--start by SCR in an MPEG-PS", () => {
  const psSlow = makeCbrPs({ muxRate: 125_000, duration: 2 });
  const psFast = makeCbrPs({ muxRate: 500_000, duration: 2, firstScr: 2 * PCR_HZ });

  test("slow then fast: --start 3 lands on the pack of 3 s (by the head's rate it was 2.25 s, a quarter of the way into the fast part)", async () => {
    const slowFast = concat(psSlow, psFast);
    const slowFastPath = write("slow_fast.mpg", slowFast);
    const opened = await openInput(slowFastPath, { startSeconds: 3 });
    opened.source.close();
    expect(psIsPackStart(slowFast, opened.startOffset)).toBe(true);
    const at = psPackScr(slowFast, opened.startOffset) / PCR_HZ;
    expect(at).toBeLessThanOrEqual(3 + 1e-6);
    expect(3 - at).toBeLessThan(0.021); // a 2048-byte pack is 4 ms at 500 kB/s
  });

  test("fast then slow: --start 3 plays the last second (it was refused, 'only 2.499 s long'); past the clock's end it is refused with probe's length", async () => {
    const fastSlow = concat(makeCbrPs({ muxRate: 500_000, duration: 2 }), makeCbrPs({ muxRate: 125_000, duration: 2, firstScr: 2 * PCR_HZ }));
    const fastSlowPath = write("fast_slow.mpg", fastSlow);
    const opened = await openInput(fastSlowPath, { startSeconds: 3 });
    opened.source.close();
    const at = psPackScr(fastSlow, opened.startOffset) / PCR_HZ;
    expect(at).toBeLessThanOrEqual(3 + 1e-6);
    expect(3 - at).toBeLessThan(0.021);
    await expectRefusedPastEnd(fastSlowPath, 4);
  });
});
