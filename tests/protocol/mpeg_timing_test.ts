import { afterAll, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { ClockStretch, ConstantRateClock, PcrClock, PcrPidLock, ScrClock, type ByteClock } from "../../protocol/mpeg_timing.ts";
import { readFileSync } from "node:fs";
import { PCR_HZ, PCR_WRAP, TS_SIZE, tsGetPcr, tsHasPcr } from "../../protocol/mpegts.ts";
import { psWriteMpeg2Pack } from "../../protocol/mpegps.ts";
import {
  ffmpegPs, ffmpegTs, ffprobeDuration, garbageBytes, haveFfmpeg, insertBytes, makeCbrPs, makeCbrTs,
  makeTempDir, markDiscontinuityAt,
} from "../helpers/mpeg_fixtures.ts";

const CHUNK = 128 * 1024; // what the file source loads at a time
const FFMPEG = haveFfmpeg();
const tmp = makeTempDir();
afterAll(() => tmp.cleanup());

function observeInChunks(clock: ByteClock, bytes: Uint8Array, chunk = CHUNK): void {
  for (let o = 0; o < bytes.length; o += chunk) clock.observe(bytes.subarray(o, o + chunk), o);
}

/** Largest backward step of timeAt over packet offsets 0..end (0 when monotonic). */
function worstBackwardStep(clock: ByteClock, end: number): number {
  let prev = -Infinity;
  let worst = 0;
  for (let o = 0; o <= end; o += TS_SIZE) {
    const t = clock.timeAt(o);
    worst = Math.max(worst, prev - t);
    prev = t;
  }
  return worst;
}

describe("ConstantRateClock", () => {
  test("byte o is due at o*8/bitrate seconds", () => {
    const clock = new ConstantRateClock(1_500_000);
    expect(clock.byteRate()).toBe(187_500);
    expect(clock.timeAt(187_500)).toBe(1_000_000);
    expect(clock.timeAt(0)).toBe(0);
    expect(() => new ConstantRateClock(0)).toThrow(RangeError);
  });
});

describe("PcrClock", () => {
  test("paces a synthetic CBR TS exactly at its PCR rate, from time 0", () => {
    const ts = makeCbrTs({ bitrate: 2_000_000, duration: 2 });
    const clock = new PcrClock();
    observeInChunks(clock, ts);
    expect(clock.pcrPid).toBe(0x100);
    expect(clock.byteRate()).toBeCloseTo(250_000, 3);
    for (const o of [0, TS_SIZE, 1000 * TS_SIZE, ts.length - TS_SIZE]) {
      expect(clock.timeAt(o)).toBeCloseTo((o / 250_000) * 1e6, 1);
    }
    // Beyond the data: extrapolated at the last rate.
    expect(clock.timeAt(ts.length + 250_000)).toBeCloseTo((ts.length / 250_000 + 1) * 1e6, 0);
    expect(clock.discontinuities()).toBe(0);
  });

  test("knows nothing before two PCRs unless given a fallback rate", () => {
    const ts = makeCbrTs({ bitrate: 1_000_000, duration: 1, pcrIntervalMs: 40 });
    const clock = new PcrClock();
    clock.observe(ts.subarray(0, 10 * TS_SIZE), 0);
    expect(clock.byteRate()).toBe(0);
    expect(clock.timeAt(5000)).toBe(0);
    const withFallback = new PcrClock({ fallbackBitsPerSecond: 800_000 });
    withFallback.observe(ts.subarray(0, 10 * TS_SIZE), 0);
    expect(withFallback.timeAt(100_000)).toBeCloseTo(1_000_000, 3);
  });

  test("files joined whose PCR PIDs differ: after the join it follows the new PID (the second part played at the first's rate)", () => {
    const a = makeCbrTs({ bitrate: 1_000_000, duration: 1, pcrPid: 0x100 });
    const b = makeCbrTs({ bitrate: 3_000_000, duration: 1, pcrPid: 0x200, payloadPid: 0x201, firstPcr: 500 * PCR_HZ });
    const joined = new Uint8Array(a.length + b.length);
    joined.set(a, 0);
    joined.set(b, a.length);
    const clock = new PcrClock();
    observeInChunks(clock, joined);
    // 1 s + 1 s; at the first part's rate the second took 3 s.
    expect(clock.timeAt(joined.length) / 1e6).toBeGreaterThan(1.9);
    expect(clock.timeAt(joined.length) / 1e6).toBeLessThan(2.15);
    expect(clock.pcrPid).toBe(0x200);
    expect(clock.byteRate()).toBeCloseTo(375_000, -2);
    expect(worstBackwardStep(clock, joined.length)).toBe(0);
  });

  test("several programs with PCRs on their own PIDs: it keeps the first, without a break", () => {
    // One mux clock, PCRs every 20 ms: one in five on 0x100 (every 100 ms), the rest on 0x200.
    const ts = makeCbrTs({ bitrate: 2_000_000, duration: 3, pcrPid: 0x100, firstPcr: 0x100 });
    let n = 0;
    for (let at = 0; at < ts.length; at += TS_SIZE) {
      if (!tsHasPcr(ts, at) || n++ % 5 === 0) continue;
      ts[at + 1] = (ts[at + 1]! & 0xe0) | 0x02;
      ts[at + 2] = 0x00;
    }
    const clock = new PcrClock();
    observeInChunks(clock, ts);
    expect(clock.pcrPid).toBe(0x100);
    expect(clock.discontinuities()).toBe(0);
    expect(clock.timeAt(ts.length) / 1e6).toBeCloseTo(3, 1);
  });

  test("follows only the chosen PCR PID", () => {
    const ts = makeCbrTs({ bitrate: 1_000_000, duration: 0.5, pcrPid: 0x200 });
    const other = new PcrClock({ pcrPid: 0x300 });
    other.observe(ts, 0);
    expect(other.byteRate()).toBe(0);
    const right = new PcrClock({ pcrPid: 0x200 });
    right.observe(ts, 0);
    expect(right.byteRate()).toBeCloseTo(125_000, 3);
  });

  test("handles the 33-bit PCR wrap without a discontinuity", () => {
    const ts = makeCbrTs({ bitrate: 1_000_000, duration: 2, firstPcr: PCR_WRAP - PCR_HZ });
    const clock = new PcrClock();
    clock.observe(ts, 0);
    expect(clock.discontinuities()).toBe(0);
    expect(clock.timeAt(ts.length)).toBeCloseTo((ts.length / 125_000) * 1e6, 0);
  });

  test("a discontinuity_indicator continues the time line at the previous rate", () => {
    const a = makeCbrTs({ bitrate: 1_000_000, duration: 1, firstPcr: 100 * PCR_HZ });
    const b = makeCbrTs({ bitrate: 2_000_000, duration: 1, firstPcr: 101.5 * PCR_HZ }); // a sane-looking 0.5 s jump: only the flag tells
    markDiscontinuityAt(b, 0);
    const ts = new Uint8Array(a.length + b.length);
    ts.set(a, 0);
    ts.set(b, a.length);
    const clock = new PcrClock();
    observeInChunks(clock, ts);
    expect(clock.discontinuities()).toBe(1);
    // The join is paced at a's rate (not 0.5 s on, as b's PCR claims), then b runs at its own.
    expect(clock.timeAt(a.length)).toBeCloseTo((a.length / 125_000) * 1e6, 0);
    expect(clock.timeAt(ts.length)).toBeCloseTo((a.length / 125_000 + b.length / 250_000) * 1e6, 0);
    expect(clock.byteRate()).toBeCloseTo(250_000, 3);
    expect(worstBackwardStep(clock, ts.length)).toBe(0);
  });

  test("forget drops old anchors but keeps later answers", () => {
    const ts = makeCbrTs({ bitrate: 1_000_000, duration: 3 });
    const clock = new PcrClock({ capacity: 64 });
    observeInChunks(clock, ts, 4096);
    const late = clock.timeAt(ts.length - TS_SIZE);
    clock.forget(ts.length / 2);
    expect(clock.timeAt(ts.length - TS_SIZE)).toBe(late);
    expect(clock.timeAt(ts.length - TS_SIZE)).toBeCloseTo(((ts.length - TS_SIZE) / 125_000) * 1e6, 0);
  });

  test("a time line that grows past its first room, while forgetting behind, answers every anchor exactly", () => {
    // 4 s alternating 0.5 and 1.5 Mbit/s with continuous PCRs (200 anchors). A sender close behind
    // forgets all but a dozen at first, so the ring has wrapped, then one far behind keeps 100 or
    // more: the time line grows past its first 64 of room with its oldest anchor mid-ring.
    const pieces: Uint8Array[] = [];
    let pcr = 10 * PCR_HZ;
    for (let k = 0; k < 8; k++) {
      const bitrate = k % 2 === 0 ? 500_000 : 1_500_000;
      const piece = makeCbrTs({ bitrate, duration: 0.5, firstPcr: pcr });
      pieces.push(piece);
      pcr += Math.round((piece.length * PCR_HZ) / (bitrate / 8));
    }
    const ts = Buffer.concat(pieces);
    const anchors: [number, number][] = [];
    for (let at = 0; at < ts.length; at += TS_SIZE) if (tsHasPcr(ts, at)) anchors.push([at, tsGetPcr(ts, at) - 10 * PCR_HZ]);
    expect(anchors.length).toBeGreaterThan(150);
    const clock = new PcrClock();
    const chunk = 4096;
    let checked = 0;
    let sentUpTo = 0;
    for (let o = 0; o < ts.length; o += chunk) {
      clock.observe(ts.subarray(o, o + chunk), o);
      // The sender keeps up for the first half, then stalls until it is 256 KiB behind.
      sentUpTo = Math.max(sentUpTo, o - (o < ts.length / 2 ? 16 * 1024 : 256 * 1024));
      clock.forget(sentUpTo);
      for (const [at, ticks] of anchors) {
        if (at < sentUpTo || at >= o) continue;
        expect(clock.timeAt(at)).toBeCloseTo(ticks / 27, 6);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(3000);
  });

  test("property: timeAt is non-decreasing over any offsets, whatever the PCRs do", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({
          seconds: fc.double({ min: 0.05, max: 0.5, noNaN: true }),
          bitrate: fc.integer({ min: 100_000, max: 20_000_000 }),
          firstPcr: fc.integer({ min: 0, max: PCR_WRAP - 1 }),
          flag: fc.boolean(),
        }), { minLength: 1, maxLength: 4 }),
        fc.array(fc.nat(2_000_000), { minLength: 2, maxLength: 50 }),
        fc.nat(3),
        (parts, offsets, garbage) => {
          const pieces = parts.map((p) => {
            const ts = makeCbrTs({ bitrate: p.bitrate, duration: p.seconds, firstPcr: p.firstPcr });
            if (p.flag) markDiscontinuityAt(ts, 0);
            return ts;
          });
          let ts: Uint8Array = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
          let at = 0;
          for (const p of pieces) { ts.set(p, at); at += p.length; }
          if (garbage > 0) ts = insertBytes(ts, Math.floor(ts.length / 2), garbageBytes(garbage * 61));
          const clock = new PcrClock();
          observeInChunks(clock, ts, 7919);
          const sorted = [...offsets].sort((x, y) => x - y);
          for (let i = 1; i < sorted.length; i++) {
            if (clock.timeAt(sorted[i]) < clock.timeAt(sorted[i - 1])) return false;
          }
          return true;
        },
      ),
      { numRuns: 60 },
    );
  });

  test.skipIf(!FFMPEG)("on an ffmpeg 1.5 Mbit/s TS: rate within 0.5%, monotonic across a loop of the file", () => {
    const bytes = new Uint8Array(readFileSync(ffmpegTs(tmp.dir)));
    const single = new PcrClock();
    observeInChunks(single, bytes);
    expect(Math.abs(single.byteRate() - 1_500_000 / 8) / (1_500_000 / 8)).toBeLessThan(0.005);
    expect(worstBackwardStep(single, bytes.length)).toBe(0);

    const looped = new Uint8Array(bytes.length * 2);
    looped.set(bytes, 0);
    looped.set(bytes, bytes.length);
    const clock = new PcrClock();
    observeInChunks(clock, looped);
    expect(clock.discontinuities()).toBe(1); // the PCR jumps back at the join
    expect(worstBackwardStep(clock, looped.length)).toBe(0);
    // The second copy takes as long as the first.
    const end = clock.timeAt(looped.length);
    expect(Math.abs(end - 2 * single.timeAt(bytes.length)) / end).toBeLessThan(0.005);
    expect(Math.abs(clock.byteRate() - 187_500) / 187_500).toBeLessThan(0.005);
  });
});

