/**
 * Story: a destination measures its own pacing from its send times: the gap quantiles come out
 * within a few per cent of the true gaps, the largest burst is the most sends within any 1 ms
 * (as a receiver counts arrivals), and a restart (after a gap or a pause) counts neither the
 * pause as a gap nor a burst across it.
 */
import { expect, test } from "bun:test";
import fc from "fast-check";
import { takeSendPacing } from "../../scheduler/pacing_blocks.ts";
import { SendPacing } from "../../scheduler/send_pacing.ts";

test("even 1 ms sends: gaps of 1000 µs, bursts of 1", () => {
  const p = new SendPacing();
  for (let i = 0; i < 5000; i++) p.record(10_000 + i * 1000);
  expect(p.summary()).toEqual({ sends: 5000, gap_us: { p50: 1000, p99: 1000, max: 1000 }, burst_1ms: 1, accuracy_us: { p50: 0, p99: 0, max: 0 } });
});

test("accuracy: each send against its due time on the stream's clock (the PCR line for TS)", () => {
  const p = new SendPacing();
  // 1000 sends due every 7 ms; most leave 20 µs late, one in fifty 300 µs late, one 50 µs early.
  for (let i = 0; i < 1000; i++) {
    const due = i * 7000;
    p.record(due + (i === 500 ? -50 : i % 50 === 49 ? 300 : 20), due);
  }
  const { accuracy_us } = p.summary();
  expect(accuracy_us.p50).toBe(20);
  expect(Math.abs(accuracy_us.p99 - 300)).toBeLessThanOrEqual(10); // the middle of its bucket
  expect(accuracy_us.max).toBe(300);
});

test("fractional µs (a clock's readings) are reported whole", () => {
  const p = new SendPacing();
  for (let i = 0; i < 100; i++) p.record(i * 1000.37 + 0.6, i * 1000);
  const { gap_us, accuracy_us } = p.summary();
  for (const v of [...Object.values(gap_us), ...Object.values(accuracy_us)]) expect(Number.isInteger(v)).toBe(true);
  expect(accuracy_us.max).toBe(37); // 99 × 0.37 + 0.6 = 37.2
});

test("a 12 ms stall caught up at once: a burst of 13 within 1 ms, the 12 ms gap at the top", () => {
  const p = new SendPacing();
  let t = 0;
  for (let i = 0; i < 100; i++) p.record((t += 1000));
  t += 12_000;
  for (let i = 0; i < 13; i++) p.record(t + i * 20); // the 13 sends due meanwhile go out back to back
  t += 240;
  for (let i = 0; i < 100; i++) p.record((t += 1000));
  const s = p.summary();
  expect(s.burst_1ms).toBe(13);
  expect(s.gap_us.max).toBe(12_000);
  expect(Math.abs(s.gap_us.p50 - 1000)).toBeLessThanOrEqual(32); // the middle of its bucket, 992-1023
});

test("gap quantiles are within 3.2 % of the exact ones, for any gaps", () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 16, max: 5_000_000 }), { minLength: 2, maxLength: 400 }), (gaps) => {
      const p = new SendPacing();
      let t = 0;
      p.record(t);
      for (const g of gaps) p.record((t += g));
      const sorted = [...gaps].sort((a, b) => a - b);
      for (const q of [0.5, 0.99]) {
        const exact = sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!;
        expect(Math.abs(p.gapQuantile(q) - exact) / exact).toBeLessThanOrEqual(0.032);
      }
      expect(p.maxGapUs).toBe(sorted.at(-1)!);
    }),
  );
});

test("the burst window is 1 ms: sends exactly 1000 µs apart are not in one window", () => {
  const p = new SendPacing();
  for (const t of [0, 999, 1000, 1998, 1999]) p.record(t);
  expect(p.largestBurst).toBe(3); // 1000, 1998, 1999
});

test("after restart the pause is no gap, and sends on either side are no burst", () => {
  const p = new SendPacing();
  p.record(0);
  p.record(500);
  p.restart();
  p.record(600);
  p.record(5_000_000);
  expect(p.largestBurst).toBe(2);
  expect(p.maxGapUs).toBe(4_999_400);
  expect(p.summary().sends).toBe(4);
});

test("property: with restarts anywhere, the gaps counted are exactly those within each stretch, across the ring's wrap", () => {
  fc.assert(
    fc.property(fc.array(fc.record({ gap: fc.integer({ min: 16, max: 100_000 }), restart: fc.boolean() }), { minLength: 1, maxLength: 300 }), (steps) => {
      const p = new SendPacing();
      const gaps: number[] = [];
      let t = 0;
      p.record(t);
      for (const { gap, restart } of steps) {
        if (restart) p.restart();
        else gaps.push(gap);
        p.record((t += gap));
      }
      expect(p.maxGapUs).toBe(gaps.length > 0 ? Math.max(...gaps) : 0);
      const sorted = [...gaps].sort((a, b) => a - b);
      if (sorted.length > 0) {
        const exact = sorted[Math.max(0, Math.ceil(0.5 * sorted.length) - 1)]!;
        expect(Math.abs(p.gapQuantile(0.5) - exact) / exact).toBeLessThanOrEqual(0.032);
      }
      expect(p.accuracy.count).toBe(steps.length + 1);
    }),
  );
});

test("property: blocks that share one buffer (takeSendPacing) each count as a pacing of its own memory does", () => {
  fc.assert(
    fc.property(fc.array(fc.array(fc.record({ gap: fc.integer({ min: 0, max: 20_000 }), late: fc.integer({ min: -300, max: 3000 }), restart: fc.boolean() }), { maxLength: 40 }), { minLength: 1, maxLength: 150 }), (streams) => {
      // More streams than a buffer holds (64), sends interleaved across them as a scheduler's are.
      const shared = streams.map(() => takeSendPacing());
      const own = streams.map(() => new SendPacing());
      const times = streams.map(() => 0);
      const longest = Math.max(...streams.map((s) => s.length));
      for (let i = 0; i < longest; i++) {
        streams.forEach((steps, s) => {
          const step = steps[i];
          if (!step) return;
          times[s]! += step.gap;
          for (const p of [shared[s]!, own[s]!]) {
            if (step.restart) p.restart();
            p.record(times[s]!, times[s]! - step.late);
          }
        });
      }
      shared.forEach((p, s) => expect(p.summary()).toEqual(own[s]!.summary()));
    }),
    { numRuns: 30 },
  );
});
