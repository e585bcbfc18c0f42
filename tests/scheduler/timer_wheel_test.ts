/**
 * Story: every timed event in pacer fires in deadline order and never
 * early, whatever the mix of deadlines, cancellations and reschedules.
 * Checked on a manual clock, so the results do not depend on the machine.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { ManualClock } from "../../scheduler/clock.ts";
import { LatenessHistogram } from "../../scheduler/lateness.ts";
import { LATENESS_BUCKET_EDGES_US } from "../../server/metrics_http.ts";
import { PacedSchedule } from "../../scheduler/paced_schedule.ts";
import { Scheduler } from "../../scheduler/scheduler.ts";
import { Timer, TimerWheel } from "../../scheduler/timer_wheel.ts";

describe("timer wheel", () => {
  test("fires in deadline order and never early, for any schedule (property)", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            deadline: fc.oneof(fc.integer({ min: 0, max: 5_000 }), fc.integer({ min: 0, max: 50_000_000 })),
            cancel: fc.boolean(),
          }),
          { minLength: 1, maxLength: 200 },
        ),
        fc.array(fc.integer({ min: 1, max: 3_000_000 }), { minLength: 1, maxLength: 40 }),
        (events, steps) => {
          const clock = new ManualClock(1_000);
          const scheduler = new Scheduler(clock);
          const fired: { deadline: number; at: number }[] = [];
          const timers = events.map((e) => {
            const t = scheduler.timer("test", (timer, now) => fired.push({ deadline: timer.deadline, at: now }));
            scheduler.schedule(t, e.deadline);
            return t;
          });
          events.forEach((e, i) => e.cancel && scheduler.cancel(timers[i]!));
          for (const step of steps) {
            clock.advance(step);
            scheduler.fireDue();
          }
          const expected = events
            .filter((e) => !e.cancel && e.deadline <= clock.now())
            .map((e) => e.deadline)
            .sort((a, b) => a - b);
          expect(fired.map((f) => f.deadline)).toEqual(expected);
          for (const f of fired) expect(f.at).toBeGreaterThanOrEqual(f.deadline);
          expect(scheduler.pending).toBe(events.filter((e) => !e.cancel).length - fired.length);
        },
      ),
      { numRuns: 300 },
    );
  });

  test("events scheduled from inside a callback, even in the past, fire in order in the same pass", () => {
    const clock = new ManualClock(0);
    const scheduler = new Scheduler(clock);
    const order: string[] = [];
    const b = scheduler.timer("t", () => order.push("b"));
    const a = scheduler.timer("t", () => {
      order.push("a");
      scheduler.schedule(b, 50); // already past when a fires at 100
    });
    scheduler.schedule(a, 100);
    scheduler.runUntil(1_000);
    expect(order).toEqual(["a", "b"]);
  });

  test("cancel unlinks in O(1) from the middle of a slot", () => {
    const wheel = new TimerWheel();
    const ts = [1, 2, 3].map((i) => {
      const t = new Timer("t", () => {});
      wheel.schedule(t, 100 + i);
      return t;
    });
    wheel.cancel(ts[1]!);
    expect(wheel.popDue(1_000)?.deadline).toBe(101);
    expect(wheel.popDue(1_000)?.deadline).toBe(103);
    expect(wheel.popDue(1_000)).toBeNull();
    expect(wheel.size).toBe(0);
  });

  test("equal deadlines keep the order they were scheduled in", () => {
    const clock = new ManualClock();
    const scheduler = new Scheduler(clock);
    const order: number[] = [];
    for (let i = 0; i < 10; i++) scheduler.schedule(scheduler.timer("t", () => order.push(i)), 500);
    scheduler.runUntil(500);
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  test("timers many wheel turns ahead fire at their time, not a turn early", () => {
    const clock = new ManualClock();
    const scheduler = new Scheduler(clock);
    const seen: number[] = [];
    const far = scheduler.timer("t", (_t, now) => seen.push(now));
    scheduler.schedule(far, 10_000_000); // ten turns of a ~1 s wheel
    scheduler.runUntil(9_999_999);
    expect(seen).toEqual([]);
    scheduler.runUntil(10_000_000);
    expect(seen).toEqual([10_000_000]);
  });
});

describe("periodic streams", () => {
  test("the n-th deadline is start + n × interval: no drift over a long run", () => {
    const clock = new ManualClock(0);
    const scheduler = new Scheduler(clock);
    const pace = new PacedSchedule(50_000);
    const intervalUs = 7_018.666; // 1316 bytes at 1.5 Mbit/s
    let n = 0;
    const deadlines: number[] = [];
    pace.start(0, 0);
    const send = scheduler.timer("send", (t, now) => {
      deadlines.push(t.deadline);
      n++;
      scheduler.schedule(t, pace.deadline(n * intervalUs, now));
    });
    scheduler.schedule(send, 0);
    scheduler.runUntil(3_600_000_000); // one hour
    expect(deadlines.at(-1)).toBe(Math.round((deadlines.length - 1) * intervalUs));
    expect(pace.reanchors).toBe(0);
  });

  test("a late stream catches up with a bounded burst, then re-anchors instead of piling up debt", () => {
    const pace = new PacedSchedule(30_000);
    pace.start(0, 0);
    // 20 ms late: within the bound, the burst keeps the original schedule.
    expect(pace.deadline(10_000, 30_000)).toBe(10_000);
    expect(pace.reanchors).toBe(0);
    // 200 ms late: re-anchor, this unit goes now and the rest keep their spacing from here.
    expect(pace.deadline(20_000, 220_000)).toBe(220_000);
    expect(pace.reanchors).toBe(1);
    expect(pace.deadline(30_000, 220_000)).toBe(230_000);
    // How far behind real time the stream ran in all: what play warns of past a second.
    expect(pace.reanchoredUs).toBe(200_000);
    expect(pace.deadline(40_000, 1_540_000)).toBe(1_540_000);
    expect(pace.reanchoredUs).toBe(200_000 + 1_300_000);
  });

  test("the burst's bound is the one given: 30 ms behind keeps the schedule, 31 ms re-anchors", () => {
    const pace = new PacedSchedule(30_000);
    pace.start(0, 0);
    expect(pace.deadline(10_000, 40_000)).toBe(10_000);
    expect(pace.reanchors).toBe(0);
    expect(pace.deadline(20_000, 51_000)).toBe(51_000);
    expect([pace.reanchors, pace.reanchoredUs]).toEqual([1, 31_000]);
  });

  test("the scheduler records lateness by event kind", () => {
    const clock = new ManualClock(0);
    const scheduler = new Scheduler(clock);
    const t = scheduler.timer("send", () => {});
    scheduler.schedule(t, 100);
    clock.set(350);
    scheduler.fireDue();
    const s = scheduler.lateness("send").summary();
    expect(s).toEqual({ count: 1, p50: 250, p99: 250, max: 250 });
  });
});

describe("lateness histogram", () => {
  test("quantiles are within 1.6 % of the exact value", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 10_000_000 }), { minLength: 1, maxLength: 500 }), (values) => {
        const h = new LatenessHistogram();
        for (const v of values) h.record(v);
        const sorted = [...values].sort((a, b) => a - b);
        for (const q of [0.5, 0.99]) {
          const exact = sorted[Math.ceil(q * sorted.length) - 1]!;
          const got = h.quantile(q);
          expect(got).toBeLessThanOrEqual(exact);
          expect(got).toBeGreaterThanOrEqual(exact * (1 - 1 / 64) - 1);
        }
        expect(h.max).toBe(sorted.at(-1)!);
      }),
    );
  });

  test("countsBelow is exact at the edges the Prometheus buckets are cut at", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 2_000_000 }), { maxLength: 500 }), (values) => {
        const h = new LatenessHistogram();
        for (const v of values) h.record(v);
        const below = h.countsBelow(LATENESS_BUCKET_EDGES_US);
        LATENESS_BUCKET_EDGES_US.forEach((bound, i) => expect(below[i]).toBe(values.filter((v) => v < bound).length));
      }),
    );
  });
});

describe("real clock", () => {
  test("fires a periodic event on time within a generous bound", async () => {
    const scheduler = new Scheduler();
    const start = scheduler.now() + 2_000;
    let n = 0;
    const lateness: number[] = [];
    await new Promise<void>((resolve) => {
      const t = scheduler.timer("send", (timer, now) => {
        lateness.push(now - timer.deadline);
        if (++n === 50) return resolve();
        scheduler.schedule(timer, start + n * 4_000);
      });
      scheduler.schedule(t, start);
    });
    for (const l of lateness) expect(l).toBeGreaterThanOrEqual(0);
    lateness.sort((a, b) => a - b);
    expect(lateness[25]!).toBeLessThan(5_000); // median under 5 ms even on a busy shared host
  });
});
