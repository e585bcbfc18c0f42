/**
 * A sender thread that falls behind holds datagrams whose bytes lie in the job's read-ahead buffer
 * (Backend.heldFrom). Stories, on a manual clock: a thread that stops for 0.55 s (more than the
 * job's time hold of the lead and 50 ms) then sends every datagram late and whole, none dropped;
 * a thread that stops for 3 s loses only what loads needed the room for, counted; and the job's
 * output on another thread that keeps up never waits for data either way.
 *
 * The thread is a stand-in (`held:`) that takes units in place as a sender thread does and reads
 * them when the test lets it, checking that their bytes were still held (SharedBytes.holds) as
 * the thread does (backends/net/send_batcher.ts).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import "../../backends/all.ts";
import { type Backend, newCounters } from "../../backends/backend.ts";
import { registerBackend } from "../../backends/registry.ts";
import type { SharedBytes } from "../../foundation/shared_bytes.ts";
import { silentLogger } from "../../foundation/log.ts";
import type { Destination } from "../../pipeline/destination.ts";
import { Job } from "../../pipeline/job.ts";
import { TS_SIZE } from "../../protocol/mpegts.ts";
import { ManualClock } from "../../scheduler/clock.ts";
import { Scheduler } from "../../scheduler/scheduler.ts";
import { openInput } from "../../sources/open_input.ts";
import { makeCbrTs } from "../helpers/mpeg_fixtures.ts";

const dir = mkdtempSync(join(tmpdir(), "pacer-held-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const UNIT = 7 * TS_SIZE;
const STOP_AT_US = 1_200_000;

interface HandedOver {
  media: SharedBytes;
  offset: number;
  position: number;
  length: number;
  dueUs: number;
}

/** A stand-in thread: what it holds, what it sent (stream offset and bytes), what it dropped. */
interface StandInThread {
  held: HandedOver[];
  sent: { offset: number; bytes: Buffer }[];
  dropped: number;
}

const threads = new Map<string, StandInThread>();

/** The thread reads and sends what is due by `now`, as a sender thread does: copy, then check the bytes were held. */
function sendDue(thread: StandInThread, now: number): void {
  while (thread.held.length > 0 && thread.held[0]!.dueUs <= now) {
    const h = thread.held.shift()!;
    const bytes = Buffer.alloc(h.length);
    h.media.copyOut(h.position, h.length, bytes, 0);
    if (h.media.holds(h.offset)) thread.sent.push({ offset: h.offset, bytes });
    else thread.dropped++;
  }
}

registerBackend({
  scheme: "held",
  summary: "held:NAME  a stand-in sender thread for tests",
  async create(target: string): Promise<Backend> {
    const thread: StandInThread = { held: [], sent: [], dropped: 0 };
    threads.set(target, thread);
    return {
      label: target,
      unitBytes: UNIT,
      aheadUs: 0,
      leadUs: 20_000,
      counters: newCounters(),
      send: () => {
        throw new Error("a unit in place was expected");
      },
      sendInPlace(media, offset, position, length, timing) {
        thread.held.push({ media, offset, position, length, dueUs: timing.dueUs });
        return length;
      },
      heldFrom: () => (thread.held.length > 0 ? thread.held[0]!.offset : Infinity),
      async close() {},
    };
  },
});

/**
 * A 4 s stream to two stand-in threads of one job; `held:stops` stops sending at 1.2 s for
 * `stallUs`, `held:keeps` keeps up. Also how far behind its own output the one that stops was at
 * the loads meanwhile, bytes.
 */
async function run(stallUs: number) {
  const stream = makeCbrTs({ bitrate: 1_500_000, duration: 4 });
  const input = join(dir, "in.ts");
  writeFileSync(input, stream);
  const scheduler = new Scheduler(new ManualClock(1_000_000));
  const opened = await openInput(input);
  const job = await Job.create({ input: opened.info, source: opened.source, byteClock: opened.byteClock, outputs: ["held:stops", "held:keeps"], scheduler, log: silentLogger });
  const [stopping, keeping] = job.destinations as [Destination, Destination];
  const stops = threads.get("held:stops")!;
  const keeps = threads.get("held:keeps")!;
  job.start();
  const start = scheduler.now();
  let loadedTo = job.ring.end;
  const behindAtLoads: number[] = [];
  while (job.destinations.some((d) => d.active) || stops.held.length + keeps.held.length > 0) {
    scheduler.runUntil(scheduler.now() + 1_000);
    const t = scheduler.now() - start;
    const stopped = t >= STOP_AT_US && t < STOP_AT_US + stallUs;
    if (!stopped) sendDue(stops, scheduler.now());
    sendDue(keeps, scheduler.now());
    if (stopped && job.ring.end !== loadedTo && stops.held.length > 0) behindAtLoads.push(stopping.reader.position - stops.held[0]!.offset);
    loadedTo = job.ring.end;
    if (t > 20_000_000) throw new Error("the job did not end");
  }
  await job.done;
  return { stream, stops, keeps, keeping, behindAtLoads, keptBehind: job.ring.keepBehind };
}

/** What a stand-in sent, joined in order. */
const joined = (thread: StandInThread) => Buffer.concat(thread.sent.map((s) => s.bytes));

describe("a sender thread behind keeps its bytes (manual clock)", () => {
  test("stopped for 0.55 s: every datagram is sent late and whole, none dropped; the job's other thread never waits for data", async () => {
    const { stream, stops, keeps, keeping, behindAtLoads, keptBehind } = await run(550_000);
    // The job loaded while the thread was further behind than its time hold (lead + 50 ms) covers.
    expect(Math.max(...behindAtLoads)).toBeGreaterThan(keptBehind);
    expect(stops.dropped).toBe(0);
    // Every unit once, in order, and its bytes the stream's: none was overwritten while held.
    expect(joined(stops).equals(stream)).toBe(true);
    expect(joined(keeps).equals(stream)).toBe(true);
    expect(keeping.gaps).toBe(0);
    expect(keeping.pace.reanchors).toBe(0);
  });

  test("stopped for 3 s: what loads needed the room for is dropped and counted, what was sent is whole, and the other thread never waits for data", async () => {
    const { stream, stops, keeps, keeping } = await run(3_000_000);
    expect(stops.dropped).toBeGreaterThan(0);
    for (const s of stops.sent) expect(s.bytes.equals(stream.subarray(s.offset, s.offset + s.bytes.length))).toBe(true);
    expect(stops.sent.length + stops.dropped).toBe(Math.ceil(stream.length / UNIT));
    expect(joined(keeps).equals(stream)).toBe(true);
    expect(keeping.gaps).toBe(0);
    expect(keeping.pace.reanchors).toBe(0);
  });
});
