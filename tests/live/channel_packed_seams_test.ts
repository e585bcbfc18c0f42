/**
 * A live channel whose sources send M2TS, or TS with a trailer after each packet: the job reads
 * the channel through the unwrapping source, which must pass on where the next source begins
 * (`inputIndex`), at the first packet of its stream, so the job mends the TS seam there as it
 * does for plain TS (protocol/ts_seams.ts). It had read on into the next source unaware.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import "../../backends/all.ts";
import { silentLogger } from "../../foundation/log.ts";
import { Job } from "../../pipeline/job.ts";
import { M2TS_SIZE } from "../../protocol/mpeg_m2ts.ts";
import { ArrivalClock } from "../../protocol/mpeg_timing.ts";
import { PCR_HZ, TS_SIZE, TS_TRAILER_PACKING, tsGetCc, tsGetDiscontinuity, tsGetPid, tsHasPayload, tsHasPcr } from "../../protocol/mpegts.ts";
import { ManualClock } from "../../scheduler/clock.ts";
import { Scheduler } from "../../scheduler/scheduler.ts";
import { channelSource } from "../../server/live/channel_source.ts";
import { LiveRing } from "../../server/live/live_ring.ts";
import { m2tsSource } from "../../sources/m2ts_source.ts";
import { packedTsSource } from "../../sources/packed_ts_source.ts";
import { openInput } from "../../sources/open_input.ts";
import type { Source } from "../../sources/source.ts";
import { runWithIo } from "../helpers/manual_run.ts";
import { makeCbrTs, makeM2ts, makeTrailedTs } from "../helpers/mpeg_fixtures.ts";

const dir = mkdtempSync(join(tmpdir(), "pacer-packed-seams-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Reads what the source has now, in reads of `size`; each read's bytes tagged with the inputIndex after it. */
function readTagged(source: Source, size: number): { bytes: Buffer; index: number | undefined }[] {
  const reads: { bytes: Buffer; index: number | undefined }[] = [];
  const buf = Buffer.alloc(size);
  for (let n = source.read(buf, 0, size); n > 0; n = source.read(buf, 0, size)) reads.push({ bytes: Buffer.from(buf.subarray(0, n)), index: source.inputIndex });
  return reads;
}

const first = makeCbrTs({ bitrate: 2_000_000, duration: 0.3 });
const second = makeCbrTs({ bitrate: 2_000_000, duration: 0.3, firstPcr: 99 * 27_000_000 });
const cases: [string, (ts: Uint8Array, k: number) => Uint8Array, (raw: Source) => Source, number][] = [
  ["M2TS", (ts, k) => makeM2ts(ts, (i) => 1000 * k + 7 * i), (raw) => m2tsSource(raw, null), M2TS_SIZE],
  ["TS with trailers", (ts, k) => makeTrailedTs(ts, (i) => k * 100_000 + i), (raw) => packedTsSource(raw, TS_TRAILER_PACKING), TS_SIZE + 4],
];

describe("a live channel of packed TS: where the next source begins", () => {
  for (const [name, pack, unwrap, unit] of cases) {
    test(`${name}: reads never mix two sources, inputIndex moves at the next source's first packet, every packet once`, () => {
      for (const size of [188, 1316, 65_536, 200_000]) {
        // The first source's last unit is cut short, as when an encoder's connection drops.
        const a = pack(first, 1);
        const aCut = a.subarray(0, a.length - unit + 50);
        const b = pack(second, 2);
        const ring = new LiveRing(4 << 20);
        const raw = channelSource("live:cam", ring.reader(), 0);
        const source = unwrap(raw);
        ring.write(aCut);
        raw.newSourceAt(ring.written);
        ring.write(b);
        const reads = readTagged(source, size);
        const before = Buffer.concat(reads.filter((r) => r.index === 0).map((r) => r.bytes));
        const after = Buffer.concat(reads.filter((r) => r.index === 1).map((r) => r.bytes));
        expect(reads.map((r) => r.index).every((index, i, all) => i === 0 || index! >= all[i - 1]!)).toBe(true);
        expect(before.equals(Buffer.from(first.subarray(0, first.length - TS_SIZE)))).toBe(true);
        expect(after.equals(Buffer.from(second))).toBe(true);
        source.close();
      }
    });
  }
});

describe("a job on a live channel of M2TS", () => {
  test("the next source's new time base is flagged and every PID's counters run on across the seam, as for plain TS", async () => {
    // Two encoder sessions: the same PIDs, counters and clocks each starting afresh.
    const a = makeCbrTs({ bitrate: 1_500_000, duration: 0.5 });
    const b = makeCbrTs({ bitrate: 1_500_000, duration: 0.5, firstPcr: 900 * PCR_HZ });
    const path = join(dir, "a.m2ts");
    writeFileSync(path, makeM2ts(a, (i) => 1000 + 2000 * i));
    const { info } = await openInput(path);
    const ring = new LiveRing(4 << 20);
    const channel = channelSource("live:cam", ring.reader(), 0);
    const byteClock = new ArrivalClock();
    const out = join(dir, "out.ts");
    const scheduler = new Scheduler(new ManualClock(1_000_000));
    const job = await Job.create({ input: { ...info, label: "live:cam" }, source: m2tsSource(channel, byteClock), byteClock, outputs: [`file:${out}`], scheduler, log: silentLogger });
    ring.write(makeM2ts(a, (i) => 1000 + 2000 * i));
    channel.newSourceAt(ring.written);
    ring.write(makeM2ts(b, (i) => 5_000_000 + 2000 * i));
    job.start();
    await runWithIo(scheduler, scheduler.now() + 1_500_000, 2_000);
    await job.stop();
    const sent = readFileSync(out);
    expect(sent.length).toBe(a.length + b.length);
    expect(tsHasPcr(sent, a.length) && tsGetDiscontinuity(sent, a.length)).toBe(true);
    const last = new Map<number, number>();
    let jumps = 0;
    for (let at = 0; at < sent.length; at += TS_SIZE) {
      const pid = tsGetPid(sent, at);
      const before = last.get(pid);
      if (before !== undefined && tsGetCc(sent, at) !== ((before + (tsHasPayload(sent, at) ? 1 : 0)) & 0xf)) jumps++;
      last.set(pid, tsGetCc(sent, at));
    }
    expect(jumps).toBe(0);
  });
});
