/**
 * M2TS (192-byte BDAV packets, issue 10 item 8): its header fields, telling
 * it from TS by content, finding its packets past garbage, and pacing by its
 * arrival time stamps on a manual time line (no clock needed: the clock maps
 * bytes to µs).
 */
import { afterAll, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { readFileSync } from "node:fs";
import {
  ATS_WRAP, M2TS_PACKING, M2TS_SIZE, m2tsGetArrivalTime, m2tsGetCopyPermission, m2tsSetArrivalTime,
} from "../../protocol/mpeg_m2ts.ts";
import { detectContainer, probeTs, tsPackingOf } from "../../protocol/mpeg_probe.ts";
import { ArrivalClock } from "../../protocol/mpeg_timing.ts";
import { PCR_HZ, TS_PACKING, TS_RS_PACKING, TS_SIZE, TsScanner } from "../../protocol/mpegts.ts";
import {
  ffmpegM2ts, garbageBytes, haveFfmpeg, insertBytes, makeCbrTs, makeM2ts, makeRsTs, makeTempDir, makeTrailedTs, stripM2ts,
} from "../helpers/mpeg_fixtures.ts";

const FFMPEG = haveFfmpeg();
const tmp = makeTempDir();
afterAll(() => tmp.cleanup());

/** Feeds an M2TS to an ArrivalClock as play does: stamps handed over as packets are read, then the stripped bytes observed. */
function paceM2ts(m2ts: Uint8Array, chunkBytes = 5000): ArrivalClock {
  const clock = new ArrivalClock();
  const ts = stripM2ts(m2ts);
  for (let k = 0; k * M2TS_SIZE < m2ts.length; k++) clock.arrived(m2tsGetArrivalTime(m2ts, k * M2TS_SIZE));
  for (let at = 0; at < ts.length; at += chunkBytes) clock.observe(ts.subarray(at, at + chunkBytes), at);
  return clock;
}

describe("M2TS header", () => {
  test("arrival_time_stamp round-trips in place, modulo 2^30, keeping copy_permission_indicator", () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: 0, max: 3 }), (ats, cpi) => {
      const p = new Uint8Array(M2TS_SIZE + 3);
      p[3] = cpi << 6;
      m2tsSetArrivalTime(p, 3, ats);
      return m2tsGetArrivalTime(p, 3) === ats % ATS_WRAP && m2tsGetCopyPermission(p, 3) === cpi;
    }));
  });
});

