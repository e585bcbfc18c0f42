/**
 * The hand-over ring between the main thread and a sender thread (backends/net/senders/ring.ts),
 * both sides in one thread here: what is published is taken once, in order, with its header and
 * its bytes (inline) or its reference (in place); slots freed out of order are reused only once
 * the ones before them are; the inline arena is reused as slots are freed and never splits a
 * datagram; a full ring or arena says so.
 */
import { describe, expect, test } from "bun:test";
import { CLOSE_SLOT, HEADER_ROOM, INLINE_MAX, makeSenderRing, readSenderRing } from "../../../backends/net/senders/ring.ts";

type Reader = ReturnType<typeof readSenderRing>;

function taken(reader: Reader): number[] {
  const slots: number[] = [];
  reader.take((slot) => slots.push(slot));
  return slots;
}

/** Publishes `datagram` inline; false when the ring or its arena is full. */
function handOver(ring: ReturnType<typeof makeSenderRing>, destination: number, datagram: Uint8Array, dueUs: number): boolean {
  const slot = ring.claim();
  if (slot < 0) return false;
  const at = ring.inlineRoom(slot, datagram.length);
  if (at < 0) return false;
  ring.bytes.set(datagram, at);
  ring.publishInline(slot, destination, at, datagram.length, dueUs);
  return true;
}

const inlineBytes = (reader: Reader, slot: number) => Array.from(reader.bytes.subarray(reader.position(slot), reader.position(slot) + reader.length(slot)));