describe("PcrPidLock", () => {
  const ms = (n: number) => (n * PCR_HZ) / 1000;

  test("a discontinuity_indicator on the PID followed marks its next PCR, once", () => {
    const lock = new PcrPidLock();
    expect(lock.take(0x100, ms(0), 0)).toBe(true);
    lock.flag(0x100);
    expect(lock.take(0x100, ms(5000), 188)).toBe(true);
    expect(lock.flagged).toBe(true);
    expect(lock.take(0x100, ms(5040), 376)).toBe(true);
    expect(lock.flagged).toBe(false);
  });

  test("one on the PID it may switch to starts that PID's 250 ms again: the switch is timed from its new clock", () => {
    const lock = new PcrPidLock();
    expect(lock.take(0x100, ms(0), 0)).toBe(true);
    expect(lock.take(0x200, ms(1000), 1000)).toBe(false);
    // A flagged jump 0.3 s on within the window: not 300 ms of this PID's clock.
    lock.flag(0x200);
    expect(lock.take(0x200, ms(1300), 2000)).toBe(false);
    expect(lock.take(0x200, ms(1500), 3000)).toBe(false);
    expect(lock.take(0x200, ms(1600), 4000)).toBe(true);
    expect(lock.switched).toBe(true);
    expect([lock.switchPcr, lock.switchOffset]).toEqual([ms(1300), 2000]);
    expect(lock.flagged).toBe(false);
  });
});