describe("telling M2TS from TS by content", () => {
  const ts = makeCbrTs({ bitrate: 1_000_000, duration: 0.2 });
  const m2ts = makeM2ts(ts, (k) => k * 1000);

  test("192-byte packets are M2TS whatever the name; 188-byte ones TS; both are MPEG-TS", () => {
    expect(detectContainer(m2ts)).toBe("mpegts");
    expect(tsPackingOf(m2ts)).toBe(M2TS_PACKING);
    expect(tsPackingOf(insertBytes(m2ts, 0, garbageBytes(100)))).toBe(M2TS_PACKING);
    expect(tsPackingOf(ts)).toBe(TS_PACKING);
    expect(tsPackingOf(insertBytes(ts, 0, garbageBytes(100)))).toBe(TS_PACKING);
  });

  test("188-byte packets each followed by a 4-byte trailer (sync at 0 of every 192 bytes) are TS with trailers, not M2TS (sync 4 bytes in)", () => {
    const trailed = makeTrailedTs(ts, (k) => Math.imul(k + 1, 2654435761));
    expect(detectContainer(trailed)).toBe("mpegts");
    const trailers = { size: M2TS_SIZE, syncAt: 0 };
    expect(tsPackingOf(trailed)).toEqual(trailers);
    // A few bytes before the first packet leave no room for an M2TS header either.
    expect(tsPackingOf(insertBytes(trailed, 0, garbageBytes(3)))).toEqual(trailers);
    // Trailers that read as arrival stamps (a recorder's timecode) change nothing.
    expect(tsPackingOf(makeTrailedTs(ts, (k) => 1000 + 7 * k))).toEqual(trailers);
    // An M2TS stays M2TS, also where a cut packet's 188 bytes come before its first header.
    expect(tsPackingOf(m2ts)).toBe(M2TS_PACKING);
    expect(tsPackingOf(insertBytes(m2ts, 0, garbageBytes(188)))).toBe(M2TS_PACKING);
  });

  test("204-byte packets (each followed by 16 bytes of Reed-Solomon parity, as DVB-ASI captures keep them) are MPEG-TS in 204-byte units, after garbage too, whatever the name", () => {
    const rs = makeRsTs(ts);
    // It was TS_PACKING, and every packet garbage: "no MPEG-TS packets found".
    expect(detectContainer(rs)).toBe("mpegts");
    expect(tsPackingOf(rs)).toBe(TS_RS_PACKING);
    expect(tsPackingOf(insertBytes(rs, 0, garbageBytes(100)))).toBe(TS_RS_PACKING);
    expect(tsPackingOf(m2ts)).toBe(M2TS_PACKING);
    expect(tsPackingOf(ts)).toBe(TS_PACKING);
  });

  test("an arrival stamp whose first byte is 0x47 (a TS sync 188 bytes on) does not make it TS", () => {
    const fake = makeM2ts(ts, () => 0x07_000000); // CPI 01, top ATS bits 000111: byte 0 is 0x47
    for (let k = 0; k * M2TS_SIZE < fake.length; k++) fake[k * M2TS_SIZE] = 0x47;
    expect(tsPackingOf(fake)).toBe(M2TS_PACKING);
  });
});

describe("finding M2TS packets", () => {
  test("the scanner with M2TS packing reports exactly the garbage between packets", () => {
    const m2ts = makeM2ts(makeCbrTs({ bitrate: 1_000_000, duration: 0.3 }), (k) => k);
    const dirty = insertBytes(insertBytes(m2ts, 10 * M2TS_SIZE, garbageBytes(77)), 0, garbageBytes(5));
    const scanner = new TsScanner(0, M2TS_PACKING);
    const skips: [number, number][] = [];
    scanner.onSkip = (offset, length) => skips.push([offset, length]);
    let packets = 0;
    scanner.push(dirty, () => packets++);
    scanner.flush(() => packets++);
    expect(packets).toBe(m2ts.length / M2TS_SIZE);
    expect(skips).toEqual([[0, 5], [5 + 10 * M2TS_SIZE, 77]]);
  });
});

