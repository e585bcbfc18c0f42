import { afterAll, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { readFileSync } from "node:fs";
import { detectContainer, probePs, probeTs } from "../../protocol/mpeg_probe.ts";
import { psWriteMpeg2Pack } from "../../protocol/mpegps.ts";
import { PCR_HZ, PCR_WRAP, TS_SIZE, tsGetPcr, tsHasPcr, tsSetPcr } from "../../protocol/mpegts.ts";
import {
  ffmpegPs, ffmpegTs, ffprobeDuration, ffprobePcrPid, garbageBytes, haveFfmpeg, insertBytes, makeCbrPs,
  makeCbrTs, makeTempDir, markDiscontinuityAt,
} from "../helpers/mpeg_fixtures.ts";

const FFMPEG = haveFfmpeg();
const tmp = makeTempDir();
afterAll(() => tmp.cleanup());

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

describe("detectContainer", () => {
  test("tells TS (even after a little garbage) from PS, and neither from noise", () => {
    const ts = makeCbrTs({ bitrate: 1_000_000, duration: 0.1 });
    const ps = makeCbrPs({ muxRate: 100_000, duration: 0.1 });
    expect(detectContainer(ts)).toBe("mpegts");
    expect(detectContainer(insertBytes(ts, 0, garbageBytes(100)))).toBe("mpegts");
    expect(detectContainer(ps)).toBe("mpegps");
    expect(detectContainer(insertBytes(ps, 0, new Uint8Array(20)))).toBe("mpegps");
    expect(detectContainer(garbageBytes(8192))).toBeNull();
    expect(detectContainer(new Uint8Array(0))).toBeNull();
    expect(detectContainer(ts.subarray(0, 300))).toBeNull(); // too short to confirm
  });

  test("property: never throws on arbitrary bytes", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 2000 }), (b) => {
      const r = detectContainer(b);
      return r === null || r === "mpegts" || r === "mpegps";
    }));
  });
});

describe("probeTs", () => {

  test("files joined whose PCR PIDs differ: the duration is the parts' (it timed the second at the first's rate)", () => {
    const a = makeCbrTs({ bitrate: 1_000_000, duration: 1, pcrPid: 0x100 });
    const b = makeCbrTs({ bitrate: 3_000_000, duration: 1, pcrPid: 0x200, payloadPid: 0x201, firstPcr: 500 * PCR_HZ });
    const p = probeTs(concat(a, b));
    expect(p.pcrPid).toBe(0x100);
    expect(p.durationUs! / 1e6).toBeGreaterThan(1.9);
    expect(p.durationUs! / 1e6).toBeLessThan(2.15);
  });
  test("reports PIDs, PCR PID, bit rate and duration of a synthetic CBR TS", () => {
    const ts = makeCbrTs({ bitrate: 3_000_000, duration: 4, pcrPid: 0x44, payloadPid: 0x45 });
    const p = probeTs(insertBytes(ts, 50 * TS_SIZE, garbageBytes(99)));
    expect(p.pcrPid).toBe(0x44);
    expect(p.pids.map((x) => x.pid)).toEqual([0x44, 0x45]);
    expect(p.packets).toBe(ts.length / TS_SIZE);
    expect(p.garbageBytes).toBe(99);
    expect(p.bitrate! / 3_000_000).toBeCloseTo(1, 3); // the garbage adds 99 bytes to one PCR interval
    // 99 garbage bytes still take wire time at the stream's rate.
    expect(p.durationUs! / 1e6).toBeCloseTo((ts.length + 99) / 375_000, 3);
    expect(p.discontinuities).toBe(0);
  });

  test("garbage before the first PCR or after the last is no time: play leaves it out (1 MiB of zeros after a 4 s file read as 15 s)", () => {
    const ts = makeCbrTs({ bitrate: 1_000_000, duration: 4 });
    const clean = probeTs(ts).durationUs!;
    const padded = probeTs(concat(concat(garbageBytes(5000), ts), new Uint8Array(1 << 20)));
    expect(padded.garbageBytes).toBe(5000 + (1 << 20));
    expect(padded.durationUs).toBe(clean);
  });

  test("duration survives the PCR wrap and a head+tail sample", () => {
    const ts = makeCbrTs({ bitrate: 1_000_000, duration: 10, firstPcr: PCR_WRAP - 5 * PCR_HZ });
    expect(probeTs(ts).durationUs! / 1e6).toBeCloseTo(ts.length / 125_000, 3);
    const headTail = concat(ts.subarray(0, 100 * TS_SIZE), ts.subarray(ts.length - 100 * TS_SIZE));
    // Told where the seam is: elsewhere a PCR jump of more than 1 s is a discontinuity, not time.
    const p = probeTs(headTail, { seamAt: 100 * TS_SIZE });
    expect(p.durationUs! / 1e6).toBeCloseTo(ts.length / 125_000, 1);
    expect(p.bitrate! / 1_000_000).toBeCloseTo(1, 3);
  });

  test("a file looped onto itself reports one discontinuity and twice the duration", () => {
    const ts = makeCbrTs({ bitrate: 1_000_000, duration: 2 });
    const p = probeTs(concat(ts, ts));
    expect(p.discontinuities).toBe(1);
    expect(p.durationUs! / 1e6).toBeCloseTo((2 * ts.length) / 125_000, 3);
  });

  test("a 10 s TS whose PCRs jump 60 s halfway lasts 10 s, not 70: a jump over 1 s is a discontinuity", () => {
    const first = makeCbrTs({ bitrate: 1_000_000, duration: 5 });
    const second = makeCbrTs({ bitrate: 1_000_000, duration: 5, firstPcr: 10 * PCR_HZ + 65 * PCR_HZ });
    const p = probeTs(concat(first, second));
    expect(p.discontinuities).toBe(1);
    expect(p.durationUs! / 1e6).toBeCloseTo(10, 2);
    expect(p.bitrate! / 1_000_000).toBeCloseTo(1, 3);
  });

  test("a large file's head and tail: a step across the seam that does not fit the bytes cut out is timed by them", () => {
    const ts = makeCbrTs({ bitrate: 1_000_000, duration: 10 });
    const head = ts.subarray(0, 100 * TS_SIZE);
    const tail = ts.slice(ts.length - 100 * TS_SIZE);
    const cutBytes = ts.length - head.length - tail.length;
    expect(probeTs(concat(head, tail), { seamAt: head.length, cutBytes }).durationUs! / 1e6).toBeCloseTo(10, 2);
    // The PCRs in the middle jumped 60 s (unseen): the cut bytes still take 10 s at the rate.
    for (let at = 0; at < tail.length; at += TS_SIZE) {
      if (tsHasPcr(tail, at)) tsSetPcr(tail, at, tsGetPcr(tail, at) + 60 * PCR_HZ);
    }
    expect(probeTs(concat(head, tail), { seamAt: head.length, cutBytes }).durationUs! / 1e6).toBeCloseTo(10, 2);
  });

  test("a large file's head and tail: a flagged step across the seam is a break, however well it would fit the cut", () => {
    const ts = makeCbrTs({ bitrate: 1_000_000, duration: 10 });
    const head = ts.subarray(0, 100 * TS_SIZE);
    const tail = ts.slice(ts.length - 100 * TS_SIZE);
    const cutBytes = ts.length - head.length - tail.length;
    // A new clock 4 s behind, said by discontinuity_indicator: unflagged, the step over the cut
    // (about 5.8 s for 9.7 s of bytes) is within a factor of two, and was taken for time.
    for (let at = 0; at < tail.length; at += TS_SIZE) {
      if (tsHasPcr(tail, at)) tsSetPcr(tail, at, tsGetPcr(tail, at) - 4 * PCR_HZ);
    }
    markDiscontinuityAt(tail, 0);
    expect(probeTs(concat(head, tail), { seamAt: head.length, cutBytes }).durationUs! / 1e6).toBeCloseTo(10, 2);
  });

  test("a cut-off last packet is not counted as garbage: play sends it as it is", () => {
    const ts = makeCbrTs({ bitrate: 1_000_000, duration: 1 });
    const p = probeTs(concat(insertBytes(ts, 20 * TS_SIZE, garbageBytes(300)), ts.subarray(0, 100)));
    expect(p.garbageBytes).toBe(300);
    expect(p.cutOffBytes).toBe(100);
  });

  test.skipIf(!FFMPEG)("agrees with ffprobe on an ffmpeg TS: PCR PID and duration within 2%", () => {
    const path = ffmpegTs(tmp.dir);
    const p = probeTs(new Uint8Array(readFileSync(path)));
    expect(p.pcrPid).toBe(ffprobePcrPid(path));
    const expected = ffprobeDuration(path);
    expect(Math.abs(p.durationUs! / 1e6 - expected) / expected).toBeLessThan(0.02);
    expect(Math.abs(p.bitrate! - 1_500_000) / 1_500_000).toBeLessThan(0.005);
    expect(p.garbageBytes).toBe(0);
  });
});

