/**
 * `--start` in a TS file by its PCRs: the byte offset of the PCR packet
 * nearest below first PCR + the start time, found by binary search over the
 * file. Placing the start by the average bit rate is fine for CBR, but in a
 * variable-rate stream it lands wherever the bytes happen to be (a 1 then
 * 4 Mbit/s file asked for 3 s started at 3.4 s).
 *
 * Each probe reads one window and takes its first PCR on the PCR PID; about
 * 20 reads for a 2 GB file. If the PCRs do not rise with the offset (a
 * discontinuity, a spliced file), the search cannot be trusted and the
 * caller falls back to the average rate.
 *
 * @example
 * ```ts
 * const offset = pcrSeek(fd, size, { pcrPid: 0x100, firstPcr }, 3); // a packet start, or null
 * ```
 */
import { readSync } from "node:fs";
import { PCR_HZ, PCR_WRAP, TS_SIZE, tsFindSync, tsGetPid, tsHasPcr, tsGetPcr, TS_SYNC } from "../protocol/mpegts.ts";

/** Enough to hold a PCR: 13818-1 asks for one at least every 100 ms, and 256 KiB is 100 ms at 20 Mbit/s. */
const WINDOW_BYTES = 256 * 1024;
/** The found PCR may be this far from the target (the PCR spacing) and still be trusted. */
const TOLERANCE_TICKS = PCR_HZ / 5;

export interface PcrTimeline {
  pcrPid: number;
  /** PCR of the first packet that has one, 27 MHz ticks. */
  firstPcr: number;
}

/** Offset and elapsed ticks (from firstPcr) of the first PCR at or after `from`, or null. */
function firstPcrFrom(fd: number, size: number, from: number, timeline: PcrTimeline, window: Uint8Array): { offset: number; ticks: number } | null {
  const n = readSync(fd, window, 0, Math.min(window.length, size - from), from);
  let at = tsFindSync(window, 0, n);
  if (at < 0) return null;
  for (; at + TS_SIZE <= n && window[at] === TS_SYNC; at += TS_SIZE) {
    if (tsGetPid(window, at) !== timeline.pcrPid || !tsHasPcr(window, at)) continue;
    const ticks = (tsGetPcr(window, at) - timeline.firstPcr + PCR_WRAP) % PCR_WRAP;
    return { offset: from + at, ticks };
  }
  return null;
}

/** The offset of the last PCR packet at or before first PCR + `seconds`; null when the file's PCRs cannot place it. */
export function pcrSeek(fd: number, size: number, timeline: PcrTimeline, seconds: number): number | null {
  const target = Math.round(seconds * PCR_HZ);
  const window = new Uint8Array(WINDOW_BYTES);
  let best: { offset: number; ticks: number } | null = null;
  let lo = 0;
  let hi = size;
  // Invariant: the first PCR at or after `lo` is at or before the target (or lo = 0).
  while (hi - lo > TS_SIZE) {
    const mid = lo + Math.floor((hi - lo) / 2);
    const found = firstPcrFrom(fd, size, mid, timeline, window);
    if (found && found.ticks <= target) {
      lo = mid;
      if (!best || found.ticks >= best.ticks) best = found;
      else return null; // PCRs fall as offsets rise: a discontinuity
    } else {
      hi = mid;
    }
  }
  if (!best) best = firstPcrFrom(fd, size, 0, timeline, window);
  if (!best || target - best.ticks > TOLERANCE_TICKS) return null;
  return best.offset;
}
