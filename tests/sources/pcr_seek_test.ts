/**
 * --start by PCR in a variable-rate TS: a file at 1 Mbit/s for 2 s, then 4 Mbit/s for 2 s. The
 * average rate would put "3 s" at 3.375 s; the PCR search puts it within one PCR interval (20 ms).
 */
import { afterAll, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PCR_HZ, TS_SIZE, tsGetPcr, tsHasPcr } from "../../protocol/mpegts.ts";
import { openInput } from "../../sources/open_input.ts";
import { pcrSeek, type PcrTimeline } from "../../sources/pcr_seek.ts";
import { makeCbrTs } from "../helpers/mpeg_fixtures.ts";

const dir = mkdtempSync(join(tmpdir(), "pacer-seek-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const FIRST_PCR = 10 * PCR_HZ;
const slow = makeCbrTs({ bitrate: 1_000_000, duration: 2, firstPcr: FIRST_PCR });
const fast = makeCbrTs({ bitrate: 4_000_000, duration: 2, firstPcr: FIRST_PCR + 2 * PCR_HZ });
const vbr = concat(slow, fast);
const path = write("vbr.ts", vbr);
/** What the probe of the file's head gives: the PCR PID, the first PCR and the head's rate. */
const TIMELINE: PcrTimeline = { pcrPid: 0x100, firstPcr: FIRST_PCR, byteRate: 125_000 };

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function write(name: string, bytes: Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
}

async function seek(file: string, size: number, timeline: PcrTimeline, seconds: number): Promise<number | null> {
  const handle = await open(file, "r");
  try {
    return await pcrSeek(handle, size, timeline, seconds);
  } finally {
    await handle.close();
  }
}

/** Seconds after FIRST_PCR of the first PCR at or after `offset` in `bytes`. */
function pcrSecondsAt(bytes: Uint8Array, offset: number): number {
  for (let at = offset; at < bytes.length; at += TS_SIZE) if (tsHasPcr(bytes, at)) return (tsGetPcr(bytes, at) - FIRST_PCR) / PCR_HZ;
  return NaN;
}

describe("--start by PCR", () => {
  test("property: any start time lands on a packet at most one PCR interval before it", async () => {
    await fc.assert(
      fc.asyncProperty(fc.double({ min: 0.05, max: 3.9, noNaN: true }), async (seconds) => {
        const offset = await seek(path, vbr.length, TIMELINE, seconds);
        expect(offset).not.toBeNull();
        expect(offset! % TS_SIZE).toBe(0);
        const at = pcrSecondsAt(vbr, offset!);
        expect(at).toBeLessThanOrEqual(seconds + 1e-6);
        expect(seconds - at).toBeLessThan(0.021);
      }),
      { numRuns: 60 },
    );
  });

  test("openInput --start 3 on the variable-rate file starts at 3 s (by the average rate it would be 3.375 s)", async () => {
    const opened = await openInput(path, { startSeconds: 3 });
    opened.source.close();
    expect(Math.abs(pcrSecondsAt(vbr, opened.startOffset) - 3)).toBeLessThan(0.021);
  });

  test("where the PCRs cannot be trusted the answer is null, and openInput falls back to the average rate", async () => {
    // Past the last PCR.
    expect(await seek(path, vbr.length, TIMELINE, 10)).toBeNull();
    // Two copies of a file back to back: the clock restarts half way.
    const twice = concat(slow, slow);
    const twicePath = write("twice.ts", twice);
    expect(await seek(twicePath, twice.length, TIMELINE, 0.5)).toBeNull();
    const opened = await openInput(twicePath, { startSeconds: 0.5 });
    opened.source.close();
    expect(opened.startOffset).toBe(Math.floor((0.5 * 125_000) / TS_SIZE) * TS_SIZE);
  });

  test("PCRs sparser than a read window are still found (40 Mbit/s, 100 ms apart: 500 KB between them)", async () => {
    const sparse = makeCbrTs({ bitrate: 40_000_000, duration: 1, pcrIntervalMs: 100, firstPcr: FIRST_PCR });
    const sparsePath = write("sparse.ts", sparse);
    const offset = await seek(sparsePath, sparse.length, { ...TIMELINE, byteRate: 5_000_000 }, 0.55);
    expect(offset).not.toBeNull();
    expect(Math.abs(pcrSecondsAt(sparse, offset!) - 0.5)).toBeLessThan(0.001);
  });
});
