/**
 * The served-jobs table: a repeated play finds the running job it repeats, but never one already
 * ending (its interest expired or a stop asked, its outputs still closing): refreshing or making
 * that one persistent would answer `refreshed` for a stream about to end. Jobs start in turn, as
 * scheduler events, after the request that added them. Manual clock; the jobs
 * are bare RunningJobs whose stop waits until the test lets it finish.
 */
import { expect, test } from "bun:test";
import { silentLogger } from "../../foundation/log.ts";
import { ipKey } from "../../foundation/net/address.ts";
import type { JobResult } from "../../pipeline/job.ts";
import { ManualClock } from "../../scheduler/clock.ts";
import { Scheduler } from "../../scheduler/scheduler.ts";
import { FINISHED_HISTORY, JobTable, type RunningJob } from "../../server/jobs.ts";

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

test("a host's jobs are found however its address is written, in start order, and the lists follow jobs coming and going", async () => {
  const table = new JobTable({ scheduler: new Scheduler(new ManualClock(1_000_000)), log: silentLogger, interestTimeoutMs: 10_000 });
  const add = (owner: string, i: number, job: RunningJob = slowToStop()) =>
    table.add({ job, source: "a.ts", owner, outputs: [`udp://10.0.0.9:${5000 + i}`], persistent: true, repeatKey: `k${i}` });
  const first = add("10.0.0.5", 0);
  const other = add("2001:db8::1", 1);
  const ending = slowToStop();
  const mapped = add("::ffff:10.0.0.5", 2, ending);
  const ids = (list: readonly { id: string }[]) => list.map((s) => s.id);
  expect(ids(table.ownedBy(ipKey("10.0.0.5")))).toEqual([first.id, mapped.id]);
  expect(ids(table.ownedBy(ipKey("2001:DB8:0::1")))).toEqual([other.id]);
  expect(table.ownedBy(ipKey("10.0.0.6"))).toEqual([]);
  expect(ids(table.running())).toEqual([first.id, other.id, mapped.id]);
  // Asked again with nothing changed: the same lists, not built again.
  expect(table.running()).toBe(table.running());
  expect(table.ownedBy(ipKey("10.0.0.5"))).toBe(table.ownedBy(ipKey("10.0.0.5")));

  const later = add("10.0.0.5", 3);
  expect(ids(table.ownedBy(ipKey("10.0.0.5")))).toEqual([first.id, mapped.id, later.id]);
  void table.stop(mapped.id);
  ending.close();
  await Bun.sleep(0);
  expect(ids(table.ownedBy(ipKey("10.0.0.5")))).toEqual([first.id, later.id]);
  expect(ids(table.running())).toEqual([first.id, other.id, later.id]);
});

test("once stopAll has begun, a job prepared meanwhile is stopped, not added", async () => {
  const table = new JobTable({ scheduler: new Scheduler(new ManualClock(1_000_000)), log: silentLogger, interestTimeoutMs: 10_000 });
  await table.stopAll();
  let stopped = false;
  const late = { ...slowToStop(), stop: () => ((stopped = true), Promise.resolve()) };
  expect(() => table.add({ job: late, source: "a.ts", owner: "10.0.0.5", outputs: ["udp://10.0.0.5:5000"], persistent: true, repeatKey: "k" })).toThrow("the server is stopping");
  expect(stopped).toBe(true);
  expect(table.size).toBe(0);
  await expect(table.preparations.take(async () => "never")).rejects.toThrow("the server is stopping");
});

test("a stream being started is found by its repeat key until it has started or failed", async () => {
  const table = new JobTable({ scheduler: new Scheduler(new ManualClock(1_000_000)), log: silentLogger, interestTimeoutMs: 10_000 });
  let finish!: () => void;
  const starting = table.startingAs("k", () => new Promise<void>((resolve) => (finish = resolve)));
  const pending = table.startingFor("k");
  expect(pending).toBeDefined();
  expect(table.startingFor("other")).toBeUndefined();
  let waited = false;
  void pending!.then(() => (waited = true));
  await Bun.sleep(0);
  expect(waited).toBe(false);
  finish();
  await starting;
  await Bun.sleep(0);
  expect(waited).toBe(true);
  expect(table.startingFor("k")).toBeUndefined();
  // A start that fails is forgotten the same way, and those waiting on it go on.
  const failing = table.startingAs("k", () => Promise.reject(new Error("no such media")));
  const waiter = table.startingFor("k");
  await expect(failing).rejects.toThrow("no such media");
  await waiter;
  expect(table.startingFor("k")).toBeUndefined();
});

test("a client's jobs are counted by its address however spelled (IPv4-mapped as IPv4), plays being prepared included, until they finish", async () => {
  const scheduler = new Scheduler(new ManualClock(1_000_000));
  const table = new JobTable({ scheduler, log: silentLogger, interestTimeoutMs: 10_000 });
  const client = ipKey("10.0.0.5");
  const job = slowToStop();
  table.add({ job, source: "a.ts", owner: "::ffff:10.0.0.5", outputs: ["udp://10.0.0.5:5000"], persistent: true, repeatKey: "k" });
  let prepared!: () => void;
  const preparing = table.preparing(ipKey("10.0.0.5"), () => new Promise<void>((resolve) => (prepared = resolve)));
  expect(table.takenBy(client)).toBe(2);
  expect(table.taken).toBe(2);
  expect(table.takenBy(ipKey("10.0.0.6"))).toBe(0);
  prepared();
  await preparing;
  expect(table.takenBy(client)).toBe(1);
  void table.stop(table.running()[0]!.id);
  job.close();
  await Bun.sleep(0);
  expect(table.takenBy(client)).toBe(0);
  expect(table.taken).toBe(0);
});

test("one client ending jobs fast does not push another client's finished job out of the history (status {job} still says how it ended)", async () => {
  const scheduler = new Scheduler(new ManualClock(1_000_000));
  const table = new JobTable({ scheduler, log: silentLogger, interestTimeoutMs: 10_000 });
  const run = async (owner: string, i: number) => {
    const job = slowToStop();
    const served = table.add({ job, source: "a.ts", owner, outputs: [`udp://${owner}:${5000 + i}`], persistent: true, repeatKey: `${owner} ${i}` });
    job.close();
    await Bun.sleep(0);
    return served.id;
  };
  const theirs = await run("10.0.0.6", 0);
  const mine: string[] = [];
  for (let i = 0; i < FINISHED_HISTORY + 100; i++) mine.push(await run("10.0.0.5", i));
  expect(table.finished(theirs)?.id).toBe(theirs);
  // The churning client keeps its newest, within the one bound for all.
  expect(table.finished(mine.at(-1)!)?.id).toBe(mine.at(-1)!);
  expect(table.finished(mine[0]!)).toBeUndefined();
  expect(mine.filter((id) => table.finished(id)).length).toBe(FINISHED_HISTORY - 1);
});
