/**
 * The read-ahead buffer (pipeline/read_ahead.ts) as a sender thread relies on it: its bytes are
 * shared memory, a release keeps `keepBehind` bytes below the last reader for the datagrams
 * handed over from there, and the lowest offset held is published before a load may reuse a byte.
 */
import { describe, expect, test } from "bun:test";
import { ReadAheadBuffer } from "../../pipeline/read_ahead.ts";
import { SharedBytes } from "../../foundation/shared_bytes.ts";

/** Fills the writable region with the low byte of each stream offset. */
function load(ring: ReadAheadBuffer, bytes: number): number {
  const position = ring.writablePosition();
  const room = ring.writableRoom();
  const n = Math.min(room, bytes);
  for (let i = 0; i < n; i++) ring.data[position + i] = (ring.end + i) & 0xff;
  ring.commit(n);
  return n;
}

describe("the read-ahead buffer", () => {
  test("keeps keepBehind bytes below what is released, and another thread's view sees what it still holds", () => {
    const ring = new ReadAheadBuffer(1000, 200);
    ring.reset(6000);
    const thread = new SharedBytes(ring.shared.buffer); // as a sender thread sees it
    expect(ring.capacity).toBe(1200);
    expect(load(ring, 1200)).toBe(1200);
    expect(ring.free).toBe(0);
    ring.release(6700); // the last reader is at 6700; 200 bytes below it stay
    expect(ring.start).toBe(6500);
    expect(ring.free).toBe(500);
    expect([thread.holds(6499), thread.holds(6500), thread.holds(6700)]).toEqual([false, true, true]);
    // A load reuses only what was released: the 200 bytes below the reader are still there.
    expect(load(ring, 1000)).toBe(500);
    const at = ring.positionOf(6500);
    expect(Array.from(thread.data.subarray(at, at + 3))).toEqual([6500 & 0xff, 6501 & 0xff, 6502 & 0xff]);
    ring.release(6600); // below what is already released: nothing moves
    expect(ring.start).toBe(6500);
  });

  test("full from an offset only when no release could make room below it", () => {
    const ring = new ReadAheadBuffer(1000, 200);
    load(ring, 1200);
    expect(ring.fullFrom(200)).toBe(true); // the first 200 are only the kept-behind bytes
    expect(ring.fullFrom(300)).toBe(false); // releasing to 300 would free 100
  });

  test("offsets compare modulo 2^32: a stream looped past 4 GiB is still held correctly", () => {
    const shared = new SharedBytes(16);
    shared.releaseBelow(2 ** 32 + 100);
    expect([shared.holds(100), shared.holds(2 ** 32 + 100), shared.holds(99), shared.holds((2 ** 32 + 99) >>> 0)]).toEqual([true, true, false, false]);
  });
  test("prefault clears only the room the next loads take, on over the ring's end, never a byte it holds", () => {
    const ring = new ReadAheadBuffer(1000);
    ring.reset(700);
    ring.data.fill(0xee);
    ring.prefault(500); // positions 700..999, then 0..199
    expect(ring.data.subarray(700).every((b) => b === 0)).toBe(true);
    expect(ring.data.subarray(0, 200).every((b) => b === 0)).toBe(true);
    expect(ring.data.subarray(200, 700).every((b) => b === 0xee)).toBe(true);
    expect(load(ring, 600)).toBe(300);
    ring.data.fill(0xee, 300, 700);
    ring.prefault(5000); // only the 700 bytes of room: 0..699, none of the 300 held at 700..999
    expect(ring.data.subarray(0, 700).every((b) => b === 0)).toBe(true);
    expect(ring.data.subarray(700).every((b, i) => b === ((700 + i) & 0xff))).toBe(true);
  });
});
