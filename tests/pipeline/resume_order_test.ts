/**
 * A destination that hands its units over ahead of their due time (a sender thread's lead) and
 * starves inside that lead resumes no earlier than the units it already handed over: a thread
 * sends earliest due first, so a unit due before them would leave before them, out of order.
 * Manual clock; a real pipe in (a PassThrough read by the stream source) that stalls; a stand-in
 * output with a 20 ms lead that records each unit's due time.
 */
import { expect, test } from "bun:test";
import { PassThrough } from "node:stream";
import "../../backends/all.ts";
import { silentLogger } from "../../foundation/log.ts";
import { Job } from "../../pipeline/job.ts";
import { TS_SIZE } from "../../protocol/mpegts.ts";
import { ManualClock } from "../../scheduler/clock.ts";
import { Scheduler } from "../../scheduler/scheduler.ts";
import { openStreamInput } from "../../sources/open_input.ts";
import { streamSource } from "../../sources/stream_source.ts";
import { makeCbrTs } from "../helpers/mpeg_fixtures.ts";
import { recordingOutput } from "../helpers/recording_output.ts";
import { runWithIo } from "../helpers/manual_run.ts";

const UNIT = 7 * TS_SIZE;
const LEAD_US = 20_000;
const handed = recordingOutput("lead-20ms", { unitBytes: UNIT, leadUs: LEAD_US });


test("starved inside its lead, a destination resumes no earlier than what it handed over: due times never go back", async () => {
  const stream = Buffer.from(makeCbrTs({ bitrate: 1_500_000, duration: 1 }));
  const pipe = new PassThrough();
  const first = 30 * UNIT;
  pipe.write(stream.subarray(0, first));
  const scheduler = new Scheduler(new ManualClock(1_000_000));
  const opened = await openStreamInput(streamSource("-", pipe), { bitrate: 1_500_000 });
  const job = await Job.create({ input: opened.info, source: opened.source, byteClock: opened.byteClock, outputs: ["lead-20ms:"], scheduler, log: silentLogger });
  job.start();
  const start = scheduler.now();
  // Thirty units last 210 ms; each is handed over 20 ms before it is due, so the output starves
  // about 190 ms in, with units due up to 20 ms later already handed over. The rest comes 5 ms on.
  await runWithIo(scheduler, start + 195_000, 500);
  const before = handed.length;
  expect(before).toBe(30);
  pipe.write(stream.subarray(first, first + 10 * UNIT));
  await runWithIo(scheduler, start + 400_000, 500);
  expect(handed.length).toBe(40);
  for (let k = 1; k < handed.length; k++) expect(handed[k]!.dueUs).toBeGreaterThanOrEqual(handed[k - 1]!.dueUs);
  expect(Buffer.concat(handed.map((h) => h.bytes)).equals(stream.subarray(0, 40 * UNIT))).toBe(true);
  pipe.end();
  await job.stop();
});