describe("pacing by arrival stamps", () => {
  test("a stream whose stamps say 1.5 s then 0.5 s is paced so, whatever its PCRs say (1 s and 1 s)", () => {
    const ts = makeCbrTs({ bitrate: 1_000_000, duration: 2 });
    const n = ts.length / TS_SIZE;
    const half = n / 2;
    const stamp = (k: number) => Math.round(k < half ? (k / half) * 1.5 * PCR_HZ : 1.5 * PCR_HZ + ((k - half) / half) * 0.5 * PCR_HZ);
    const clock = paceM2ts(makeM2ts(ts, (k) => 3 * PCR_HZ + stamp(k)));
    expect(clock.timeAt(0)).toBe(0);
    expect(clock.timeAt(half * TS_SIZE)).toBeCloseTo(1_500_000, 0);
    expect(clock.timeAt((n - 1) * TS_SIZE)).toBeCloseTo((stamp(n - 1) / PCR_HZ) * 1e6, 0);
    expect(clock.discontinuities()).toBe(0);
  });

  test("the 30-bit stamp wraps every 39.8 s without a discontinuity", () => {
    const ts = makeCbrTs({ bitrate: 1_000_000, duration: 1 });
    const perPacket = (TS_SIZE * 8 * PCR_HZ) / 1_000_000;
    const clock = paceM2ts(makeM2ts(ts, (k) => ATS_WRAP - PCR_HZ / 2 + Math.round(k * perPacket)));
    expect(clock.discontinuities()).toBe(0);
    expect(clock.timeAt(ts.length - TS_SIZE) / 1e6).toBeCloseTo((ts.length - TS_SIZE) / 125_000, 4);
  });

  test("packets sharing a stamp are spread to the next one, and bursts keep their shape", () => {
    const ts = makeCbrTs({ bitrate: 1_000_000, duration: 0.5 });
    // Bursts of 10 packets stamped alike, 10 ms apart.
    const clock = paceM2ts(makeM2ts(ts, (k) => Math.floor(k / 10) * (PCR_HZ / 100)));
    expect(clock.timeAt(10 * TS_SIZE)).toBeCloseTo(10_000, 0);
    expect(clock.timeAt(15 * TS_SIZE)).toBeCloseTo(15_000, 0);
    expect(clock.timeAt(20 * TS_SIZE)).toBeCloseTo(20_000, 0);
  });

  test("a stamp stepping back (files joined, a loop) is one discontinuity; time goes on", () => {
    const ts = makeCbrTs({ bitrate: 1_000_000, duration: 1 });
    const perPacket = (TS_SIZE * 8 * PCR_HZ) / 1_000_000;
    const m2ts = makeM2ts(ts, (k) => Math.round(k * perPacket));
    const joined = new Uint8Array(2 * m2ts.length);
    joined.set(m2ts, 0);
    joined.set(m2ts, m2ts.length);
    const clock = paceM2ts(joined);
    expect(clock.discontinuities()).toBe(1);
    expect(clock.timeAt(2 * ts.length - TS_SIZE) / 1e6).toBeCloseTo((2 * ts.length - TS_SIZE) / 125_000, 2);
  });
});

describe("probing an M2TS", () => {
  test("reports its stamps' rate and duration and the rate of the 188-byte TS it sends", () => {
    const ts = makeCbrTs({ bitrate: 1_000_000, duration: 2 });
    const perPacket = (TS_SIZE * 8 * PCR_HZ) / 500_000; // stamps at half the PCRs' rate: 4 s
    const p = probeTs(makeM2ts(ts, (k) => Math.round(k * perPacket)), { packing: M2TS_PACKING });
    expect(p.packetSize).toBe(M2TS_SIZE);
    expect(p.packets).toBe(ts.length / TS_SIZE);
    expect(p.bitrate! / 1_000_000).toBeCloseTo(1, 3); // by PCR
    expect(p.arrival!.usable).toBe(true);
    expect(p.arrival!.bitrate! / 500_000).toBeCloseTo(1, 3);
    expect(p.arrival!.durationUs! / 1e6).toBeCloseTo(4, 2);
  });

  test.skipIf(!FFMPEG)("ffmpeg's M2TS (-mpegts_m2ts_mode 1 -muxrate 1.5M): stamps at 1.5 Mbit/s, agreeing with its PCRs", () => {
    const p = probeTs(new Uint8Array(readFileSync(ffmpegM2ts(tmp.dir, 2))), { packing: M2TS_PACKING });
    expect(p.arrival!.usable).toBe(true);
    expect(Math.abs(p.arrival!.bitrate! / 1_500_000 - 1)).toBeLessThan(0.005);
    expect(Math.abs(p.arrival!.durationUs! / p.durationUs! - 1)).toBeLessThan(0.01);
  });

  test("stamps that break at every step (ffmpeg without -muxrate) are not paced by: the PCRs are", () => {
    const ts = makeCbrTs({ bitrate: 1_000_000, duration: 1 });
    const p = probeTs(makeM2ts(ts, (k) => (k * 880_000_000) % ATS_WRAP), { packing: M2TS_PACKING });
    expect(p.arrival!.usable).toBe(false);
    expect(p.bitrate! / 1_000_000).toBeCloseTo(1, 3);
  });
});
