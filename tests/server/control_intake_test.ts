/**
 * The control intake on a manual clock: requests wait in a bounded FIFO and are handled in slices.
 * While media keeps the loop busy, a slice stops once its budget is spent or a send falls due and
 * slices start a period apart; on an idle loop control gets half of the time and a new request is
 * taken at once; sends already due always go before a slice.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { ManualClock } from "../../scheduler/clock.ts";
import { Scheduler } from "../../scheduler/scheduler.ts";
import { ControlIntake, type IntakeShape } from "../../server/control_intake.ts";

const SHAPE: IntakeShape = { capacity: 8, perSource: 8, sliceUs: 150, periodUs: 1_000 };
const failOnError = (error: unknown) => {
  throw new Error(`unexpected handler error: ${error}`);
};

/** A queued request, numbered so the handler can tell which ran. */
interface Numbered {
  readonly bytes: Uint8Array;
  readonly source: string;
}

function datagram(n: number, address = "127.0.0.1"): Numbered {
  return { bytes: new Uint8Array([n & 0xff, n >> 8]), source: address };
}

/** Media keeping the loop busy: a send every 300 µs (taking no time), so it is never idle for a period. */
const BUSY_EVERY_US = 300;

/**
 * An intake whose handler costs `costUs(n)` of manual-clock time per request, logging when each
 * ran; with `busy`, a send falls due every BUSY_EVERY_US (from 300 µs on).
 */
function setup(costUs: (n: number) => number, shape = SHAPE, busy = true) {
  const clock = new ManualClock(1_000_000);
  const scheduler = new Scheduler(clock);
  if (busy) {
    const send = scheduler.timer("send", (t) => scheduler.schedule(t, t.deadline + BUSY_EVERY_US));
    scheduler.schedule(send, clock.now() + BUSY_EVERY_US);
  }
  const handled: { n: number; at: number }[] = [];
  const intake = new ControlIntake<Numbered>(
    scheduler,
    (d) => {
      const n = d.bytes[0]! | (d.bytes[1]! << 8);
      handled.push({ n, at: clock.now() });
      clock.advance(costUs(n));
    },
    failOnError,
    shape,
  );
  return { clock, scheduler, intake, handled };
}

/** Handled requests grouped into slices: a new slice starts when a request does not follow straight on from the one before. */
function slicesOf(handled: { n: number; at: number }[], costs: number[]): { start: number; end: number }[] {
  const slices: { start: number; end: number }[] = [];
  for (const h of handled) {
    const last = slices.at(-1);
    if (last && h.at === last.end) last.end = h.at + costs[h.n]!;
    else slices.push({ start: h.at, end: h.at + costs[h.n]! });
  }
  return slices;
}

