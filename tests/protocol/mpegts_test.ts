import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import {
  PCR_HZ, PCR_WRAP, TS_SIZE, TS_SYNC, TsScanner, tsFindSync, tsGetAdaptationLength, tsGetCc,
  tsGetDiscontinuity, tsGetPayloadOffset, tsGetPayloadUnitStart, tsGetPcr, tsGetPid, tsHasAdaptation,
  tsHasPayload, tsHasPcr, tsHasSync, tsInit, tsSetAdaptation, tsSetCc, tsSetDiscontinuity, tsSetPayloadUnitStart,
  tsSetPcr, tsSetPid,
} from "../../protocol/mpegts.ts";
import { garbageBytes, insertBytes, makeCbrTs } from "../helpers/mpeg_fixtures.ts";

/** Runs a scanner over `buf` cut at `cuts`, returning packet stream offsets and the skipped count. */
function scanInChunks(buf: Uint8Array, cuts: number[]): { offsets: number[]; skipped: number } {
  const scanner = new TsScanner();
  const offsets: number[] = [];
  const onPacket = (b: Uint8Array, at: number, off: number) => {
    expect(b[at]).toBe(TS_SYNC);
    offsets.push(off);
  };
  let from = 0;
  for (const cut of [...cuts, buf.length].sort((a, b) => a - b)) {
    scanner.push(buf.subarray(from, cut), onPacket);
    from = cut;
  }
  scanner.flush(onPacket);
  return { offsets, skipped: scanner.skipped };
}

describe("TS packet fields (13818-1 §2.4.3)", () => {
  test("header fields round-trip in place at an offset", () => {
    const buf = new Uint8Array(3 * TS_SIZE);
    const at = TS_SIZE; // the middle packet, to catch offset mistakes
    tsInit(buf, at);
    expect(tsHasSync(buf, at)).toBe(true);
    expect(tsHasPayload(buf, at)).toBe(true);
    expect(tsHasAdaptation(buf, at)).toBe(false);
    tsSetPid(buf, at, 0x1abc);
    tsSetCc(buf, at, 13);
    tsSetPayloadUnitStart(buf, at, true);
    expect(tsGetPid(buf, at)).toBe(0x1abc);
    expect(tsGetCc(buf, at)).toBe(13);
    expect(tsGetPayloadUnitStart(buf, at)).toBe(true);
    tsSetPayloadUnitStart(buf, at, false);
    expect(tsGetPayloadUnitStart(buf, at)).toBe(false);
    expect(tsGetPid(buf, at)).toBe(0x1abc);
    expect(buf.subarray(0, TS_SIZE).every((b) => b === 0)).toBe(true);
    expect(buf.subarray(2 * TS_SIZE).every((b) => b === 0)).toBe(true);
  });

  test("PCR and adaptation fields round-trip, including the 33-bit base edge", () => {
    const p = new Uint8Array(TS_SIZE);
    tsInit(p, 0);
    expect(tsHasPcr(p, 0)).toBe(false);
    tsSetAdaptation(p, 0, 7);
    expect(tsGetAdaptationLength(p, 0)).toBe(7);
    expect(tsGetPayloadOffset(p, 0)).toBe(12);
    const max = PCR_WRAP - 1; // base 2^33-1, ext 299
    tsSetPcr(p, 0, max);
    expect(tsHasPcr(p, 0)).toBe(true);
    expect(tsGetPcr(p, 0)).toBe(max);
    expect([...p.subarray(6, 12)]).toEqual([0xff, 0xff, 0xff, 0xff, 0xfe | 0x01, 299 & 0xff]);
    expect(tsGetDiscontinuity(p, 0)).toBe(false);
    tsSetDiscontinuity(p, 0, true);
    expect(tsGetDiscontinuity(p, 0)).toBe(true);
    expect(tsGetPcr(p, 0)).toBe(max);
  });

  test("property: any PID, CC and PCR survive a write/read", () => {
    const p = new Uint8Array(TS_SIZE);
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0x1fff }),
        fc.integer({ min: 0, max: 15 }),
        fc.integer({ min: 0, max: PCR_WRAP - 1 }),
        fc.boolean(),
        (pid, cc, pcr, pusi) => {
          tsInit(p, 0);
          tsSetAdaptation(p, 0, 7);
          tsSetPid(p, 0, pid);
          tsSetCc(p, 0, cc);
          tsSetPayloadUnitStart(p, 0, pusi);
          tsSetPcr(p, 0, pcr);
          return tsGetPid(p, 0) === pid && tsGetCc(p, 0) === cc && tsGetPcr(p, 0) === pcr &&
            tsGetPayloadUnitStart(p, 0) === pusi && tsHasSync(p, 0);
        },
      ),
    );
  });

  test("PCR written by the fixture reads back as 27 MHz ticks", () => {
    const ts = makeCbrTs({ bitrate: 1_504_000, duration: 0.1, firstPcr: 5 * PCR_HZ });
    expect(tsGetPcr(ts, 0)).toBe(5 * PCR_HZ);
  });
});

