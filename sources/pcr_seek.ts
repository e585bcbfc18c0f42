/**
 * `--start` in a TS file by its PCRs (pcrStart): the byte offset of the last
 * PCR packet whose time, counted as play times it, is at or before the start
 * time. Placing the start by the average bit rate is fine for CBR, but in a
 * variable-rate stream it lands wherever the bytes happen to be (a 1 then 4
 * Mbit/s file asked for 3 s started at 3.375 s).
 *
 * First a scan from the start (pcrScan: probe's ClockSpan fed window by
 * window, the packets found as play finds them), up to SCAN_MAX_BYTES, counts
 * the time of each continuous stretch of the clock (a step back, over 1 s, or
 * flagged by a discontinuity_indicator ends one) and the bytes across a break
 * at the rate of the stretch before it (pacing times them at the file's
 * average rate: the two differ by those bytes only), on the PID pacing
 * follows (PcrPidLock): three 4 s files concatenated, --start 8.1,
 * by the average rate played 4.63 s where 3.96 s were left. Only a read of
 * every packet up to the start sees every break: a search, reading a window
 * here and there, counted a flagged forward step of 0.6 s as time (--start 1.8
 * began at 1.2 s of play).
 *
 * Past what a scan reads, a binary search over the rest of the file (pcrSeek),
 * from the scan's last PCR on, trusting the clock to run on there: each step
 * reads one window (more if it holds no PCR, up to MAX_SEARCH_BYTES) and takes
 * its first PCR on the PCR PID; about 25 steps of 64 KiB for a 2 GB file, read
 * asynchronously so a server's loop keeps its sends going meanwhile. It gives
 * up (null) on a PCR that implies more than MAX_RATE_FACTOR times the file's
 * average rate (the clock restarting), a window without any PCR, or a result
 * far from the target. Then, or past the last PCR, the caller places the
 * start by the average rate.
 *
 * An MPEG-PS is placed the same way by its SCRs (scrStart), and an M2TS that its arrival stamps
 * pace by them (arrivalStart): the scan alone, a pack or a 192-byte unit at a time.
 *
 * @example
 * ```ts
 * const { offset } = await pcrStart(handle, size, { pcrPid: 0x100, firstPcr, byteRate: 187_500 }, 3); // a packet start, or null
 * ```
 */
import type { FileHandle } from "node:fs/promises";
import { ClockSpan } from "../protocol/mpeg_probe.ts";
import { type ClockSampler, PcrPidLock } from "../protocol/mpeg_timing.ts";
import { type PsPackCallback, PsScanner, psPackScr } from "../protocol/mpegps.ts";
import { ATS_WRAP, M2TS_PACKING, m2tsGetArrivalTime } from "../protocol/mpeg_m2ts.ts";
import {
  PCR_HZ, PCR_WRAP, TS_PACKING, TS_SIZE, TS_SYNC, type TsPacketCallback, type TsPacking, TsScanner, tsFindSync, tsGetPcr, tsGetPid, tsHasPcr,
} from "../protocol/mpegts.ts";

const WINDOW_BYTES = 64 * 1024;
/** 13818-1 asks for a PCR at least every 100 ms; 1 MiB is 100 ms at 80 Mbit/s. */
const MAX_SEARCH_BYTES = 1024 * 1024;
/** The PCR found may be this far below the target (a PCR interval, generously) and still be trusted. */
const TOLERANCE_TICKS = PCR_HZ / 5;
/** A PCR whose time implies a rate this many times the average is not believed. */
const MAX_RATE_FACTOR = 8;
/** A scan reads at most this far into a file (a second or so from a disk, 0.1 s from the page cache). */
export const SCAN_MAX_BYTES = 256 * 1024 * 1024;

export interface PcrTimeline {
  pcrPid: number;
  /** PCR of the first packet that has one, 27 MHz ticks. */
  firstPcr: number;
  /** The file's average byte rate, bytes/s. */
  byteRate: number;
  /**
   * How its packets lie (default plain TS): in M2TS's 192-byte units the scan places the start by
   * the PCRs too (offsets are the file's), but no search goes past it.
   */
  packing?: TsPacking;
}

interface Found {
  offset: number;
  ticks: number;
}

/** The first PCR at or after `from` (its offset, and ticks since firstPcr), or null if none within MAX_SEARCH_BYTES. */
async function firstPcrFrom(file: FileHandle, size: number, from: number, timeline: PcrTimeline, window: Uint8Array): Promise<Found | null> {
  for (let start = from; start < size && start - from < MAX_SEARCH_BYTES; start += window.length - TS_SIZE) {
    const { bytesRead: n } = await file.read(window, 0, Math.min(window.length, size - start), start);
    let at = tsFindSync(window, 0, n);
    if (at < 0) continue;
    for (; at + TS_SIZE <= n && window[at] === TS_SYNC; at += TS_SIZE) {
      if (tsGetPid(window, at) !== timeline.pcrPid || !tsHasPcr(window, at)) continue;
      return { offset: start + at, ticks: (tsGetPcr(window, at) - timeline.firstPcr + PCR_WRAP) % PCR_WRAP };
    }
  }
  return null;
}

