/**
 * An MPEG file's duration along its clock, from its head and tail: what `list` and play's
 * progress line show, as `pacer probe` gives it. By the head's rate, a file at 1 Mbit/s for 2 s
 * and then 4 Mbit/s was said to last several times its length.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PCR_HZ, TS_SIZE } from "../../protocol/mpegts.ts";
import { Catalogue } from "../../server/catalogue.ts";
import { clockDurationUs } from "../../sources/mpeg_file_timing.ts";
import { openInput } from "../../sources/open_input.ts";
import { makeCbrPs, makeCbrTs, makeM2ts } from "../helpers/mpeg_fixtures.ts";
import { runPacer } from "../helpers/pacer.ts";

const dir = mkdtempSync(join(tmpdir(), "pacer-file-timing-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const FIRST_PCR = 10 * PCR_HZ;
/** `slowS` at 1 Mbit/s, then `fastS` at 4 Mbit/s, on one clock. */
function slowThenFast(slowS: number, fastS: number): Uint8Array {
  const slow = makeCbrTs({ bitrate: 1_000_000, duration: slowS, firstPcr: FIRST_PCR });
  const fast = makeCbrTs({ bitrate: 4_000_000, duration: fastS, firstPcr: FIRST_PCR + slowS * PCR_HZ });
  return Buffer.concat([slow, fast]);
}

function write(name: string, bytes: Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

async function timed(path: string): Promise<{ head: number; clock: number }> {
  const opened = await openInput(path);
  opened.source.close();
  return { head: opened.info.durationUs! / 1e6, clock: (await clockDurationUs(opened, path))! / 1e6 };
}

async function probeSeconds(path: string): Promise<number> {
  const run = await runPacer(["probe", path]);
  return Number(/duration: +([\d.]+) s/.exec(run.stdout)![1]);
}

describe("an MPEG file's duration along its clock", () => {
  test("TS read whole (4 s: 2 s at 1 Mbit/s, 2 s at 4) and by head and tail (8 s: 2 s, then 6 s at 4): the clock's length, as probe says", async () => {
    for (const [name, bytes, seconds] of [["whole.ts", slowThenFast(2, 2), 4], ["edges.ts", slowThenFast(2, 6), 8]] as const) {
      const path = write(name, bytes);
      const { head, clock } = await timed(path);
      expect(head).toBeGreaterThan(seconds * 2); // the head's 1 Mbit/s over the whole file
      expect(Math.abs(clock - seconds)).toBeLessThan(0.05);
      expect(clock).toBeCloseTo(await probeSeconds(path), 3);
    }
  });

  test("M2TS paced by its arrival stamps, and PS by its SCRs: their clocks' lengths", async () => {
    const ts = slowThenFast(2, 2);
    const fastFrom = makeCbrTs({ bitrate: 1_000_000, duration: 2, firstPcr: FIRST_PCR }).length / TS_SIZE;
    const sentAt = (k: number) => (k < fastFrom ? (k * TS_SIZE * 8) / 1e6 : 2 + ((k - fastFrom) * TS_SIZE * 8) / 4e6);
    const m2ts = write("ats.m2ts", makeM2ts(ts, (k) => Math.round(sentAt(k) * PCR_HZ)));
    const ps = write("vbr.mpg", Buffer.concat([makeCbrPs({ muxRate: 125_000, duration: 2 }), makeCbrPs({ muxRate: 500_000, duration: 2, firstScr: 2 * PCR_HZ })]));
    for (const path of [m2ts, ps]) {
      const { head, clock } = await timed(path);
      expect(head).toBeGreaterThan(8);
      expect(Math.abs(clock - 4)).toBeLessThan(0.05);
      expect(clock).toBeCloseTo(await probeSeconds(path), 3);
    }
  });

  test("the server's list gives the clock's length", async () => {
    const root = join(dir, "media");
    mkdirSync(root);
    writeFileSync(join(root, "vbr.ts"), slowThenFast(2, 2));
    const entries = await new Catalogue().entries(root);
    expect(entries.map((e) => e.name)).toEqual(["vbr.ts"]);
    expect(Math.abs(entries[0]!.duration! - 4)).toBeLessThan(0.05);
  });
});
