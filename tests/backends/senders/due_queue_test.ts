/**
 * The sender thread's queue by due time (backends/net/senders/due_queue.ts): whatever the order
 * datagrams come in, they leave earliest due first, and those due at the same time in the order
 * they came (a destination's close never overtakes its last datagram).
 */
import { expect, test } from "bun:test";
import fc from "fast-check";
import { DueQueue } from "../../../backends/net/senders/due_queue.ts";

/** Adds each due time (slot = its index), then takes all; returns the slots in the order they left. */
function run(dues: number[]): number[] {
  const queue = new DueQueue(dues.length, (slot) => dues[slot]!);
  dues.forEach((_, slot) => queue.add(slot));
  const out: number[] = [];
  while (queue.size > 0) out.push(queue.take());
  return out;
}

test("what is queued leaves earliest due first, ties in the order they came", () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 50 }), { maxLength: 200 }), (dues) => {
      const out = run(dues);
      const expected = dues.map((d, i) => [d, i] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]).map(([, i]) => i);
      expect(out).toEqual(expected);
    }),
    { numRuns: 2000 },
  );
});

test("mostly rising due times, a few due at once among them, taken as they come: each take is the earliest queued", () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 20 })), { maxLength: 300 }), fc.integer({ min: 1, max: 5 }), (steps, every) => {
      let now = 0;
      const dues = steps.map(([atOnce, step]) => (atOnce ? now : (now += step) + 20));
      const queue = new DueQueue(dues.length, (slot) => dues[slot]!);
      const queued = new Set<number>();
      dues.forEach((_, slot) => {
        queue.add(slot);
        queued.add(slot);
        if (slot % every === 0) {
          const first = queue.take();
          const earliest = Math.min(...[...queued].map((s) => dues[s]!));
          expect(dues[first]).toBe(earliest);
          // Among equals, the first that came.
          expect(first).toBe(Math.min(...[...queued].filter((s) => dues[s] === earliest)));
          queued.delete(first);
        }
      });
    }),
    { numRuns: 1000 },
  );
});

test("thousands due before the FIFO's last (every destination catching up after the thread fell behind) leave in order, in log time each", () => {
  // 100,000 slots: the first due last, then each due earlier (all but the first go early), with
  // ties. Sorted insertion took minutes here (the thread stalled at 800 streams); a heap, ms.
  const n = 100_000;
  const dues = Array.from({ length: n }, (_, i) => (i === 0 ? n : Math.floor((n - i) / 3)));
  const started = performance.now();
  const out = run(dues);
  const tookMs = performance.now() - started;
  const expected = dues.map((d, i) => [d, i] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]).map(([, i]) => i);
  expect(out).toEqual(expected);
  expect(tookMs).toBeLessThan(2_000);
});
