/**
 * Plays are prepared one at a time, each beginning as a scheduler event (after the sends already
 * due), the next once it settles; one that takes longer than its hold gives up the turn. Manual
 * clock; the preparations are promises the test settles.
 */
import { expect, test } from "bun:test";
import { ManualClock } from "../../scheduler/clock.ts";
import { Scheduler } from "../../scheduler/scheduler.ts";
import { HOLD_US, PreparationTurns } from "../../server/preparation_turns.ts";

/** A preparation the test ends: `began` says whether it has run, `finish`/`fail` settle it. */
function preparation<T>() {
  let finish!: (value: T) => void;
  let fail!: (error: Error) => void;
  const state = { began: false, finish: (v: T) => finish(v), fail: (e: Error) => fail(e) };
  const run = () => {
    state.began = true;
    return new Promise<T>((resolve, reject) => ((finish = resolve), (fail = reject)));
  };
  return { state, run };
}

/** Lets promise callbacks run (a turn ending, a preparation beginning after its event). */
const settle = () => Bun.sleep(0);

/** Fires the scheduler's events due by `until`, then lets what they began run. */
async function runTo(scheduler: Scheduler, until: number): Promise<void> {
  scheduler.runUntil(until);
  await settle();
}

function turns(holdUs = HOLD_US) {
  const clock = new ManualClock(1_000_000);
  const scheduler = new Scheduler(clock);
  return { clock, scheduler, turns: new PreparationTurns(scheduler, holdUs) };
}

test("preparations run one at a time, in order, each from a scheduler event", async () => {
  const { scheduler, turns: t } = turns();
  const a = preparation<string>();
  const b = preparation<string>();
  const c = preparation<string>();
  const results = [t.take(a.run), t.take(b.run), t.take(c.run)];
  await settle();
  // Nothing runs within the request that asked: the scheduler's due events go first.
  expect([a.state.began, b.state.began, c.state.began]).toEqual([false, false, false]);
  expect(t.waiting).toBe(3);

  await runTo(scheduler, 1_000_000);
  expect([a.state.began, b.state.began, c.state.began]).toEqual([true, false, false]);
  // However often the scheduler turns, the next waits for the one preparing.
  await runTo(scheduler, 1_010_000);
  expect(b.state.began).toBe(false);

  a.state.finish("a");
  expect(await results[0]).toBe("a");
  await settle();
  expect(b.state.began).toBe(false); // its turn is an event of its own
  await runTo(scheduler, 1_010_000);
  expect([b.state.began, c.state.began]).toEqual([true, false]);
  b.state.finish("b");
  await settle();
  await runTo(scheduler, 1_010_000);
  expect(c.state.began).toBe(true);
  c.state.finish("c");
  expect(await Promise.all(results)).toEqual(["a", "b", "c"]);
  expect(t.waiting).toBe(0);
});

test("a preparation asked for while another holds the turn waits for it to end", async () => {
  const { scheduler, turns: t } = turns();
  const first = preparation<string>();
  const later = preparation<string>();
  const firstResult = t.take(first.run);
  await runTo(scheduler, 1_000_000);
  expect(first.state.began).toBe(true);
  const laterResult = t.take(later.run);
  await runTo(scheduler, 1_010_000);
  expect(later.state.began).toBe(false);
  expect(t.waiting).toBe(1);
  first.state.finish("first");
  expect(await firstResult).toBe("first");
  await settle();
  await runTo(scheduler, 1_010_000);
  expect(later.state.began).toBe(true);
  later.state.finish("later");
  expect(await laterResult).toBe("later");
});

test("a preparation that fails, at once or later, fails its own play and passes the turn on", async () => {
  const { scheduler, turns: t } = turns();
  const later = preparation<string>();
  const next = preparation<string>();
  const thrown = t.take(() => {
    throw new Error("no such media");
  });
  const rejected = t.take(later.run);
  const fine = t.take(next.run);
  scheduler.runUntil(1_000_000);
  await expect(thrown).rejects.toThrow("no such media");
  await settle();
  await runTo(scheduler, 1_000_000);
  expect(later.state.began).toBe(true);
  later.state.fail(new Error("probe failed"));
  await expect(rejected).rejects.toThrow("probe failed");
  await settle();
  await runTo(scheduler, 1_000_000);
  expect(next.state.began).toBe(true);
  next.state.finish("ok");
  expect(await fine).toBe("ok");
});

test("a preparation held past its hold gives up the turn, and still settles its own play", async () => {
  const { clock, scheduler, turns: t } = turns(50_000);
  const slow = preparation<string>();
  const quick = preparation<string>();
  const after = preparation<string>();
  const slowResult = t.take(slow.run);
  const quickResult = t.take(quick.run);
  const afterResult = t.take(after.run);
  await runTo(scheduler, 1_000_000);
  expect(slow.state.began).toBe(true);
  await runTo(scheduler, 1_049_999);
  expect(quick.state.began).toBe(false);
  await runTo(scheduler, 1_050_000);
  await runTo(scheduler, clock.now());
  expect(quick.state.began).toBe(true);
  // The slow one ending now does not end the quick one's turn.
  slow.state.finish("slow");
  expect(await slowResult).toBe("slow");
  await settle();
  await runTo(scheduler, clock.now() + 1_000);
  expect(after.state.began).toBe(false);
  quick.state.finish("quick");
  expect(await quickResult).toBe("quick");
  await settle();
  await runTo(scheduler, clock.now() + 1_000);
  expect(after.state.began).toBe(true);
  after.state.finish("after");
  expect(await afterResult).toBe("after");
});

test("when the server stops, the preparations still waiting, and any asked for later, are refused and never run", async () => {
  const { scheduler, turns: t } = turns();
  const running = preparation<string>();
  const waiting = preparation<string>();
  const runningResult = t.take(running.run);
  const waitingResult = t.take(waiting.run);
  await runTo(scheduler, 1_000_000);
  t.close(new Error("the server is stopping"));
  await expect(waitingResult).rejects.toThrow("the server is stopping");
  expect(t.waiting).toBe(0);
  // The one preparing goes on and settles its own play; nothing runs after it.
  running.state.finish("done");
  expect(await runningResult).toBe("done");
  await settle();
  await runTo(scheduler, 1_100_000);
  expect(waiting.state.began).toBe(false);
  const late = preparation<string>();
  await expect(t.take(late.run)).rejects.toThrow("the server is stopping");
  await runTo(scheduler, 1_200_000);
  expect(late.state.began).toBe(false);
});
