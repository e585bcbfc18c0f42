/**
 * A job over a live input with plenty in hand loads a whole chunk when its outputs reach the load
 * mark, not a sliver at every arrival (pipeline/job.ts, awaitingInput): a live channel's jobs,
 * a latency behind its edge, had loaded at each of its arrivals, ten times the loads. Once the
 * input runs dry, what arrives is loaded at once. Manual clock; a real pipe in (a PassThrough
 * read by the stream source); a stand-in output that keeps what it is sent.
 */
import { describe, expect, test } from "bun:test";
import { PassThrough } from "node:stream";
import "../../backends/all.ts";
import { silentLogger } from "../../foundation/log.ts";
import { DEFAULT_CHUNK_BYTES, Job } from "../../pipeline/job.ts";
import { TS_SIZE } from "../../protocol/mpegts.ts";
import { ManualClock } from "../../scheduler/clock.ts";
import { Scheduler } from "../../scheduler/scheduler.ts";
import { openStreamInput } from "../../sources/open_input.ts";
import { streamSource } from "../../sources/stream_source.ts";
import { makeCbrTs } from "../helpers/mpeg_fixtures.ts";
import { recordingOutput } from "../helpers/recording_output.ts";
import { runWithIo } from "../helpers/manual_run.ts";

const UNIT = 7 * TS_SIZE;
const RATE = 1_500_000;
/** One unit's time at RATE, µs. */
const UNIT_US = (UNIT * 8 * 1e6) / RATE;

const taken = recordingOutput("keep-units", { unitBytes: UNIT });
/** The bytes of each unit the output took, in order. */
const sent = () => taken.map((t) => t.bytes);


describe("a live input's loads", () => {
  test("with a second waiting beyond the read-ahead, one unit arriving at a time: a chunk per load, not a load per arrival; every byte sent once, in order", async () => {
    taken.length = 0;
    const stream = Buffer.from(makeCbrTs({ bitrate: RATE, duration: 4 }));
    // Two seconds: more than the job's read-ahead holds (a chunk and a load mark, about a second).
    const backlog = 2 * Math.floor(RATE / 8 / UNIT) * UNIT;
    const pipe = new PassThrough();
    pipe.write(stream.subarray(0, backlog));
    const pieces: Buffer[] = [];
    for (let at = backlog; at < stream.length; at += UNIT) pieces.push(stream.subarray(at, Math.min(stream.length, at + UNIT)));
    const arrivals = pieces.length;
    const scheduler = new Scheduler(new ManualClock(1_000_000));
    const opened = await openStreamInput(streamSource("-", pipe), { bitrate: RATE });
    const job = await Job.create({ input: opened.info, source: opened.source, byteClock: opened.byteClock, outputs: ["keep-units:"], scheduler, log: silentLogger });
    job.start();
    // Two seconds: one unit arrives as one is sent, so the input stays a second ahead throughout.
    await runWithIo(scheduler, scheduler.now() + 2_000_000, UNIT_US, () => {
      const piece = pieces.shift();
      if (piece) pipe.write(piece);
    });
    const loads = scheduler.lateness("load").count;
    const sentBytes = sent().reduce((n, s) => n + s.length, 0);
    expect(sentBytes).toBeGreaterThan(RATE / 8); // more than a second went out
    expect(arrivals - pieces.length).toBeGreaterThan(250); // units that arrived meanwhile
    // Each load took a whole chunk; a load per arrival would be 250 and more.
    expect(loads).toBeLessThanOrEqual(Math.ceil(sentBytes / DEFAULT_CHUNK_BYTES) + 3);
    expect(Buffer.concat(sent()).equals(stream.subarray(0, sentBytes))).toBe(true);
    pipe.end();
    await job.stop();
  });

  test("run dry, a job loads what arrives at once: a unit arriving late goes out as soon as it is in", async () => {
    taken.length = 0;
    const stream = Buffer.from(makeCbrTs({ bitrate: RATE, duration: 1 }));
    const pipe = new PassThrough();
    const first = 20 * UNIT;
    pipe.write(stream.subarray(0, first));
    const scheduler = new Scheduler(new ManualClock(1_000_000));
    const opened = await openStreamInput(streamSource("-", pipe), { bitrate: RATE });
    const job = await Job.create({ input: opened.info, source: opened.source, byteClock: opened.byteClock, outputs: ["keep-units:"], scheduler, log: silentLogger });
    job.start();
    const start = scheduler.now();
    // Twenty units last 140 ms; at 300 ms the output has long been starving.
    await runWithIo(scheduler, start + 300_000, 1_000);
    expect(sent().length).toBe(20);
    pipe.write(stream.subarray(first, first + UNIT));
    await runWithIo(scheduler, start + 306_000, 1_000);
    expect(sent().length).toBe(21);
    expect(sent()[20]!.equals(stream.subarray(first, first + UNIT))).toBe(true);
    pipe.end();
    await job.stop();
  });
});
