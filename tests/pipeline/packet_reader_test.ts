/**
 * A packet destination's reader on its own: the stream's bytes in units from the shared read-ahead
 * buffer, timed by the stream's byte clock, with garbage between TS packets left out.
 */
import { describe, expect, test } from "bun:test";
import { TS_SIZE } from "../../protocol/mpegts.ts";
import { type PacketInput, PacketReader } from "../../pipeline/packet_reader.ts";
import { ReadAheadBuffer } from "../../pipeline/read_ahead.ts";
import { SkipRanges } from "../../pipeline/skip_ranges.ts";
import fc from "fast-check";
import { type ByteClock, ConstantRateClock, PcrClock } from "../../protocol/mpeg_timing.ts";
import { garbageBytes, insertBytes, makeCbrTs } from "../helpers/mpeg_fixtures.ts";

const UNIT = 7 * TS_SIZE;
/** 1.5 Mbit/s: the constant-rate byte clock of these tests. */
const BYTES_PER_S = 187_500;

/** A job's input as a reader sees it: `load` moves the next bytes of `media` into the buffer. */
function packetInput(media: Uint8Array, capacity = 64 * 1024) {
  let loaded = 0;
  const input = {
    ring: new ReadAheadBuffer(capacity),
    loadMark: 0,
    inputEnded: false,
    skips: new SkipRanges(),
    loadsAsked: 0,
    requestLoad() {
      this.loadsAsked++;
    },
    sendableEnd: () => input.ring.end,
    releaseHeld() {},
    byteClock: new ConstantRateClock(BYTES_PER_S * 8) as ByteClock,
    load(bytes: number) {
      const position = input.ring.writablePosition();
      const room = input.ring.writableRoom();
      const n = Math.min(bytes, room, media.length - loaded);
      input.ring.data.set(media.subarray(loaded, loaded + n), position);
      input.ring.commit(n);
      loaded += n;
      if (loaded === media.length) input.inputEnded = true;
    },
  };
  return input satisfies PacketInput;
}

/** `packets` numbered TS packets: byte 0 is the sync byte, byte 1 the packet's number. */
function numberedPackets(packets: number): Buffer {
  const ts = Buffer.alloc(packets * TS_SIZE);
  for (let p = 0; p < packets; p++) {
    ts[p * TS_SIZE] = 0x47;
    ts[p * TS_SIZE + 1] = p;
  }
  return ts;
}

function readAll(reader: PacketReader, unit: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let length = reader.next(unit); length > 0; length = reader.next(unit)) {
    out.push(Buffer.from(unit.subarray(0, length)));
    reader.advance(length);
  }
  return out;
}

