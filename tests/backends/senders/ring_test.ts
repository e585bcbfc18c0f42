/**
 * The hand-over ring between the main thread and a sender thread (backends/net/senders/ring.ts),
 * both sides in one thread here: what is published is taken once, in order, with its header;
 * slots freed out of order are reused only once the ones before them are; a full ring says so.
 */
import { describe, expect, test } from "bun:test";
import { CLOSE_SLOT, makeSenderRing, readSenderRing, SLOT_PAYLOAD } from "../../../backends/net/senders/ring.ts";

function taken(reader: ReturnType<typeof readSenderRing>): number[] {
  const slots: number[] = [];
  reader.take((slot) => slots.push(slot));
  return slots;
}

describe("sender ring", () => {
  test("a published slot is taken once, with its destination, marker, length, due time and bytes", () => {
    const ring = makeSenderRing(4);
    const reader = readSenderRing(ring.buffer);
    const slot = ring.claim();
    ring.payloads[slot]!.set([1, 2, 3]);
    expect(taken(reader)).toEqual([]); // claimed is not published
    ring.publish(slot, 7, 3, 123_456.5, true);
    expect(taken(reader)).toEqual([slot]);
    expect([reader.destination(slot), reader.marker(slot), reader.length(slot), reader.due(slot)]).toEqual([7, true, 3, 123_456.5]);
    expect(Array.from(reader.payloads[slot]!.subarray(0, 3))).toEqual([1, 2, 3]);
    expect(taken(reader)).toEqual([]);
    const close = ring.claim();
    ring.publish(close, 2 ** 31 - 1, CLOSE_SLOT, 0);
    taken(reader);
    expect([reader.destination(close), reader.marker(close), reader.length(close)]).toEqual([2 ** 31 - 1, false, CLOSE_SLOT]);
  });

  test("full until the oldest slot is released; a later slot released first frees nothing yet", () => {
    const ring = makeSenderRing(4);
    const reader = readSenderRing(ring.buffer);
    const slots: number[] = [];
    for (let i = 0; i < 4; i++) {
      const s = ring.claim();
      ring.publish(s, i, 10, i);
      slots.push(s);
    }
    expect(new Set(slots).size).toBe(4);
    expect(ring.claim()).toBe(-1);
    expect(taken(reader)).toEqual(slots);
    reader.release(slots[2]!);
    reader.release(slots[1]!);
    expect(ring.claim()).toBe(-1); // slot 0 still holds its datagram
    reader.release(slots[0]!);
    // 0, 1 and 2 are free now; 3 is not.
    const reused: number[] = [];
    for (let s = ring.claim(); s >= 0; s = ring.claim()) {
      ring.publish(s, 9, 1, 0);
      reused.push(s);
    }
    expect(reused).toEqual([slots[0]!, slots[1]!, slots[2]!]);
  });

  test("many laps: every datagram arrives once, in order, whatever the order of release", () => {
    const ring = makeSenderRing(8);
    const reader = readSenderRing(ring.buffer);
    let next = 0;
    const seen: number[] = [];
    const held: number[] = [];
    for (let round = 0; round < 1000; round++) {
      for (let s = ring.claim(); s >= 0 && next < 5000; s = ring.claim()) {
        new DataView(ring.payloads[s]!.buffer, ring.payloads[s]!.byteOffset).setUint32(0, next);
        ring.publish(s, 1, 4, next++);
      }
      reader.take((s) => {
        seen.push(new DataView(reader.payloads[s]!.buffer, reader.payloads[s]!.byteOffset).getUint32(0));
        held.push(s);
      });
      // Release the newer half first, then the rest: out of order, as a thread sending by due time may.
      held.reverse().forEach((s) => reader.release(s));
      held.length = 0;
    }
    expect(seen).toEqual(Array.from({ length: 5000 }, (_, i) => i));
  });

  test("a slot carries any datagram of a 1500-byte MTU; the slot count is a power of two", () => {
    expect(SLOT_PAYLOAD).toBeGreaterThanOrEqual(1472);
    expect(() => makeSenderRing(6)).toThrow(/power of two/);
  });
});
