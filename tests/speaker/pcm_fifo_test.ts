/** The speaker's decoded-ahead buffer: wraps around, takes back its newest bytes, skips its oldest. */
import { describe, expect, test } from "bun:test";
import { PcmFifo } from "../../speaker/pcm_fifo.ts";

const bytes = (from: number, n: number) => Uint8Array.from({ length: n }, (_, i) => (from + i) & 0xff);

describe("PcmFifo", () => {
  test("bytes come out in order across the wrap, at absolute offsets", () => {
    const fifo = new PcmFifo(10);
    const out = Buffer.alloc(10);
    fifo.write(bytes(0, 8));
    expect(fifo.read(out, 0, 6)).toBe(6);
    fifo.write(bytes(8, 7)); // wraps
    expect(fifo.free).toBe(1);
    expect(() => fifo.write(bytes(0, 2))).toThrow(RangeError);
    expect(fifo.read(out, 0, 10)).toBe(9);
    expect([...out.subarray(0, 9)]).toEqual([...bytes(6, 9)]);
    expect([fifo.readOffset, fifo.writeOffset]).toEqual([15, 15]);
  });

  test("a read stops at a limit (a track's end); truncate takes back the newest; skip drops the oldest", () => {
    const fifo = new PcmFifo(16);
    const out = Buffer.alloc(16);
    fifo.write(bytes(0, 12));
    expect(fifo.read(out, 0, 16, 4)).toBe(4);
    fifo.truncate(8); // a queued track from offset 8 is unloaded
    expect(fifo.writeOffset).toBe(8);
    fifo.skip(6); // the rest of the playing track up to 6 is cancelled
    expect(fifo.read(out, 0, 16)).toBe(2);
    expect([...out.subarray(0, 2)]).toEqual([6, 7]);
    fifo.truncate(2); // never below what was read
    expect(fifo.writeOffset).toBe(8);
  });
});
