import { describe, expect, test } from "bun:test";
import { heapStats } from "bun:jsc";
import { Carry, type CarryScan } from "../../protocol/chunk_carry.ts";
import { PcrClock, ScrClock } from "../../protocol/mpeg_timing.ts";
import { PsScanner } from "../../protocol/mpegps.ts";
import { TsScanner } from "../../protocol/mpegts.ts";
import { garbageBytes, insertBytes, makeCbrPs, makeCbrTs } from "../helpers/mpeg_fixtures.ts";

/** Packet offsets and skipped bytes from feeding `bytes` to a TS scanner in `parts`, each a range of one buffer. */
function tsPackets(bytes: Uint8Array, cuts: number[]): { offsets: number[]; skips: [number, number][] } {
  const scanner = new TsScanner();
  const offsets: number[] = [];
  const skips: [number, number][] = [];
  scanner.onSkip = (offset, length) => skips.push([offset, length]);
  const onPacket = (_buf: Uint8Array, _at: number, offset: number) => offsets.push(offset);
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    scanner.pushRange(bytes, from, cut, onPacket);
    from = cut;
  }
  scanner.flush(onPacket);
  return { offsets, skips };
}

/** Objects of the kinds a load used to make, alive now (none is collected without an allocation to prompt it); heapStats' own arrays left out. */
function loadGarbage(): number {
  const counts = heapStats().objectTypeCounts;
  return (counts.Uint8Array ?? 0) + (counts.Function ?? 0) + (counts.JSLexicalEnvironment ?? 0);
}

describe("scanning ranges of a loaded buffer, with bytes carried between them", () => {
  test("a TS stream cut anywhere, garbage and all, yields the packets and garbage one whole push does", () => {
    const ts = insertBytes(makeCbrTs({ bitrate: 1_000_000, duration: 0.5 }), 188 * 40 + 188, garbageBytes(77));
    const whole = tsPackets(ts, []);
    expect(whole.skips).toEqual([[188 * 41, 77]]);
    for (const cuts of [[1], [187, 188, 189], [5000, 5001, 188 * 41 + 30, 188 * 41 + 100], [ts.length - 1]]) {
      expect(tsPackets(ts, cuts)).toEqual(whole);
    }
  });

  test("a PS stream fed in ranges finds every pack a whole push finds", () => {
    const ps = makeCbrPs({ duration: 0.5, muxRate: 250_000 });
    const packs = (cuts: number[]) => {
      const scanner = new PsScanner();
      const found: number[] = [];
      let from = 0;
      for (const cut of [...cuts, ps.length]) {
        scanner.pushRange(ps, from, cut, (_buf, _at, offset) => found.push(offset));
        from = cut;
      }
      return found;
    };
    const whole = packs([]);
    expect(whole.length).toBeGreaterThan(50);
    expect(packs([3, 2048 + 7, 9000, 9001])).toEqual(whole);
  });

  test("bytes held are joined with the next chunk's first bytes only: the scan reads the rest of it where it lies", () => {
    const chunk = new Uint8Array(100_000).map((_, i) => i & 0xff);
    const scans: { inChunk: boolean; from: number; end: number; pushed: number; first: number }[] = [];
    // Leaves each range's last 300 bytes for later, as a scanner holds a packet back.
    const scan: CarryScan = (buf, from, end, pushed) => {
      scans.push({ inChunk: buf === chunk, from, end, pushed, first: buf[from]! });
      return Math.max(from, end - 300);
    };
    const carry = new Carry();
    carry.scan(chunk, 0, chunk.length, scan);
    carry.scan(chunk, 0, chunk.length, scan);
    expect(carry.length).toBe(300);
    const [alone, seam, rest] = scans;
    expect(alone).toEqual({ inChunk: true, from: 0, end: 100_000, pushed: 0, first: 0 });
    // The 300 bytes held and a few KiB of the chunk are joined, not the whole 100,000.
    expect(seam!.inChunk).toBe(false);
    expect(seam!.end - seam!.from).toBeLessThan(300 + 4096);
    expect(seam!.first).toBe((100_000 - 300) & 0xff);
    // The scan goes on in the chunk itself, from where it stopped in the join.
    const stopped = seam!.end - 300;
    expect(rest).toEqual({ inChunk: true, from: stopped - 300, end: 100_000, pushed: stopped, first: (stopped - 300) & 0xff });
    expect(scans.length).toBe(3);
  });

  test("observing loads whose ends cut packets makes no objects: no views, closures or copies per load", () => {
    const ts = makeCbrTs({ bitrate: 2_000_000, duration: 8 });
    const ps = makeCbrPs({ duration: 8, muxRate: 250_000 });
    const pcr = new PcrClock();
    const scr = new ScrClock();
    // 128 KiB loads end mid-packet (131072 = 697 × 188 + 36): every one carries bytes to the next.
    const chunk = 128 * 1024;
    const load = (clock: PcrClock | ScrClock, bytes: Uint8Array, from: number) => {
      for (let at = from; at + chunk <= bytes.length; at += chunk) {
        clock.observe(bytes, at, at, at + chunk);
        clock.forget(at); // as a job does: what every output has passed is never looked up again
      }
    };
    // The first loads size the buffers (the shared join, each carry, the clocks' anchors) once.
    const warm = 8 * chunk;
    load(pcr, ts.subarray(0, warm), 0);
    load(scr, ps.subarray(0, warm), 0);
    const before = loadGarbage();
    load(pcr, ts, warm);
    load(scr, ps, warm);
    expect(loadGarbage() - before).toBeLessThanOrEqual(0);
    expect(pcr.timeAt(ts.length - chunk)).toBeGreaterThan(7_000_000);
  });
});