describe("ScrClock", () => {
  test("paces a synthetic MPEG-2 PS at its SCRs", () => {
    const ps = makeCbrPs({ muxRate: 100_000, duration: 2 });
    const clock = new ScrClock();
    observeInChunks(clock, ps, 5000);
    expect(clock.muxRate()).toBe(100_000);
    expect(clock.byteRate()).toBeCloseTo(100_000, 3);
    expect(clock.timeAt(ps.length / 2)).toBeCloseTo((ps.length / 2 / 100_000) * 1e6, 1);
  });

  test("falls back to program_mux_rate when SCRs are garbage or missing", () => {
    const garbage = makeCbrPs({ muxRate: 50_000, duration: 1 });
    const missing = makeCbrPs({ muxRate: 50_000, duration: 1 });
    let seed = 5;
    for (let at = 0; at < garbage.length; at += 2048) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      psWriteMpeg2Pack(garbage, at, seed * 4096, 50_000); // random SCRs, valid markers
      psWriteMpeg2Pack(missing, at, 0, 50_000); // every SCR 0: no clock at all
    }
    const muxSeconds = garbage.length / 50_000;

    const noClock = new ScrClock();
    noClock.observe(missing, 0);
    expect(noClock.discontinuities()).toBe(0);
    expect(noClock.timeAt(missing.length) / 1e6).toBeCloseTo(muxSeconds, 5);

    const badClock = new ScrClock();
    badClock.observe(garbage, 0);
    expect(badClock.discontinuities()).toBeGreaterThan(0);
    expect(worstBackwardStep(badClock, garbage.length)).toBe(0);
    // Random steps that happen to look sane are followed, the rest go at the mux rate.
    expect(badClock.timeAt(garbage.length) / 1e6).toBeGreaterThan(muxSeconds / 2);
    expect(badClock.timeAt(garbage.length) / 1e6).toBeLessThan(muxSeconds + 10);
  });

  test("follows SCRs that run faster than program_mux_rate says (GStreamer's mpegpsmux writes 409600 bit/s at first)", () => {
    const rate = 400_000; // 3.2 Mbit/s
    const ps = makeCbrPs({ muxRate: rate, duration: 4 });
    for (let at = 0; at < ps.length; at += 2048) psWriteMpeg2Pack(ps, at, Math.round((at * PCR_HZ) / rate), 51_200);
    const clock = new ScrClock();
    observeInChunks(clock, ps);
    expect(clock.discontinuities()).toBe(0);
    // Held to 51200 B/s it took 30 s.
    expect(clock.timeAt(ps.length) / 1e6).toBeCloseTo(4, 2);
    expect(clock.timeAt(ps.length / 2) / 1e6).toBeCloseTo(2, 2);
  });

  test.skipIf(!FFMPEG)("on ffmpeg program streams (MPEG-1 and MPEG-2) gives a sane rate and duration", () => {
    for (const kind of ["mpeg1", "mpeg2"] as const) {
      const path = ffmpegPs(tmp.dir, kind);
      const bytes = new Uint8Array(readFileSync(path));
      const clock = new ScrClock();
      observeInChunks(clock, bytes);
      expect(clock.muxRate()).toBe(125_000);
      expect(clock.byteRate()).toBeGreaterThan(10_000);
      expect(clock.byteRate()).toBeLessThanOrEqual(2 * 125_000);
      expect(worstBackwardStep(clock, bytes.length)).toBe(0);
      // ffmpeg's PS muxer is not CBR (SCR jumps while idle); the SCR time line still spans the clip.
      const seconds = clock.timeAt(bytes.length) / 1e6;
      expect(Math.abs(seconds - ffprobeDuration(path)) / ffprobeDuration(path)).toBeLessThan(0.1);
    }
  });
});

