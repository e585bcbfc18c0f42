/** The latency buffer of a live input (sources/latency_hold.ts), on a manual clock. */
import { expect, test } from "bun:test";
import { latencyHold } from "../../sources/latency_hold.ts";
import { SOURCE_END } from "../../sources/source.ts";
import type { StreamSource } from "../../sources/stream_source.ts";

/** A stream whose bytes the test puts in by hand. */
function handStream() {
  let queued = 0;
  let ended = false;
  const source: StreamSource & { arrive(n: number): void; end(): void } = {
    label: "hand",
    onReadable: null,
    get ended() {
      return ended;
    },
    get available() {
      return queued;
    },
    read(_target, _at, length) {
      const n = Math.min(length, queued);
      queued -= n;
      return n > 0 ? n : ended ? SOURCE_END : 0;
    },
    peek: async () => new Uint8Array(0),
    rewind: () => false,
    close() {},
    arrive(n) {
      queued += n;
      source.onReadable?.();
    },
    end() {
      ended = true;
    },
  };
  return source;
}

const buffer = Buffer.alloc(1000);

test("reads pass through until hold(); then the first bytes wait the latency, and jitter shorter than it holds nothing", () => {
  let now = 0;
  const inner = handStream();
  const held = latencyHold(inner, 200, { now: () => now });
  inner.arrive(10);
  expect(held.read(buffer, 0, 5)).toBe(5); // detection reads through
  held.hold();
  expect(held.read(buffer, 0, 100)).toBe(0); // 5 bytes in hand, just seen: held
  now = 199;
  expect(held.read(buffer, 0, 100)).toBe(0);
  now = 200;
  expect(held.read(buffer, 0, 100)).toBe(5);
  // Dry for 150 ms (less than the latency): what comes next is read at once.
  now = 350;
  expect(held.read(buffer, 0, 100)).toBe(0);
  inner.arrive(7);
  expect(held.read(buffer, 0, 100)).toBe(7);
  held.close();
});

test("a stall longer than the latency holds the next bytes again; an ended input is never held", () => {
  let now = 0;
  const inner = handStream();
  const held = latencyHold(inner, 100, { now: () => now });
  held.hold();
  inner.arrive(4);
  expect(held.read(buffer, 0, 10)).toBe(0);
  now = 100;
  expect(held.read(buffer, 0, 10)).toBe(4);
  now = 350; // 250 ms dry: the buffer behind it has run out
  expect(held.read(buffer, 0, 10)).toBe(0);
  inner.arrive(3);
  expect(held.read(buffer, 0, 10)).toBe(0);
  now = 449;
  expect(held.read(buffer, 0, 10)).toBe(0);
  now = 450;
  expect(held.read(buffer, 0, 10)).toBe(3);
  now = 1000;
  expect(held.read(buffer, 0, 10)).toBe(0);
  inner.arrive(2);
  inner.end();
  expect(held.read(buffer, 0, 10)).toBe(2); // the tail of an ended input goes at once
  expect(held.read(buffer, 0, 10)).toBe(SOURCE_END);
  held.close();
});

test("the reader is called back when the latency runs out with no new bytes", async () => {
  const inner = handStream();
  const held = latencyHold(inner, 20);
  held.hold();
  let calls = 0;
  held.onReadable = () => calls++;
  inner.arrive(1);
  expect(calls).toBe(1);
  expect(held.read(buffer, 0, 10)).toBe(0);
  await Bun.sleep(60);
  expect(calls).toBe(2);
  expect(held.read(buffer, 0, 10)).toBe(1);
  held.close();
});