describe("resynchronisation", () => {
  test("tsFindSync skips leading garbage to a confirmed sync", () => {
    const ts = makeCbrTs({ bitrate: 1_000_000, duration: 0.05 });
    const buf = insertBytes(ts, 0, garbageBytes(77));
    expect(tsFindSync(buf, 0, buf.length)).toBe(77);
    expect(tsFindSync(buf, 78, buf.length)).toBe(77 + TS_SIZE);
    expect(tsFindSync(new Uint8Array(400), 0, 400)).toBe(-1);
  });

  test("property: tsFindSync never returns a position without sync bytes at +0 and +188", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 1200 }),
        fc.array(fc.nat(1199), { maxLength: 20 }),
        fc.nat(1200),
        (bytes, syncAt, from) => {
          for (const i of syncAt) if (i < bytes.length) bytes[i] = TS_SYNC; // make hits likely
          const r = tsFindSync(bytes, from, bytes.length);
          if (r < 0) return true;
          return r >= from && bytes[r] === TS_SYNC && bytes[r + TS_SIZE] === TS_SYNC &&
            (r + 2 * TS_SIZE >= bytes.length || bytes[r + 2 * TS_SIZE] === TS_SYNC);
        },
      ),
    );
  });

  test("the scanner reports exactly the garbage bytes inserted between packets", () => {
    const ts = makeCbrTs({ bitrate: 1_000_000, duration: 0.2 });
    const packets = ts.length / TS_SIZE;
    let buf = insertBytes(ts, 40 * TS_SIZE, garbageBytes(1000, 7));
    buf = insertBytes(buf, 10 * TS_SIZE, garbageBytes(5, 3));
    buf = insertBytes(buf, 0, garbageBytes(123, 9));
    const { offsets, skipped } = scanInChunks(buf, []);
    expect(skipped).toBe(1128);
    expect(offsets.length).toBe(packets);
    expect(offsets[0]).toBe(123);
    expect(offsets[10]).toBe(123 + 10 * TS_SIZE + 5);
  });

  test("a truncated last packet is counted as skipped", () => {
    const ts = makeCbrTs({ bitrate: 1_000_000, duration: 0.05 });
    const cut = ts.subarray(0, ts.length - 100);
    const { offsets, skipped } = scanInChunks(cut, []);
    expect(offsets.length).toBe(ts.length / TS_SIZE - 1);
    expect(skipped).toBe(TS_SIZE - 100);
  });

  test("a lone last packet, with nothing after it to confirm it, is a packet: after a seek to it, and after garbage", () => {
    const ts = makeCbrTs({ bitrate: 1_000_000, duration: 0.05 });
    const last = ts.length - TS_SIZE;
    const scanner = new TsScanner();
    scanner.reset(last); // as --start on the last packet seeks the clock's finder
    const offsets: number[] = [];
    scanner.push(ts.subarray(last), (_b, _at, off) => offsets.push(off));
    scanner.flush((_b, _at, off) => offsets.push(off));
    expect(offsets).toEqual([last]);
    expect(scanner.skipped).toBe(0);
    const dirty = insertBytes(ts, last, garbageBytes(50, 4));
    const found = scanInChunks(dirty, []);
    expect(found.offsets.length).toBe(ts.length / TS_SIZE);
    expect(found.skipped).toBe(50);
    // Junk at the end whose byte 188 from the end happens to be 0x47 (a PID never seen) is no packet.
    const junk = garbageBytes(300, 9);
    junk[300 - TS_SIZE] = 0x47;
    junk[300 - TS_SIZE + 1] = 0x1e; // PID 0x1e00: not the stream's
    const tail = scanInChunks(Buffer.concat([ts, junk]), []);
    expect(tail.offsets.length).toBe(ts.length / TS_SIZE);
    expect(tail.skipped).toBe(300);
    // One byte short, it is a cut-off tail as before.
    expect(scanInChunks(dirty.subarray(0, dirty.length - 1), []).skipped).toBe(50 + TS_SIZE - 1);
  });

  describe("a packet cut short, the next one starting inside it (bytes removed from a file)", () => {
    const ts = makeCbrTs({ bitrate: 1_000_000, duration: 0.1 });
    const cutAt = 30 * TS_SIZE;
    const kept = 100;
    const cut = Buffer.concat([ts.subarray(0, cutAt + kept), ts.subarray(cutAt + TS_SIZE)]);
    const withoutCut = Buffer.concat([ts.subarray(0, cutAt), ts.subarray(cutAt + TS_SIZE)]);

    /** What a scanner fed `cut` in chunks ending at `ends` gives: every packet's bytes, one after another, and the garbage it reports. */
    function scanCut(ends: number[]): { sent: Buffer; skips: [number, number][] } {
      const scanner = new TsScanner();
      const packets: Buffer[] = [];
      const skips: [number, number][] = [];
      scanner.onSkip = (offset, length) => skips.push([offset, length]);
      const onPacket = (buf: Uint8Array, at: number) => packets.push(Buffer.from(buf.subarray(at, at + TS_SIZE)));
      let from = 0;
      for (const end of [...ends, cut.length].sort((a, b) => a - b)) {
        scanner.push(cut.subarray(from, end), onPacket);
        from = end;
      }
      scanner.flush(onPacket);
      return { sent: Buffer.concat(packets), skips };
    }

    test("within one chunk, its 100 bytes are garbage and the packet after it goes whole (it went spliced onto the cut one)", () => {
      const { sent, skips } = scanCut([]);
      expect(skips).toEqual([[cutAt, kept]]);
      expect(sent.equals(withoutCut)).toBe(true);
    });

    test("a push's last packet waits for the next one's sync byte; release (the input dry, a reader waiting) lets it go, but not a cut still undecided", () => {
      const scanner = new TsScanner();
      const offsets: number[] = [];
      const onPacket = (_buf: Uint8Array, _at: number, offset: number) => offsets.push(offset);
      scanner.push(cut.subarray(0, 10 * TS_SIZE), onPacket);
      expect(offsets.length).toBe(9);
      expect(scanner.settledOffset).toBe(9 * TS_SIZE);
      scanner.release(onPacket);
      expect(offsets.at(-1)).toBe(9 * TS_SIZE);
      expect(scanner.settledOffset).toBe(10 * TS_SIZE);
      // Up to one packet past the cut: the cut one is not let go as if whole.
      scanner.push(cut.subarray(10 * TS_SIZE, cutAt + kept + TS_SIZE), onPacket);
      scanner.release(onPacket);
      expect(offsets.at(-1)).toBe(cutAt - TS_SIZE);
      scanner.push(cut.subarray(cutAt + kept + TS_SIZE), onPacket);
      scanner.flush(onPacket);
      const after = ts.length / TS_SIZE - 31; // the packets after the cut one
      expect(offsets).toEqual([...Array.from({ length: 30 }, (_, k) => k * TS_SIZE), ...Array.from({ length: after }, (_, k) => cutAt + kept + k * TS_SIZE)]);
      expect(scanner.skipped).toBe(kept);
    });

    test("a whole packet whose payload is all 0x47, then garbage: the chain of sync bytes inside it is payload (a PID never seen), so it goes whole and the garbage is left out", () => {
      // makeCbrTs fills packet k's payload with k & 0xff: packet 71's is 0x47 from its byte 5 on.
      const ts = makeCbrTs({ bitrate: 1_500_000, duration: 0.5 });
      const garbage = 5; // the chain inside: byte 5 of packet 71, then packets 72 and 73's sync bytes
      const dirty = Buffer.from(insertBytes(ts, 72 * TS_SIZE, garbageBytes(garbage, 73)));
      for (const chunk of [dirty.length, 1031, 4096]) {
        const scanner = new TsScanner();
        const packets: Buffer[] = [];
        const skips: [number, number][] = [];
        scanner.onSkip = (offset, length) => skips.push([offset, length]);
        const onPacket = (buf: Uint8Array, at: number) => packets.push(Buffer.from(buf.subarray(at, at + TS_SIZE)));
        for (let from = 0; from < dirty.length; from += chunk) scanner.push(dirty.subarray(from, Math.min(from + chunk, dirty.length)), onPacket);
        scanner.flush(onPacket);
        expect(skips).toEqual([[72 * TS_SIZE, garbage]]);
        expect(Buffer.concat(packets).equals(Buffer.from(ts))).toBe(true);
      }
    });

    test("the same wherever chunks end around it: in the cut packet, at the cut, in the next packet, just past it", () => {
      for (const ends of [[cutAt + 50], [cutAt + kept], [cutAt + kept + 1], [cutAt + kept + 88], [cutAt + TS_SIZE], [cutAt + kept + TS_SIZE],
        [cutAt + kept + 2 * TS_SIZE], [cutAt + 10, cutAt + 60, cutAt + 150, cutAt + 300, cutAt + 500]]) {
        const { sent, skips } = scanCut(ends);
        expect(skips).toEqual([[cutAt, kept]]);
        expect(sent.equals(withoutCut)).toBe(true);
      }
      fc.assert(
        fc.property(fc.array(fc.integer({ min: cutAt - 2 * TS_SIZE, max: cutAt + 4 * TS_SIZE }), { maxLength: 8 }), (ends) => {
          const { sent, skips } = scanCut(ends);
          expect(skips).toEqual([[cutAt, kept]]);
          expect(sent.equals(withoutCut)).toBe(true);
        }),
        { numRuns: 300 },
      );
    });
  });

  test("property: chunking does not change packets found or bytes skipped", () => {
    const ts = makeCbrTs({ bitrate: 1_000_000, duration: 0.05 });
    const buf = insertBytes(insertBytes(ts, 7 * TS_SIZE, garbageBytes(300, 5)), 0, garbageBytes(50, 2));
    const whole = scanInChunks(buf, []);
    expect(whole.skipped).toBe(350);
    fc.assert(
      fc.property(fc.array(fc.nat(buf.length), { maxLength: 30 }), (cuts) => {
        const r = scanInChunks(buf, cuts);
        expect(r).toEqual(whole);
      }),
      { numRuns: 200 },
    );
  });

  test("property: scanners sharing the join scratch (interleaved, and one nested in another's callback) see their own bytes", () => {
    const a = insertBytes(makeCbrTs({ bitrate: 1_000_000, duration: 0.05 }), 3 * TS_SIZE, garbageBytes(77, 4));
    const b = makeCbrTs({ bitrate: 2_000_000, duration: 0.05, pcrPid: 0x200 });
    const alone = { a: scanInChunks(a, []), b: scanInChunks(b, []) };
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 1000 }), (stepA, stepB) => {
        const sa = new TsScanner();
        const sb = new TsScanner();
        const found = { a: [] as number[], b: [] as number[] };
        let fromB = 0;
        const onB = (buf: Uint8Array, at: number, off: number) => {
          expect(buf[at]).toBe(TS_SYNC);
          found.b.push(off);
        };
        // Every packet of a pushes the next piece of b from inside the callback.
        const onA = (buf: Uint8Array, at: number, off: number) => {
          expect(buf[at]).toBe(TS_SYNC);
          expect(tsGetPid(buf, at)).not.toBe(0x200);
          found.a.push(off);
          if (fromB < b.length) sb.push(b.subarray(fromB, (fromB += stepB)), onB);
        };
        for (let from = 0; from < a.length; from += stepA) sa.push(a.subarray(from, from + stepA), onA);
        while (fromB < b.length) sb.push(b.subarray(fromB, (fromB += stepB)), onB);
        sa.flush(onA);
        sb.flush(onB);
        expect(found.a).toEqual(alone.a.offsets);
        expect(found.b).toEqual(alone.b.offsets);
        expect(sa.skipped).toBe(77);
      }),
      { numRuns: 100 },
    );
  });
});