describe("probePs", () => {
  test("packs that all say SCR 0 (no clock) are timed at the mux rate, as pacing times them (they counted as no time)", () => {
    const ps = makeCbrPs({ muxRate: 125_000, duration: 2 });
    for (let at = 0; at < ps.length; at += 2048) psWriteMpeg2Pack(ps, at, 0, 125_000);
    const p = probePs(ps);
    expect(p.durationUs! / 1e6).toBeCloseTo(2, 2);
    expect(p.discontinuities).toBe(0);
  });

  test("reports version, mux rate and duration of a synthetic MPEG-2 PS", () => {
    const ps = makeCbrPs({ muxRate: 100_000, duration: 3 });
    const p = probePs(ps);
    expect(p.mpegVersion).toBe(2);
    expect(p.muxRate).toBe(100_000);
    expect(p.packs).toBe(ps.length / 2048);
    expect(p.streams).toEqual([{ streamId: 0xbe, packets: ps.length / 2048 }]);
    expect(p.durationUs! / 1e6).toBeCloseTo(ps.length / 100_000, 3);
  });

  test.skipIf(!FFMPEG)("agrees with ffprobe on ffmpeg program streams within 10%", () => {
    for (const [kind, version] of [["mpeg1", 1], ["mpeg2", 2]] as const) {
      const path = ffmpegPs(tmp.dir, kind);
      const p = probePs(new Uint8Array(readFileSync(path)));
      expect(p.mpegVersion).toBe(version);
      expect(p.muxRate).toBe(125_000);
      expect(p.streams.some((s) => s.streamId === 0xe0)).toBe(true);
      // ffprobe times by PTS; ffmpeg's PS SCRs jump while the muxer idles, so the
      // bytes after the last pack are timed at an average rate: a looser bound than TS.
      const expected = ffprobeDuration(path);
      expect(Math.abs(p.durationUs! / 1e6 - expected) / expected).toBeLessThan(0.1);
    }
  });
});