describe("ControlIntake", () => {
  test("an idle server handles a request at once", () => {
    const { clock, scheduler, intake, handled } = setup(() => 20);
    expect(intake.offer(datagram(1))).toBe(true);
    scheduler.fireDue();
    expect(handled).toEqual([{ n: 1, at: clock.now() - 20 }]);
    expect(intake.queued).toBe(0);
  });

  test("on an idle loop a flood gets every other slice's worth of time", () => {
    const { clock, scheduler, intake, handled } = setup(() => 40, SHAPE, false);
    const start = clock.now();
    for (let n = 0; n < 8; n++) intake.offer(datagram(n));
    scheduler.runUntil(start + 10_000);
    // 4 requests (0–160 µs), then as long again for everything else, then 4 more from 320 µs.
    expect(handled.map((h) => h.at - start)).toEqual([0, 40, 80, 120, 320, 360, 400, 440]);
  });

  test("on an idle loop a request right after a slice is taken at once, not a period later", () => {
    const { clock, scheduler, intake, handled } = setup(() => 10, SHAPE, false);
    const start = clock.now();
    intake.offer(datagram(0));
    scheduler.runUntil(start + 100);
    intake.offer(datagram(1));
    scheduler.runUntil(start + 100);
    expect(handled.map((h) => h.at - start)).toEqual([0, 100]);
  });

  test("property: on an idle loop control takes at most half the time, however slow its requests", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 900 }), { minLength: 2, maxLength: 40 }), (costs) => {
        const { clock, scheduler, intake, handled } = setup((n) => costs[n]!, { ...SHAPE, capacity: 64, perSource: 64 }, false);
        const start = clock.now();
        costs.forEach((_, n) => intake.offer(datagram(n)));
        scheduler.runUntil(start + 100_000);
        expect(handled.map((h) => h.n)).toEqual(costs.map((_, n) => n));
        // After each slice, the loop gets at least as long.
        const slices = slicesOf(handled, costs);
        for (let i = 1; i < slices.length; i++) {
          const before = slices[i - 1]!;
          expect(slices[i]!.start - before.end).toBeGreaterThanOrEqual(Math.max(SHAPE.sliceUs, before.end - before.start));
        }
        expect(slices[0]!.start).toBe(start);
      }),
    );
  });

  test("on a busy loop a flood is handled a budget's worth per period, in arrival order, and a full queue refuses more", () => {
    const { clock, scheduler, intake, handled } = setup(() => 40);
    const start = clock.now();
    const accepted: number[] = [];
    for (let n = 0; n < 12; n++) if (intake.offer(datagram(n))) accepted.push(n);
    expect(accepted).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    scheduler.runUntil(start + 10_000);
    expect(handled.map((h) => h.n)).toEqual(accepted);
    // 40 µs each against a 150 µs slice: 4 per slice (the 4th starts at 120 µs), slices 1 ms apart.
    expect(handled.map((h) => h.at - start)).toEqual([0, 40, 80, 120, 1000, 1040, 1080, 1120]);
  });

  test("sends already due go before a control slice", () => {
    const clock = new ManualClock(1_000);
    const scheduler = new Scheduler(clock);
    const order: string[] = [];
    const intake = new ControlIntake<Numbered>(scheduler, () => order.push("control"), failOnError, SHAPE);
    scheduler.schedule(scheduler.timer("send", () => order.push("send")), clock.now() - 5);
    intake.offer(datagram(7));
    scheduler.fireDue();
    expect(order).toEqual(["send", "control"]);
  });

  test("one source may not hold more than its share of the queue", () => {
    const { scheduler, intake, handled } = setup(() => 10, { ...SHAPE, perSource: 3 });
    const accepted = [0, 1, 2, 3, 4].map((n) => intake.offer(datagram(n, "10.0.0.1")));
    expect(accepted).toEqual([true, true, true, false, false]);
    expect(intake.offer(datagram(5, "10.0.0.2"))).toBe(true);
    scheduler.runUntil(scheduler.now() + 5_000);
    expect(handled.map((h) => h.n)).toEqual([0, 1, 2, 5]);
    // Handled datagrams give their places back.
    expect(intake.offer(datagram(6, "10.0.0.1"))).toBe(true);
  });

  test("a slice yields as soon as another event falls due, after at least one request", () => {
    const { clock, scheduler, intake, handled } = setup(() => 20);
    const start = clock.now();
    const sends: number[] = [];
    const send = scheduler.timer("send", (_t, now) => sends.push(now - start));
    scheduler.schedule(send, start + 30);
    for (let n = 0; n < 4; n++) intake.offer(datagram(n));
    scheduler.fireDue();
    // Request 0 runs 0–20 µs, request 1 20–40 µs; at 40 µs the send (due at 30) is due: yield.
    expect(handled.map((h) => h.at - start)).toEqual([0, 20]);
    expect(sends).toEqual([40]);
    scheduler.runUntil(start + 2_000);
    expect(handled.map((h) => h.at - start)).toEqual([0, 20, 1000, 1020]);
  });

  test("a slice that fires late (the loop is behind its sends) takes one request and backs off for four periods", () => {
    const { clock, scheduler, intake, handled } = setup(() => 10);
    const start = clock.now();
    for (let n = 0; n < 4; n++) intake.offer(datagram(n));
    // The loop is stuck for 2 ms (a slow host, a GC pause) before the first slice can run.
    clock.advance(2_000);
    scheduler.runUntil(start + 20_000);
    // Late at 2 ms: one request, then nothing until 6 ms; there a send falls due at the same
    // instant (every 300 µs), so one request again, and two at 7 ms.
    expect(handled.map((h) => h.at - start)).toEqual([2_000, 6_000, 7_000, 7_010]);
  });

  test("a request slower than the slice is still handled, one per slice", () => {
    const { clock, scheduler, intake, handled } = setup(() => 400);
    const start = clock.now();
    for (let n = 0; n < 3; n++) intake.offer(datagram(n));
    scheduler.runUntil(start + 5_000);
    expect(handled.map((h) => h.at - start)).toEqual([0, 1000, 2000]);
  });

  test("a handler that throws is reported, and neither the queue nor the scheduler's other events stop", () => {
    const clock = new ManualClock(0);
    const scheduler = new Scheduler(clock);
    const seen: number[] = [];
    const errors: string[] = [];
    const intake = new ControlIntake<Numbered>(
      scheduler,
      (d) => {
        seen.push(d.bytes[0]!);
        if (d.bytes[0] === 0) throw new Error("boom");
      },
      (error) => errors.push((error as Error).message),
      SHAPE,
    );
    let sends = 0;
    scheduler.schedule(scheduler.timer("send", () => sends++), 10);
    intake.offer(datagram(0));
    intake.offer(datagram(1));
    scheduler.runUntil(5_000);
    expect(seen).toEqual([0, 1]);
    expect(errors).toEqual(["boom"]);
    expect(sends).toBe(1);
    expect(intake.queued).toBe(0);
  });

  test("property: FIFO, nothing accepted is lost, slices keep to their budget and period", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ gapUs: fc.integer({ min: 0, max: 600 }), costUs: fc.integer({ min: 1, max: 300 }) }), { minLength: 1, maxLength: 200 }),
        (arrivals) => {
          const costs = arrivals.map((a) => a.costUs);
          const { clock, scheduler, intake, handled } = setup((n) => costs[n]!);
          const accepted: number[] = [];
          arrivals.forEach((a, n) => {
            scheduler.runUntil(clock.now() + a.gapUs);
            if (intake.offer(datagram(n))) accepted.push(n);
          });
          scheduler.runUntil(clock.now() + 1_000 * (SHAPE.capacity + 2));
          expect(handled.map((h) => h.n)).toEqual(accepted);
          const slices = slicesOf(handled, costs);
          for (let i = 0; i < slices.length; i++) {
            const s = slices[i]!;
            // A slice stops starting requests once its budget is spent: it overruns by at most one request.
            expect(s.end - s.start).toBeLessThan(SHAPE.sliceUs + 300);
            if (i > 0) expect(s.start - slices[i - 1]!.start).toBeGreaterThanOrEqual(SHAPE.periodUs);
          }
        },
      ),
    );
  });
});