describe("a packet reader", () => {
  test("gives whole units, waits (asking for a load) for a whole one, and ends on what is left", () => {
    const ts = numberedPackets(16);
    const input = packetInput(ts);
    const reader = new PacketReader(input, 0, UNIT);
    const unit = Buffer.alloc(UNIT);
    expect(reader.unitUs).toBe(0);

    input.load(UNIT - 1);
    expect(reader.next(unit)).toBe(0);
    expect(input.loadsAsked).toBe(1);

    input.load(ts.length);
    const out = readAll(reader, unit);
    expect(out.map((u) => u.length)).toEqual([UNIT, UNIT, 2 * TS_SIZE]);
    expect(Buffer.concat(out).equals(ts)).toBe(true);
    expect(reader.position).toBe(ts.length);
    expect(reader.mediaUs()).toBe((ts.length * 1e6) / BYTES_PER_S);
    expect(reader.ended()).toBe(true);
  });

  test("garbage between packets is left out and the packets around it gathered into whole units", () => {
    const ts = numberedPackets(14);
    const garbage = Buffer.alloc(100, 0xff);
    const dirty = Buffer.concat([ts.subarray(0, 3 * TS_SIZE), garbage, ts.subarray(3 * TS_SIZE)]);
    const input = packetInput(dirty);
    input.load(dirty.length);
    input.skips.add(3 * TS_SIZE, garbage.length);
    const reader = new PacketReader(input, 0, UNIT);
    const out = readAll(reader, Buffer.alloc(UNIT));
    expect(out.map((u) => u.length)).toEqual([UNIT, UNIT]);
    expect(Buffer.concat(out).equals(ts)).toBe(true);
    expect(reader.position).toBe(dirty.length);
    expect(reader.ended()).toBe(true);
  });

  test("skipping ahead (its output fell too far behind) lands on a whole packet, passing over garbage, and counts the time dropped", () => {
    const ts = numberedPackets(20);
    const dirty = Buffer.concat([ts.subarray(0, 5 * TS_SIZE), Buffer.alloc(60, 0xff), ts.subarray(5 * TS_SIZE)]);
    const input = packetInput(dirty);
    input.load(dirty.length);
    input.skips.add(5 * TS_SIZE, 60);
    const reader = new PacketReader(input, 0, UNIT, TS_SIZE);
    const unit = Buffer.alloc(UNIT);
    expect(reader.next(unit)).toBe(UNIT);
    reader.advance(TS_SIZE);
    // The job needs the buffer below a byte inside packet 6 (past the garbage): on to packet 7.
    const from = reader.position;
    const dropped = reader.skipTo(6 * TS_SIZE + 60 + 10);
    expect(reader.position).toBe(7 * TS_SIZE + 60);
    expect(dropped).toBeCloseTo(((reader.position - from) * 1e6) / BYTES_PER_S, 6);
    expect(reader.next(unit)).toBe(UNIT);
    expect(unit.equals(ts.subarray(7 * TS_SIZE, 14 * TS_SIZE))).toBe(true);
    // Given up on: the rest goes, counted, and the reader has ended.
    const left = dirty.length - reader.position;
    expect(reader.dropRest()).toBeCloseTo((left * 1e6) / BYTES_PER_S, 6);
    expect(reader.ended()).toBe(true);
  });

  test("a backend that took part of a unit is offered the rest first, passing over garbage it reaches", () => {
    const ts = numberedPackets(14);
    const dirty = Buffer.concat([ts.subarray(0, 2 * TS_SIZE), Buffer.alloc(50, 0xff), ts.subarray(2 * TS_SIZE)]);
    const input = packetInput(dirty);
    input.load(dirty.length);
    input.skips.add(2 * TS_SIZE, 50);
    const reader = new PacketReader(input, 0, UNIT);
    const unit = Buffer.alloc(UNIT);
    expect(reader.next(unit)).toBe(UNIT);
    reader.advance(2 * TS_SIZE);
    expect(reader.position).toBe(2 * TS_SIZE + 50);
    expect(reader.next(unit)).toBe(UNIT);
    expect(unit.equals(ts.subarray(2 * TS_SIZE, 9 * TS_SIZE))).toBe(true);
  });

  test("in place: a whole unit is given where it lies, also one over the ring's end; one near garbage is copied instead", () => {
    const ts = numberedPackets(16);
    // Room for 10 packets: the second unit (packets 7 to 13) meets the ring's end.
    const input = packetInput(Buffer.concat([ts, ts]), 10 * TS_SIZE);
    const reader = new PacketReader(input, 0, UNIT);
    const unit = Buffer.alloc(UNIT);
    input.load(UNIT - 1);
    expect(reader.nextInPlace(UNIT)).toBe(0); // not a whole unit yet: a load is asked for, as by next
    expect(input.loadsAsked).toBe(1);
    input.load(10 * TS_SIZE);
    expect(reader.nextInPlace(UNIT)).toBe(UNIT);
    const at = input.ring.positionOf(reader.position);
    expect(input.ring.data.subarray(at, at + UNIT).equals(ts.subarray(0, UNIT))).toBe(true);
    reader.advance(UNIT);
    input.ring.release(reader.position);
    input.load(10 * TS_SIZE);
    expect(reader.nextInPlace(UNIT)).toBe(UNIT); // packets 7 to 13, on over the ring's end
    const wrapped = Buffer.alloc(UNIT);
    input.ring.shared.copyOut(input.ring.positionOf(reader.position), UNIT, wrapped, 0);
    expect(wrapped.equals(ts.subarray(UNIT, 2 * UNIT))).toBe(true);
    expect(input.ring.positionOf(reader.position) + UNIT).toBeGreaterThan(input.ring.capacity);
    reader.advance(UNIT);
    input.skips.add(reader.position + TS_SIZE, 10);
    expect(reader.nextInPlace(UNIT)).toBe(-1); // garbage ahead: gathered by next
  });

  test("property: what it keeps of its job (clean bytes, the load mark, the clock's stretch) agrees with asking the job each time", () => {
    const clean = makeCbrTs({ bitrate: 1_500_000, duration: 2 });
    fc.assert(
      fc.property(
        fc.array(fc.record({ packet: fc.integer({ min: 1, max: 1400 }), length: fc.integer({ min: 1, max: 3000 }) }), { minLength: 1, maxLength: 3 }),
        fc.array(fc.integer({ min: 500, max: 70_000 }), { minLength: 1, maxLength: 8 }),
        (garbage, loads) => {
          // Garbage anywhere, found by a real TS clock as the loads (of any size) bring it.
          let dirty: Uint8Array = clean;
          for (const g of [...garbage].sort((x, y) => y.packet - x.packet)) dirty = insertBytes(dirty, g.packet * TS_SIZE, garbageBytes(g.length));
          // What is to be sent: the bytes a clock given all at once finds to be packets (one it
          // cannot lock onto next to garbage counts as garbage too).
          const found = new PcrClock();
          let expected = Buffer.alloc(0);
          let kept = 0;
          found.packets.onGarbage((offset, length) => {
            expected = Buffer.concat([expected, dirty.subarray(kept, offset)]);
            kept = offset + length;
          });
          found.observe(dirty, 0);
          found.packets.finish();
          expected = Buffer.concat([expected, dirty.subarray(kept)]);
          const clock = new PcrClock();
          const input = packetInput(dirty, 256 * 1024);
          clock.packets.onGarbage((offset, length) => input.skips.add(offset, length));
          const job = {
            ...input,
            get ring() { return input.ring; },
            get inputEnded() { return input.inputEnded; },
            loadMark: 20 * UNIT,
            requestLoad() { input.requestLoad(); },
            sendableEnd: () => (input.inputEnded ? input.ring.end : Math.min(input.ring.end, clock.packets.settledOffset())),
            releaseHeld() {},
            byteClock: clock,
          } satisfies PacketInput;
          let k = 0;
          const load = () => {
            const end = input.ring.end;
            input.load(loads[k++ % loads.length]!);
            const at = input.ring.positionOf(end);
            clock.observe(input.ring.data.subarray(at, at + input.ring.end - end), end);
            if (input.inputEnded) clock.packets.finish();
          };
          const reader = new PacketReader(job, 0, UNIT, TS_SIZE);
          const unit = Buffer.alloc(UNIT);
          const out: Buffer[] = [];
          let low = 0;
          load();
          for (;;) {
            // In place where it lies so (as a batched sender takes it), else copied out.
            const inPlace = reader.nextInPlace(UNIT);
            const length = inPlace >= 0 ? inPlace : reader.next(unit);
            if (length === 0) {
              if (reader.ended()) break;
              load();
              continue;
            }
            if (inPlace > 0) {
              const copy = Buffer.alloc(length);
              input.ring.shared.copyOut(input.ring.positionOf(reader.position), length, copy, 0);
              out.push(copy);
            } else out.push(Buffer.from(unit.subarray(0, length)));
            const asked = input.loadsAsked;
            reader.advance(length);
            // Asked each time it is low, as loadIfLow asks.
            if (input.ring.available(reader.position) <= job.loadMark) {
              low++;
              if (input.loadsAsked !== asked + 1) return false;
            }
            if (reader.mediaUs() !== clock.timeAt(reader.position)) return false;
            input.ring.release(reader.position);
          }
          return low > 0 && expected.length < dirty.length && Buffer.concat(out).equals(expected);
        },
      ),
      { numRuns: 40 },
    );
  });
});
