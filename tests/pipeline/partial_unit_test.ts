/**
 * A live input that stalls inside a unit (pipeline/destination.ts, PARTIAL_AFTER_US): after 50 ms
 * the destination sends the part it has. When a stream output that pushes back refuses that part,
 * the part is offered again at the backpressure retry, not after another 50 ms of starving counted
 * as a second gap. Manual clock; a real pipe in (a PassThrough read by the stream source); the
 * output is a stand-in stream backend that refuses its first offer of a part and records the rest.
 */
import { describe, expect, test } from "bun:test";
import { PassThrough } from "node:stream";
import "../../backends/all.ts";
import { type Backend, type BackendContext, newCounters } from "../../backends/backend.ts";
import { registerBackend } from "../../backends/registry.ts";
import { silentLogger } from "../../foundation/log.ts";
import { Job } from "../../pipeline/job.ts";
import { TS_SIZE } from "../../protocol/mpegts.ts";
import { ManualClock } from "../../scheduler/clock.ts";
import { Scheduler } from "../../scheduler/scheduler.ts";
import { openStreamInput } from "../../sources/open_input.ts";
import { streamSource } from "../../sources/stream_source.ts";
import { makeCbrTs } from "../helpers/mpeg_fixtures.ts";
import { runWithIo } from "../helpers/manual_run.ts";

const UNIT = 7 * TS_SIZE;

/** What the stand-in took: each send's clock time and bytes. */
const sends: { at: number; bytes: Buffer }[] = [];

/** `refuse-part:` takes whole units at once; the first part of a unit it is offered, it refuses (a full pipe). */
registerBackend({
  scheme: "refuse-part",
  summary: "refuse-part:  a stand-in stream output for tests",
  async create(target: string, _stream, ctx: BackendContext): Promise<Backend> {
    let refused = false;
    const counters = newCounters();
    return {
      label: target,
      unitBytes: UNIT,
      aheadUs: 0,
      pushesBack: true,
      counters,
      send(unit) {
        if (unit.length < UNIT && !refused) {
          refused = true;
          return 0;
        }
        sends.push({ at: ctx.scheduler.now(), bytes: Buffer.from(unit) });
        counters.bytes += unit.length;
        return unit.length;
      },
      async close() {},
    };
  },
});


describe("a unit cut short by a stalled input", () => {
  test("a refused part is offered again at the retry: sent once, about 52 ms after the stall, one gap", async () => {
    const stream = makeCbrTs({ bitrate: 1_500_000, duration: 1 });
    const pipe = new PassThrough();
    // Ten whole units and three packets, then nothing for a while.
    const cut = 10 * UNIT + 3 * TS_SIZE;
    pipe.write(stream.subarray(0, cut));
    const scheduler = new Scheduler(new ManualClock(1_000_000));
    const opened = await openStreamInput(streamSource("-", pipe), { bitrate: 1_500_000 });
    const job = await Job.create({ input: opened.info, source: opened.source, byteClock: opened.byteClock, outputs: ["refuse-part:"], scheduler, log: silentLogger });
    const destination = job.destinations[0]!;
    job.start();
    const start = scheduler.now();
    // Ten units at 1.5 Mbit/s are 70 ms; the input stalls there and the destination starves.
    await runWithIo(scheduler, start + 300_000, 1_000);
    const wholeUnits = sends.filter((s) => s.bytes.length === UNIT);
    const parts = sends.filter((s) => s.bytes.length < UNIT);
    expect(wholeUnits.length).toBe(10);
    expect(parts.map((p) => p.bytes.length)).toEqual([3 * TS_SIZE]);
    // Starving from the eleventh unit's due time: the part went 50 ms later, plus the 2 ms retry.
    // Before, the refusal started a new 50 ms wait: the part went at about 102 ms, a second gap.
    const stalledAt = wholeUnits.at(-1)!.at + (wholeUnits[1]!.at - wholeUnits[0]!.at);
    const partAfterUs = parts[0]!.at - stalledAt;
    expect(partAfterUs).toBeGreaterThanOrEqual(50_000);
    expect(partAfterUs).toBeLessThan(60_000);
    expect(destination.gaps).toBe(1);

    // The input comes back: everything after the cut arrives once, in order.
    pipe.end(stream.subarray(cut));
    await runWithIo(scheduler, scheduler.now() + 2_000_000, 1_000);
    await job.done;
    expect(Buffer.concat(sends.map((s) => s.bytes)).equals(stream)).toBe(true);
  });
});
