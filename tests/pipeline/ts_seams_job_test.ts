/**
 * A job's seams (protocol/ts_seams.ts) are found where the next input's bytes land, however the
 * input index moved on: a listener's "next" (skipInput, before any of the next input is read)
 * moves it with no bytes read, as a live cursor does that reaches a new source before it sends.
 * Before, the job only looked for a new input around a read that brought bytes, so such a seam was
 * never mended. Manual clock, real files, a file: output.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import "../../backends/all.ts";
import { silentLogger } from "../../foundation/log.ts";
import { Job } from "../../pipeline/job.ts";
import { PCR_HZ, TS_SIZE, tsGetCc, tsGetDiscontinuity, tsGetPid, tsHasPayload, tsHasPcr } from "../../protocol/mpegts.ts";
import { ManualClock } from "../../scheduler/clock.ts";
import { Scheduler } from "../../scheduler/scheduler.ts";
import { openInput } from "../../sources/open_input.ts";
import { inputUnit, sequenceSource } from "../../sources/sequence_source.ts";
import { runWithIo } from "../helpers/manual_run.ts";
import { makeCbrTs } from "../helpers/mpeg_fixtures.ts";

const dir = mkdtempSync(join(tmpdir(), "pacer-seams-job-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("a job's TS seams", () => {
  test("'next' while the first file still loads: the second's new time base is flagged, its counters run on from what a had loaded", async () => {
    // 3 s of a (far more than a load), then b: same PIDs, b's clock 900 s on.
    const a = makeCbrTs({ bitrate: 1_500_000, duration: 3 });
    const b = makeCbrTs({ bitrate: 1_500_000, duration: 0.5, firstPcr: 900 * PCR_HZ });
    const paths = [join(dir, "a.ts"), join(dir, "b.ts")];
    writeFileSync(paths[0]!, a);
    writeFileSync(paths[1]!, b);
    const inputs = await Promise.all(paths.map((p) => openInput(p)));
    const out = join(dir, "out.ts");
    const scheduler = new Scheduler(new ManualClock(1_000_000));
    const job = await Job.create({
      input: { ...inputs[0]!.info, label: "a + b" },
      source: sequenceSource(inputs.map((i) => i.source), { units: inputs.map((i) => inputUnit(i.info)) }),
      byteClock: inputs[0]!.byteClock,
      outputs: [`file:${out}`],
      scheduler,
      log: silentLogger,
    });
    job.start();
    await runWithIo(scheduler, scheduler.now() + 300_000, 2_000);
    expect(job.nextInput()).toBe(true);
    await runWithIo(scheduler, scheduler.now() + 2_000_000, 2_000);
    await job.stop();
    const sent = readFileSync(out);
    // Some of a, then b whole.
    const ofA = sent.length - b.length;
    expect(ofA % TS_SIZE).toBe(0);
    expect(ofA).toBeGreaterThan(0);
    expect(ofA).toBeLessThan(a.length);
    // b's first PCR says its time base is new: the seam was found (it was not, before).
    expect(tsHasPcr(sent, ofA) && tsGetDiscontinuity(sent, ofA)).toBe(true);
    // b's counters go on from the end of what was loaded of a, which the skip left unsent: a
    // splice, where a PID's counter may jump once, never within either part.
    const last = new Map<number, number>();
    const jumps: number[] = [];
    for (let at = 0; at < sent.length; at += TS_SIZE) {
      const pid = tsGetPid(sent, at);
      const cc = tsGetCc(sent, at);
      const before = last.get(pid);
      if (before !== undefined && cc !== ((before + (tsHasPayload(sent, at) ? 1 : 0)) & 0xf)) jumps.push(at);
      last.set(pid, cc);
    }
    expect(jumps.every((at) => at >= ofA && at < ofA + 2 * TS_SIZE)).toBe(true);
  });
});
