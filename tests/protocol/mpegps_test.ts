import { afterAll, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { readFileSync } from "node:fs";
import {
  PS_MPEG1_PACK_SIZE, PsScanner, psFindPack, psIsPackStart, psPackMarkersValid, psPackMuxRate,
  psPackMuxRateBytes, psPackScr, psPackScrBase, psPackScrExt, psPackSize, psPackStuffingLength,
  psPackVersion, psWriteMpeg2Pack,
} from "../../protocol/mpegps.ts";
import { PCR_HZ } from "../../protocol/mpegts.ts";
import { ffmpegPs, haveFfmpeg, insertBytes, makeCbrPs, makeTempDir } from "../helpers/mpeg_fixtures.ts";

const FFMPEG = haveFfmpeg();
const tmp = makeTempDir();
afterAll(() => tmp.cleanup());

/** An MPEG-1 pack header (11172-1 §2.4.3.2) written bit by bit, independent of the parser. */
function mpeg1Pack(scr90k: number, muxRate50: number): Uint8Array {
  const bits: number[] = [];
  const put = (n: number, v: number) => { for (let i = n - 1; i >= 0; i--) bits.push(Math.floor(v / 2 ** i) % 2); };
  put(32, 0x000001ba);
  put(4, 0b0010); put(3, Math.floor(scr90k / 2 ** 30)); put(1, 1);
  put(15, Math.floor(scr90k / 2 ** 15) % 2 ** 15); put(1, 1);
  put(15, scr90k % 2 ** 15); put(1, 1);
  put(1, 1); put(22, muxRate50); put(1, 1);
  const out = new Uint8Array(bits.length / 8);
  for (let i = 0; i < bits.length; i++) out[i >> 3] |= bits[i] << (7 - (i & 7));
  return out;
}

/** Every pack the scanner reports for `bytes` cut at `cuts`. */
function packsInChunks(bytes: Uint8Array, cuts: number[]): { offsets: number[]; skipped: number } {
  const scanner = new PsScanner();
  const offsets: number[] = [];
  let from = 0;
  for (const cut of [...cuts, bytes.length].sort((a, b) => a - b)) {
    scanner.push(bytes.subarray(from, cut), (buf, at, off) => {
      expect(psIsPackStart(buf, at)).toBe(true);
      offsets.push(off);
    });
    from = cut;
  }
  return { offsets, skipped: scanner.skipped };
}

describe("pack headers", () => {
  test("MPEG-1 pack: SCR is 90 kHz * 300, mux rate in 50 byte/s units", () => {
    const p = mpeg1Pack(2 ** 33 - 1, 2500);
    expect(p.length).toBe(PS_MPEG1_PACK_SIZE);
    expect(psPackVersion(p, 0)).toBe(1);
    expect(psPackMarkersValid(p, 0)).toBe(true);
    expect(psPackScrBase(p, 0)).toBe(2 ** 33 - 1);
    expect(psPackScrExt(p, 0)).toBe(0);
    expect(psPackScr(p, 0)).toBe((2 ** 33 - 1) * 300);
    expect(psPackMuxRate(p, 0)).toBe(2500);
    expect(psPackMuxRateBytes(p, 0)).toBe(125_000);
    expect(psPackSize(p, 0)).toBe(12);
    expect(psPackScr(mpeg1Pack(90_000, 1), 0)).toBe(PCR_HZ);
  });

  test("property: MPEG-2 pack SCR (base and ext) and mux rate round-trip", () => {
    const p = new Uint8Array(20);
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 33 - 1 }),
        fc.integer({ min: 0, max: 299 }),
        fc.integer({ min: 1, max: 2 ** 22 - 1 }),
        (base, ext, mux) => {
          psWriteMpeg2Pack(p, 1, base * 300 + ext, mux * 50);
          return psPackVersion(p, 1) === 2 && psPackMarkersValid(p, 1) && psPackScrBase(p, 1) === base &&
            psPackScrExt(p, 1) === ext && psPackMuxRate(p, 1) === mux && psPackSize(p, 1) === 14;
        },
      ),
    );
  });

  test("MPEG-2 pack_stuffing_length extends the header", () => {
    const p = new Uint8Array(24);
    psWriteMpeg2Pack(p, 0, 0, 1000);
    p[13] = 0xf8 | 3;
    expect(psPackStuffingLength(p, 0)).toBe(3);
    expect(psPackSize(p, 0)).toBe(17);
  });
});

describe("finding packs", () => {
  test("psFindPack skips garbage and a start code with broken markers", () => {
    const ps = makeCbrPs({ muxRate: 100_000, duration: 0.1 });
    const fake = new Uint8Array([0, 0, 1, 0xba, 0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // markers all 0
    const buf = insertBytes(ps, 0, new Uint8Array([9, 9, ...fake, 7]));
    expect(psFindPack(buf, 0)).toBe(2 + fake.length + 1);
  });

  test("the scanner walks PES lengths, so a pack start code inside a payload is not a pack", () => {
    const ps = makeCbrPs({ muxRate: 100_000, duration: 0.1 });
    psWriteMpeg2Pack(ps, 100, 12345, 100_000); // inside the first padding packet
    const { offsets } = packsInChunks(ps, []);
    expect(offsets).toEqual(Array.from({ length: ps.length / 2048 }, (_, k) => k * 2048));
  });

  test("property: leading garbage is counted once, whatever the chunking", () => {
    const ps = makeCbrPs({ muxRate: 100_000, duration: 0.2 });
    const buf = insertBytes(ps, 0, new Uint8Array(333).fill(0xaa));
    const whole = packsInChunks(buf, []);
    expect(whole.skipped).toBe(333);
    expect(whole.offsets.length).toBe(ps.length / 2048);
    fc.assert(
      fc.property(fc.array(fc.nat(buf.length), { maxLength: 25 }), (cuts) => {
        expect(packsInChunks(buf, cuts)).toEqual(whole);
      }),
      { numRuns: 150 },
    );
  });

  test.skipIf(!FFMPEG)("finds every pack of ffmpeg's MPEG-1 (-f mpeg) and MPEG-2 (-f vob) streams", () => {
    for (const [kind, version] of [["mpeg1", 1], ["mpeg2", 2]] as const) {
      const bytes = new Uint8Array(readFileSync(ffmpegPs(tmp.dir, kind)));
      const naive: number[] = [];
      for (let at = psFindPack(bytes, 0); at >= 0; at = psFindPack(bytes, at + 4)) naive.push(at);
      const { offsets, skipped } = packsInChunks(bytes, [1000, 70_000]);
      expect(skipped).toBe(0);
      expect(offsets).toEqual(naive);
      expect(psPackVersion(bytes, 0)).toBe(version);
      expect(psPackMuxRateBytes(bytes, 0)).toBe(125_000); // -muxrate 1000000 bit/s
      let prev = -1;
      for (const at of offsets) {
        expect(psPackScr(bytes, at)).toBeGreaterThanOrEqual(prev);
        prev = psPackScr(bytes, at);
      }
    }
  });
});
