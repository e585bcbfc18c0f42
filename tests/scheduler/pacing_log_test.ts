/**
 * Story: a server's destinations record their sends through one pacing log, counted in batches;
 * what any of them reports is what it would have counted send by send, restarts in their places,
 * however the records of many destinations interleave and wherever the folds fall.
 */
import { expect, test } from "bun:test";
import fc from "fast-check";
import { PacingLog } from "../../scheduler/pacing_log.ts";
import { SendPacing } from "../../scheduler/send_pacing.ts";

type Step = { target: number; restart: boolean; gapUs: number; lateUs: number; foldAfter: boolean };

test("records and restarts kept back in the log, interleaved across destinations, count as if each were counted at once", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 5 }),
      fc.array(
        fc.record({ target: fc.nat(4), restart: fc.boolean(), gapUs: fc.integer({ min: 0, max: 20_000 }), lateUs: fc.integer({ min: -300, max: 3000 }), foldAfter: fc.boolean() }),
        { maxLength: 400 },
      ),
      fc.integer({ min: 0, max: 40_000 }),
      (destinations: number, steps: Step[], bulk: number) => {
        const direct = Array.from({ length: destinations }, () => new SendPacing());
        const logged = Array.from({ length: destinations }, () => new SendPacing());
        const log = new PacingLog();
        let now = 1_000;
        const send = (k: number, restart: boolean, gapUs: number, lateUs: number) => {
          now += gapUs;
          if (restart) {
            direct[k]!.restart();
            log.restart(logged[k]!);
          }
          direct[k]!.record(now, now - lateUs);
          log.record(logged[k]!, now, now - lateUs);
        };
        for (const s of steps) {
          send(s.target % destinations, s.restart && s.gapUs % 7 === 0, s.gapUs, s.lateUs);
          // A reader folds whenever it reads (status, /metrics): anywhere between sends.
          if (s.foldAfter && s.gapUs % 5 === 0) log.fold();
          else if (s.foldAfter) log.foldIfDue();
        }
        // Past the log's capacity: it folds on its own, and order still holds.
        for (let i = 0; i < bulk; i++) send(i % destinations, i % 997 === 0, 7000 + (i % 13), i % 17);
        log.fold();
        for (let k = 0; k < destinations; k++) expect(logged[k]!.summary()).toEqual(direct[k]!.summary());
      },
    ),
    { numRuns: 60 },
  );
});

test("nothing is counted until a fold; foldIfDue waits for a batch worth folding", () => {
  const log = new PacingLog();
  const p = new SendPacing();
  for (let i = 0; i < 100; i++) log.record(p, i * 7000, i * 7000);
  log.foldIfDue();
  expect(p.sends).toBe(0);
  log.fold();
  expect(p.sends).toBe(100);
  expect(p.summary().gap_us.max).toBe(7000);
});
