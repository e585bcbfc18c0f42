/**
 * When batched send events wake the thread (scheduler.ts batchedWakeAt): at most a window early,
 * never after the deadline, and, for deadlines spread evenly, at most once a window, so that a
 * pass gathers what falls due in the next window instead of one datagram each.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { batchedWakeAt, Scheduler } from "../../scheduler/scheduler.ts";

describe("batchedWakeAt", () => {
  test("a lone deadline wakes a window early, as before", () => {
    expect(batchedWakeAt(10_000, 100, -Infinity)).toBe(9_900);
    expect(batchedWakeAt(10_000, 100, 0)).toBe(9_900);
  });

  test("a deadline just after a pass waits for the window after that pass", () => {
    // The pass at 1000 took everything due up to 1100; the next due at 1110 waits until 1100, not 1010.
    expect(batchedWakeAt(1_110, 100, 1_000)).toBe(1_100);
  });

  test("a deadline before the next window wakes at the deadline itself, not late", () => {
    expect(batchedWakeAt(1_050, 100, 1_000)).toBe(1_050);
  });

  test("always within the window before the deadline; before the next window only at the deadline", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e9 }), fc.integer({ min: 0, max: 10_000 }), fc.integer({ min: -1e6, max: 1e9 }), (deadline, window, lastPass) => {
        const at = batchedWakeAt(deadline, window, lastPass);
        expect(at).toBeLessThanOrEqual(deadline);
        expect(at).toBeGreaterThanOrEqual(deadline - window);
        expect(at >= lastPass + window || at === deadline).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("a real-clock scheduler with batched sends", () => {
  test("deadlines every 10 µs over 50 ms go out in passes at most once a window, none early by more than it", async () => {
    const scheduler = new Scheduler();
    const WINDOW = 500;
    const COUNT = 5_000;
    let flushes = 0;
    scheduler.batchSends(WINDOW, () => flushes++);
    const firedAt = new Float64Array(COUNT);
    const deadlines = new Float64Array(COUNT);
    let fired = 0;
    const start = scheduler.now() + 20_000;
    for (let i = 0; i < COUNT; i++) {
      deadlines[i] = start + i * 10;
      const timer = scheduler.timer("send", (_t, now) => {
        firedAt[i] = now;
        fired++;
      });
      scheduler.schedule(timer, deadlines[i]!);
    }
    while (fired < COUNT) await Bun.sleep(5);
    scheduler.batchSends(0, null);
    for (let i = 0; i < COUNT; i++) expect(firedAt[i]! - deadlines[i]!).toBeGreaterThanOrEqual(-WINDOW);
    // 50 ms of deadlines, a pass at most every 500 µs: about 100 flushes (a late host makes fewer).
    // Woken a window ahead of each deadline, as before batchedWakeAt, it made about 1,700 here.
    expect(flushes).toBeLessThanOrEqual(50_000 / WINDOW + 20);
  });

  test("a pass made inside a send event (a sender thread's inner loop) keeps the next wake-up a window after it", async () => {
    const scheduler = new Scheduler();
    const WINDOW = 500;
    scheduler.batchSends(WINDOW, () => {});
    let notedAt = 0;
    let laterFiredAt = 0;
    const later = scheduler.timer("send", (_t, now) => (laterFiredAt = now));
    const first = scheduler.timer("send", () => {
      // Sends for 3 ms inside the event, then tells the scheduler when its last pass was.
      const until = scheduler.now() + 3_000;
      while (scheduler.now() < until);
      notedAt = scheduler.now();
      scheduler.notePass(notedAt);
      // Due 1.5 windows after that pass: without the note it could go a whole window early.
      scheduler.schedule(later, notedAt + WINDOW * 1.5);
    });
    scheduler.schedule(first, scheduler.now() + 5_000);
    while (laterFiredAt === 0) await Bun.sleep(2);
    scheduler.batchSends(0, null);
    expect(laterFiredAt - notedAt).toBeGreaterThanOrEqual(WINDOW);
  });
});
