/**
 * The served-jobs table: a repeated play finds the running job it repeats, but never one already
 * ending (its interest expired or a stop asked, its outputs still closing): refreshing or making
 * that one persistent would answer `refreshed` for a stream about to end. Jobs start in turn, as
 * scheduler events, after the request that added them. Manual clock; the jobs
 * are bare RunningJobs whose stop waits until the test lets it finish.
 */
import { expect, test } from "bun:test";
import { silentLogger } from "../../foundation/log.ts";
import type { JobResult } from "../../pipeline/job.ts";
import { ManualClock } from "../../scheduler/clock.ts";
import { Scheduler } from "../../scheduler/scheduler.ts";
import { JobTable, type RunningJob } from "../../server/jobs.ts";

/** A job that runs until stopped, and whose stop (its outputs closing) ends only on `close()`. */
function slowToStop(): RunningJob & { close(): void } {
  let finish!: (r: JobResult) => void;
  const done = new Promise<JobResult>((resolve) => (finish = resolve));
  let closed!: () => void;
  const closing = new Promise<void>((resolve) => (closed = resolve));
  return {
    done,
    destinations: [],
    loops: 0,
    start() {},
    stop: () => closing,
    close() {
      closed();
      finish({ failures: [], inputError: null } as unknown as JobResult);
    },
  };
}

test("a repeat finds the running job, and not one that is ending", async () => {
  const scheduler = new Scheduler(new ManualClock(1_000_000));
  const table = new JobTable({ scheduler, log: silentLogger, interestTimeoutMs: 10_000 });
  const job = slowToStop();
  const served = table.add({ job, source: "a.ts", owner: "10.0.0.5", outputs: ["udp://10.0.0.5:5000"], persistent: false, repeatKey: "k" });
  expect(table.findRepeat("k")?.id).toBe(served.id);

  void table.stop(served.id); // its outputs are still closing
  expect(table.get(served.id)).toBeDefined();
  expect(table.findRepeat("k")).toBeUndefined();

  // A new play for the same stream starts its own job; the old one finishing leaves it findable.
  const again = table.add({ job: slowToStop(), source: "a.ts", owner: "10.0.0.5", outputs: ["udp://10.0.0.5:5000"], persistent: false, repeatKey: "k" });
  job.close();
  await Bun.sleep(0);
  expect(table.findRepeat("k")?.id).toBe(again.id);
});

test("jobs added together start one per event, START_SPACING_US apart, and one stopped before its turn never starts", () => {
  const clock = new ManualClock(1_000_000);
  const scheduler = new Scheduler(clock);
  const table = new JobTable({ scheduler, log: silentLogger, interestTimeoutMs: 10_000 });
  const startedAt: number[] = [];
  const jobs = Array.from({ length: 4 }, () => ({ ...slowToStop(), start: () => startedAt.push(clock.now()) }));
  const served = jobs.map((job, i) => table.add({ job, source: "a.ts", owner: "10.0.0.5", outputs: [`udp://10.0.0.5:${5000 + i}`], persistent: true, repeatKey: `k${i}` }));
  // Added, counted, and not started within the request that added them: the sends due go first.
  expect(table.size).toBe(4);
  expect(startedAt).toEqual([]);
  void table.stop(served[2]!.id);
  scheduler.runUntil(1_010_000);
  expect(startedAt).toEqual([1_000_000, 1_000_500, 1_001_000]);
  // Later, with none waiting, a job starts at once.
  table.add({ job: { ...slowToStop(), start: () => startedAt.push(clock.now()) }, source: "a.ts", owner: "10.0.0.5", outputs: ["udp://10.0.0.5:6000"], persistent: true, repeatKey: "k9" });
  scheduler.runUntil(1_020_000);
  expect(startedAt.at(-1)).toBe(1_010_000);
});