describe("sender ring", () => {
  test("an inline slot is taken once, with its destination, marker, length, due time and bytes", () => {
    const ring = makeSenderRing(4, 1024);
    const reader = readSenderRing(ring.buffer, 4);
    const slot = ring.claim();
    const at = ring.inlineRoom(slot, 3);
    ring.bytes.set([1, 2, 3], at);
    expect(taken(reader)).toEqual([]); // claimed is not published
    ring.publishInline(slot, 7, at, 3, 123_456.5, true);
    expect(taken(reader)).toEqual([slot]);
    expect([reader.destination(slot), reader.marker(slot), reader.length(slot), reader.due(slot), reader.inPlace(slot)]).toEqual([7, true, 3, 123_456.5, false]);
    expect(inlineBytes(reader, slot)).toEqual([1, 2, 3]);
    expect(taken(reader)).toEqual([]);
    const close = ring.claim();
    ring.publishInline(close, 2 ** 31 - 1, 0, CLOSE_SLOT, 0);
    taken(reader);
    expect([reader.destination(close), reader.marker(close), reader.length(close)]).toEqual([2 ** 31 - 1, false, CLOSE_SLOT]);
  });

  test("an in-place slot carries its header and where the media lies, not the media", () => {
    const ring = makeSenderRing(4, 1024);
    const reader = readSenderRing(ring.buffer, 4);
    const packet = new Uint8Array(1328).fill(9);
    packet.set([0x80, 33, 0x12, 0x34, 1, 2, 3, 4, 5, 6, 7, 8]);
    const slot = ring.claim();
    // A stream offset past 2^32 (a long loop) goes over mod 2^32, as shared_bytes.ts compares it.
    ring.publishInPlace(slot, 5, packet, 12, 3, 2 ** 32 + 1000, 70_000, 1316, 42, false);
    taken(reader);
    expect([reader.inPlace(slot), reader.destination(slot), reader.length(slot), reader.headerLength(slot), reader.media(slot), reader.offset(slot), reader.position(slot), reader.due(slot)]).toEqual([true, 5, 1328, 12, 3, 1000, 70_000, 42]);
    const head = reader.headerAt(slot);
    expect(Array.from(reader.bytes.subarray(head, head + 12))).toEqual(Array.from(packet.subarray(0, 12)));
    expect(HEADER_ROOM).toBeGreaterThanOrEqual(12);
    expect(INLINE_MAX).toBeGreaterThanOrEqual(1472);
  });

  test("full until the oldest slot is released; a later slot released first frees nothing yet", () => {
    const ring = makeSenderRing(4, 1024);
    const reader = readSenderRing(ring.buffer, 4);
    const slots: number[] = [];
    for (let i = 0; i < 4; i++) {
      const s = ring.claim();
      ring.publishInPlace(s, i, null, 0, 0, 0, 0, 10, i, false);
      slots.push(s);
    }
    expect(new Set(slots).size).toBe(4);
    expect(ring.claim()).toBe(-1);
    expect(ring.free()).toBe(0);
    expect(taken(reader)).toEqual(slots);
    reader.release(slots[2]!);
    reader.release(slots[1]!);
    expect(ring.claim()).toBe(-1); // slot 0 still holds its datagram
    reader.release(slots[0]!);
    expect(ring.free()).toBe(3);
    // 0, 1 and 2 are free now; 3 is not.
    const reused: number[] = [];
    for (let s = ring.claim(); s >= 0; s = ring.claim()) {
      ring.publishInPlace(s, 9, null, 0, 0, 0, 0, 1, 0, false);
      reused.push(s);
    }
    expect(reused).toEqual([slots[0]!, slots[1]!, slots[2]!]);
    reader.release(slots[3]!);
    expect(ring.free()).toBe(1);
  });

  test("the arena is full until the oldest inline datagram is released, and a datagram never wraps its end", () => {
    const ring = makeSenderRing(16, 1000);
    const reader = readSenderRing(ring.buffer, 16);
    const d = (n: number) => new Uint8Array(300).fill(n);
    expect([handOver(ring, 1, d(1), 0), handOver(ring, 1, d(2), 0), handOver(ring, 1, d(3), 0)]).toEqual([true, true, true]);
    expect(handOver(ring, 1, d(4), 0)).toBe(false); // 900 of 1000 used
    const [first, second, third] = taken(reader);
    reader.release(second!);
    expect(handOver(ring, 1, d(4), 0)).toBe(false); // the oldest still holds the arena's head
    reader.release(first!);
    // 100 bytes are left at the end: the next datagram goes to the start, over the freed two.
    expect(handOver(ring, 1, d(4), 0)).toBe(true);
    const [fourth] = taken(reader);
    expect(reader.position(fourth!)).toBe(reader.position(first!));
    expect(inlineBytes(reader, third!)).toEqual(Array.from(d(3)));
    expect(inlineBytes(reader, fourth!)).toEqual(Array.from(d(4)));
  });

  test("with no inline datagram held, the arena starts again at its beginning, in-place slots outstanding or not", () => {
    const ring = makeSenderRing(16, 1000);
    const reader = readSenderRing(ring.buffer, 16);
    expect(handOver(ring, 1, new Uint8Array(300), 0)).toBe(true);
    const [first] = taken(reader);
    const slot = ring.claim();
    ring.publishInPlace(slot, 1, null, 0, 0, 0, 0, 1316, 0, false);
    reader.release(first!);
    taken(reader); // the in-place slot stays outstanding
    expect(handOver(ring, 1, new Uint8Array(200), 0)).toBe(true);
    const [second] = taken(reader);
    expect(reader.position(second!)).toBe(reader.position(first!));
  });

  test("many laps: every datagram arrives once, in order, whatever the order of release", () => {
    const ring = makeSenderRing(8, 4096);
    const reader = readSenderRing(ring.buffer, 8);
    let next = 0;
    const seen: number[] = [];
    const held: number[] = [];
    for (let round = 0; round < 2000 && next < 5000; round++) {
      // Lengths that do not divide the arena, so datagrams meet its end in every way.
      while (next < 5000) {
        const datagram = new Uint8Array(97 + (next % 13) * 61);
        new DataView(datagram.buffer).setUint32(0, next);
        if (!handOver(ring, 1, datagram, next)) break;
        next++;
      }
      reader.take((s) => {
        const bytes = reader.bytes;
        const at = reader.position(s);
        expect(reader.length(s)).toBe(97 + (seen.length % 13) * 61);
        seen.push(new DataView(bytes.buffer, bytes.byteOffset + at).getUint32(0));
        held.push(s);
      });
      // Release newer ones first: out of order, as a thread sending by due time may. The two newest
      // are kept into the next round, so the arena is never empty and goes round its end.
      const kept = held.splice(-2);
      held.reverse().forEach((s) => reader.release(s));
      held.length = 0;
      held.push(...kept);
    }
    expect(seen).toEqual(Array.from({ length: 5000 }, (_, i) => i));
  });

  test("the thread's catch-ups are counted on the main thread's side, and the arena's free bytes shrink and grow with inline slots", () => {
    const ring = makeSenderRing(4, 1024);
    const reader = readSenderRing(ring.buffer, 4);
    expect(ring.catchUps()).toBe(0);
    reader.caughtUp();
    reader.caughtUp();
    expect(ring.catchUps()).toBe(2);
    expect(ring.inlineFree()).toBe(1024);
    const slot = ring.claim();
    ring.publishInline(slot, 1, ring.inlineRoom(slot, 300), 300, 0);
    expect(ring.inlineFree()).toBe(724);
    taken(reader).forEach((s) => reader.release(s));
    expect(ring.inlineFree()).toBe(1024);
  });

  test("the slot count is a power of two", () => {
    expect(() => makeSenderRing(6)).toThrow(/power of two/);
  });
});