describe("a clock's stretches (what a destination's reader keeps, to time units without the clock)", () => {
  /**
   * Feeds `bytes` in chunks; after each, takes the stretch at a spread of offsets already observed.
   * Every stretch must answer as the clock does, to the bit, over the whole of it, both when taken
   * and after everything later was observed and what lies behind it forgotten: a stretch never changes.
   */
  function checkStretches(clock: ByteClock, bytes: Uint8Array, chunk: number): number {
    const kept: ClockStretch[] = [];
    for (let o = 0; o < bytes.length; o += chunk) {
      clock.observe(bytes.subarray(o, o + chunk), o);
      for (let at = Math.max(0, o - 4 * chunk); at < o + chunk; at += 997) {
        const stretch = new ClockStretch();
        clock.stretchAt!(at, stretch);
        if (!stretch.holds(at)) continue;
        expect(stretch.timeAt(at)).toBe(clock.timeAt(at));
        kept.push(stretch);
      }
    }
    clock.forget(bytes.length / 2);
    let checked = 0;
    for (const s of kept) {
      if (s.from < bytes.length / 2) continue;
      const end = Math.min(s.to, bytes.length);
      for (let at = s.from; at < end; at += Math.max(1, Math.floor((end - s.from) / 7))) {
        expect(s.timeAt(at)).toBe(clock.timeAt(at));
        checked++;
      }
    }
    return checked;
  }

  test("a TS's PCR segments, across a discontinuity and garbage, answer as the clock does, and never change", () => {
    const a = makeCbrTs({ bitrate: 1_500_000, duration: 2, firstPcr: PCR_WRAP - 27_000_000 });
    const b = makeCbrTs({ bitrate: 4_000_000, duration: 1, firstPcr: 5_000 });
    markDiscontinuityAt(b, 0);
    const ts = insertBytes(new Uint8Array([...a, ...b]), 300 * TS_SIZE, garbageBytes(61));
    expect(checkStretches(new PcrClock(), ts, 7919)).toBeGreaterThan(500);
  });

  test("one stretch kept and moved on, as a reader does, while the line forgets behind it and grows ahead, answers as the clock does", () => {
    const ts = makeCbrTs({ bitrate: 2_000_000, duration: 4, pcrIntervalMs: 30 });
    const clock = new PcrClock({ capacity: 16 });
    const stretch = new ClockStretch();
    let asked = 0;
    let movedOn = 0;
    let checked = 0;
    for (let o = 0; o < ts.length; o += 7919) {
      clock.observe(ts.subarray(o, o + 7919), o);
      clock.forget(o - 3 * 7919);
      for (let at = Math.max(0, o - 2 * 7919); at < o; at += 1316) {
        if (!stretch.holds(at)) {
          // As a reader does: through the segments the stretch kept ahead, then the clock.
          if (stretch.moveOn(at)) movedOn++;
          else {
            clock.stretchAt(at, stretch);
            asked++;
          }
        }
        if (!stretch.holds(at)) continue;
        expect(stretch.timeAt(at)).toBe(clock.timeAt(at));
        checked++;
      }
    }
    expect(movedOn).toBeGreaterThan(100);
    // Most segment changes need no clock: it is asked where the line ran out of kept segments.
    expect(asked).toBeLessThan(movedOn / 2);
    expect(checked).toBeGreaterThan(1000);
  });

  test("none from the last PCR on: there the line waits for the next one", () => {
    const ts = makeCbrTs({ bitrate: 1_500_000, duration: 1 });
    const clock = new PcrClock();
    clock.observe(ts, 0);
    const stretch = new ClockStretch();
    clock.stretchAt(ts.length - 1, stretch);
    expect(stretch.holds(ts.length - 1)).toBe(false);
    clock.stretchAt(ts.length / 2, stretch);
    expect(stretch.holds(ts.length / 2)).toBe(true);
    expect(stretch.to).toBeLessThan(ts.length);
  });

  test("a PS's SCR segments answer as the clock does, and a constant rate is one stretch from byte 0", () => {
    expect(checkStretches(new ScrClock(), makeCbrPs({ muxRate: 2_000_000, duration: 2 }), 5003)).toBeGreaterThan(200);
    const constant = new ConstantRateClock(1_500_000);
    const stretch = new ClockStretch();
    constant.stretchAt(12_345, stretch);
    expect(stretch.from).toBe(0);
    expect(stretch.to).toBe(Infinity);
    for (const at of [0, 1316, 187_500, 10_000_019]) expect(stretch.timeAt(at)).toBe(constant.timeAt(at));
    expect(constant.timeAt(187_500)).toBe(1_000_000);
  });
});
