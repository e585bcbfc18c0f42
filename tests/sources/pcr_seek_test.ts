/**
 * --start by PCR in a variable-rate TS: a file at 1 Mbit/s for 2 s, then 4 Mbit/s for 2 s. The
 * average rate would put "3 s" at 3.375 s; the PCR search puts it within one PCR interval (20 ms).
 */
import { afterAll, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PCR_HZ, TS_SIZE, tsGetPcr, tsHasPcr } from "../../protocol/mpegts.ts";
import { openInput } from "../../sources/open_input.ts";
import { pcrSeek } from "../../sources/pcr_seek.ts";
import { makeCbrTs } from "../helpers/mpeg_fixtures.ts";

const dir = mkdtempSync(join(tmpdir(), "pacer-seek-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const FIRST_PCR = 10 * PCR_HZ;
const slow = makeCbrTs({ bitrate: 1_000_000, duration: 2, firstPcr: FIRST_PCR });
const fast = makeCbrTs({ bitrate: 4_000_000, duration: 2, firstPcr: FIRST_PCR + 2 * PCR_HZ });
const vbr = new Uint8Array(slow.length + fast.length);
vbr.set(slow);
vbr.set(fast, slow.length);
const path = join(dir, "vbr.ts");
writeFileSync(path, vbr);

/** Seconds after the first PCR of the first PCR at or after `offset`. */
function pcrSecondsAt(offset: number): number {
  for (let at = offset; at < vbr.length; at += TS_SIZE) if (tsHasPcr(vbr, at)) return (tsGetPcr(vbr, at) - FIRST_PCR) / PCR_HZ;
  return NaN;
}

describe("--start by PCR", () => {
  test("property: any start time lands on a packet at most one PCR interval before it", () => {
    const fd = openSync(path, "r");
    try {
      fc.assert(
        fc.property(fc.double({ min: 0.05, max: 3.9, noNaN: true }), (seconds) => {
          const offset = pcrSeek(fd, vbr.length, { pcrPid: 0x100, firstPcr: FIRST_PCR }, seconds);
          expect(offset).not.toBeNull();
          expect(offset! % TS_SIZE).toBe(0);
          const at = pcrSecondsAt(offset!);
          expect(at).toBeLessThanOrEqual(seconds + 1e-6);
          expect(seconds - at).toBeLessThan(0.021);
        }),
        { numRuns: 100 },
      );
    } finally {
      closeSync(fd);
    }
  });

  test("openInput --start 3 on the variable-rate file starts at 3 s, not at the average rate's 3.375 s", async () => {
    const opened = await openInput(path, { startSeconds: 3 });
    opened.source.close();
    expect(Math.abs(pcrSecondsAt(opened.startOffset) - 3)).toBeLessThan(0.021);
    const average = Math.floor((3 * vbr.length) / 4 / TS_SIZE) * TS_SIZE;
    expect(Math.abs(pcrSecondsAt(average) - 3.375)).toBeLessThan(0.021);
  });

  test("a time past the last PCR is null (the caller falls back to the average rate); a splice does not fool the search", () => {
    const fd = openSync(path, "r");
    try {
      expect(pcrSeek(fd, vbr.length, { pcrPid: 0x100, firstPcr: FIRST_PCR }, 10)).toBeNull();
    } finally {
      closeSync(fd);
    }
    const spliced = new Uint8Array(fast.length + slow.length);
    spliced.set(fast);
    spliced.set(slow, fast.length); // PCRs 12–14 s, then 10–12 s
    const splicedPath = join(dir, "spliced.ts");
    writeFileSync(splicedPath, spliced);
    const fd2 = openSync(splicedPath, "r");
    try {
      // 1 s in is 13 s, in the first part; the later, earlier PCRs count as "after the target".
      const offset = pcrSeek(fd2, spliced.length, { pcrPid: 0x100, firstPcr: FIRST_PCR + 2 * PCR_HZ }, 1)!;
      expect(offset).toBeLessThan(fast.length);
      expect(Math.abs((tsGetPcr(spliced, offset) - FIRST_PCR) / PCR_HZ - 3)).toBeLessThan(0.021);
    } finally {
      closeSync(fd2);
    }
  });
});
