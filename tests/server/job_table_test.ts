/**
 * The served-jobs table: a repeated play finds the running job it repeats, but never one already
 * ending (its interest expired or a stop asked, its outputs still closing): refreshing or making
 * that one persistent would answer `refreshed` for a stream about to end. Manual clock; the jobs
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