/** Where `--start` lands by the PCRs. */
export interface PcrPlacement {
  /** The packet to start at; null where the PCRs cannot place it (the caller then goes by the average rate). */
  offset: number | null;
  /**
   * Where a scan read the whole file and the start is past its last PCR: the file's time, µs, along
   * its clock (the bytes before the first PCR and after the last at the rate it measured). The start
   * is then the last PCR's packet if it comes before this time, and past the end if not. Without
   * it, a variable-rate file was timed by the rate of its head: a 4 s file, 2 s at 4 Mbit/s and 2 s
   * at 1, was "only 2.5 s long" and --start 3 was refused.
   */
  endUs?: number;
}

/** The start for `seconds` (see above): the scan's, else, past what it reads, the search's from its last PCR; offset null for the average rate. */
export async function pcrStart(file: FileHandle, size: number, timeline: PcrTimeline, seconds: number, scanBytes = SCAN_MAX_BYTES): Promise<PcrPlacement> {
  const scan = await scanAlong(file, size, timeline, seconds, scanBytes);
  const { span } = scan;
  if (scan.found !== null || span.last === null || !scan.cut) return placement(scan, size, timeline.byteRate);
  if ((timeline.packing ?? TS_PACKING) !== TS_PACKING) return { offset: null };
  const from: PcrTimeline = { pcrPid: scan.pid, firstPcr: span.last, byteRate: timeline.byteRate };
  return { offset: await pcrSeek(file, size, from, seconds - span.alongTicks(timeline.byteRate) / PCR_HZ, span.lastOffset) };
}

/**
 * `--start` in an MPEG-PS file by its SCRs, as in a TS by its PCRs: the offset of the last pack
 * whose time along the clock is at or before `seconds` (a VOB's rate varies: by the rate of its
 * head a start landed anywhere, and one past the head rate's length was refused). Only the scan:
 * past what it reads, offset null (the average rate).
 */
export async function scrStart(file: FileHandle, size: number, byteRate: number, seconds: number, scanBytes = SCAN_MAX_BYTES): Promise<PcrPlacement> {
  return placement(await scanAlong(file, size, { pcrPid: -1, firstPcr: 0, byteRate }, seconds, scanBytes, scrFeed()), size, byteRate);
}

/**
 * `--start` in an M2TS paced by its arrival stamps, by them, as a TS's is by its PCRs: the offset
 * (in the file's 192-byte units) of the last unit whose time along the stamps is at or before
 * `seconds` (a Blu-ray's rate varies). Only the scan: past what it reads, offset null.
 */
export async function arrivalStart(file: FileHandle, size: number, byteRate: number, seconds: number, scanBytes = SCAN_MAX_BYTES): Promise<PcrPlacement> {
  return placement(await scanAlong(file, size, { pcrPid: -1, firstPcr: 0, byteRate }, seconds, scanBytes, arrivalFeed()), size, byteRate);
}

/** What a scan places: its start; or, where it read the whole file and the start is past the last clock reference, that one with the clock's end. */
function placement(scan: Scan, size: number, headByteRate: number): PcrPlacement {
  const { span } = scan;
  if (scan.found !== null || span.last === null || scan.cut) return { offset: scan.found };
  const byteRate = span.byteRate() || headByteRate;
  // As probe times the file: the bytes before the first reference and after the last at the rate.
  const endTicks = span.alongTicks(byteRate) + ((span.firstOffset + size - span.lastOffset) * PCR_HZ) / byteRate;
  return { offset: span.lastOffset, endUs: Math.round((endTicks / PCR_HZ) * 1_000_000) };
}

/**
 * The offset of the last PCR packet at or before first PCR + `seconds`, searched for from `from`
 * (where firstPcr is), the clock taken as running on; null when the file's PCRs cannot place it.
 */
export async function pcrSeek(file: FileHandle, size: number, timeline: PcrTimeline, seconds: number, from = 0): Promise<number | null> {
  const target = Math.round(seconds * PCR_HZ);
  const window = new Uint8Array(WINDOW_BYTES);
  // At most this fast: ticks of a PCR o bytes on must be at least o / (rate × factor).
  const minTicksPerByte = PCR_HZ / (timeline.byteRate * MAX_RATE_FACTOR);
  let best = await firstPcrFrom(file, size, from, timeline, window);
  if (!best || best.ticks > target) return null;
  let lo = from;
  let hi = size;
  // Invariant: the first PCR at or after `lo` is at or before the target.
  while (hi - lo > TS_SIZE) {
    const mid = lo + Math.floor((hi - lo) / 2);
    const found = await firstPcrFrom(file, size, mid, timeline, window);
    if (found === null) return null;
    if (found.ticks < (found.offset - from) * minTicksPerByte) return null; // the clock restarted, or wrapped backwards
    if (found.ticks <= target) {
      lo = mid;
      if (found.ticks >= best.ticks) best = found;
    } else {
      hi = mid;
    }
  }
  return target - best.ticks > TOLERANCE_TICKS ? null : best.offset;
}

/**
 * The offset of the last PCR packet whose time, counted along the clock's continuous stretches
 * from the first PCR, is at or before `seconds`: read from the start, at most `maxBytes`. Null
 * past that, or when the file's PCRs end before `seconds`.
 */
export async function pcrScan(file: FileHandle, size: number, timeline: PcrTimeline, seconds: number, maxBytes = SCAN_MAX_BYTES): Promise<number | null> {
  return (await scanAlong(file, size, timeline, seconds, maxBytes)).found;
}

interface Scan {
  /** The start, once the time passed `seconds`; else null. */
  found: number | null;
  /** Whether it stopped at its limit with the file going on. */
  cut: boolean;
  /** The clock so far (its last PCR, where, its time along the stretches) and the PID it is on. */
  span: ClockSpan;
  pid: number;
}

/** A file's clock references, from its bytes fed window by window in order. */
interface ClockFeed {
  /** Where its clock wraps (PCR_WRAP; ATS_WRAP for M2TS arrival stamps). */
  readonly wrap: number;
  /** window[0, n) is the file's next bytes; each clock reference in them goes to `sampler`. */
  push(window: Uint8Array, n: number, sampler: ClockSampler): void;
  /** The file has ended: what is held (a cut-off last packet) is looked at too. */
  end(sampler: ClockSampler): void;
  /** The PID whose PCRs it follows (TS), or -1. */
  readonly pid: number;
}

/** A TS's units (188 bytes, or 192 with `packing`) found as play finds them, each handed to `take`. */
function unitFeed(packing: TsPacking, wrap: number, take: (buf: Uint8Array, at: number, offset: number, to: ClockSampler) => void, pid = () => -1): ClockFeed {
  const scanner = new TsScanner(0, packing);
  let to: ClockSampler | null = null;
  const onUnit: TsPacketCallback = (buf, at, offset) => take(buf, at, offset, to!);
  return {
    wrap,
    push(window, n, sampler) {
      to = sampler;
      scanner.pushRange(window, 0, n, onUnit);
    },
    end(sampler) {
      to = sampler;
      scanner.flush(onUnit);
    },
    get pid() {
      return pid();
    },
  };
}

/** A TS's PCRs on the PID pacing follows (PcrPidLock); a unit's packet is `syncAt` into it. */
function pcrFeed(pcrPid: number, packing: TsPacking = TS_PACKING): ClockFeed {
  const lock = new PcrPidLock(pcrPid, false);
  return unitFeed(packing, PCR_WRAP, (buf, at, offset, to) => lock.packet(buf, at + packing.syncAt, offset, to), () => lock.pid);
}

/** An M2TS's arrival stamps, one per 192-byte unit. */
function arrivalFeed(): ClockFeed {
  return unitFeed(M2TS_PACKING, ATS_WRAP, (buf, at, offset, to) => to.sample(offset, m2tsGetArrivalTime(buf, at), false));
}

/** A PS's SCRs, a pack at a time, the packs found as probe finds them. */
function scrFeed(): ClockFeed {
  const scanner = new PsScanner();
  let to: ClockSampler | null = null;
  const onPack: PsPackCallback = (buf, at, offset) => to!.sample(offset, psPackScr(buf, at), false);
  return {
    push(window, n, sampler) {
      to = sampler;
      scanner.pushRange(window, 0, n, onPack);
    },
    end() {},
    pid: -1,
    wrap: PCR_WRAP,
  };
}

async function scanAlong(file: FileHandle, size: number, timeline: PcrTimeline, seconds: number, maxBytes: number, feed: ClockFeed = pcrFeed(timeline.pcrPid, timeline.packing)): Promise<Scan> {
  const target = Math.round(seconds * PCR_HZ);
  const window = new Uint8Array(WINDOW_BYTES);
  // The clock's stretches, as probe sums them (for a TS, on the PID pacing follows: a file joined
  // from two with different PCR PIDs).
  const span = new ClockSpan(feed.wrap);
  let best: number | null = null;
  let past = false;
  /** Each clock reference timed (a switch's break too) moves the start on while its time is not past the target. */
  const along: ClockSampler = {
    sample(offset, clock, flagged) {
      if (past) return;
      span.sample(offset, clock, flagged);
      if (span.alongTicks(timeline.byteRate) > target) past = true;
      else best = offset;
    },
  };
  const end = Math.min(size, maxBytes);
  let start = 0;
  while (start < end && !past) {
    const { bytesRead: n } = await file.read(window, 0, Math.min(window.length, size - start), start);
    if (n === 0) break;
    feed.push(window, n, along);
    start += n;
    if (start >= size) feed.end(along);
  }
  return { found: past ? best : null, cut: !past && start < size, span, pid: feed.pid };
}
