/**
 * What `pacer probe` reports about MPEG-TS (ISO/IEC 13818-1 §2.4) and MPEG-PS
 * (ISO/IEC 11172-1, 13818-1 §2.5) data: container, PIDs or stream ids,
 * PCR/SCR timing, bit rate, duration and garbage skipped.
 *
 * The buffer may be the whole file or a head+tail sample joined together: a
 * forward clock jump counts as time passing (the bytes cut out between head
 * and tail), only a backward jump or a discontinuity_indicator breaks the
 * time line, and the bit rate comes only from clock steps ≤ 1 s.
 *
 * @example
 * ```ts
 * const bytes = await Bun.file("in.ts").bytes();
 * if (detectContainer(bytes) === "mpegts") {
 *   const p = probeTs(bytes);
 *   console.log(p.pcrPid, p.bitrate, p.durationUs / 1e6);
 * }
 * ```
 */

import {
  PCR_HZ, PCR_WRAP, TS_SIZE, TsScanner, tsFindSync, tsGetDiscontinuity, tsGetPcr, tsGetPid, tsHasPcr,
} from "./mpegts.ts";
import {
  PS_FIRST_PES_STREAM_ID, PsScanner, psFindPack, psIsPackStart, psPackMarkersValid, psPackMuxRateBytes,
  psPackScr, psPackVersion,
} from "./mpegps.ts";
import { MAX_CLOCK_STEP_TICKS } from "./mpeg_timing.ts";

/** How far into the head `detectContainer` looks for TS sync or a pack header. */
export const DETECT_SEARCH_BYTES = 4096;

export type MpegContainer = "mpegts" | "mpegps";

export interface TsProbe {
  container: "mpegts";
  /** Aligned 188-byte packets. */
  packets: number;
  /** Packet count per PID, ascending PID. */
  pids: { pid: number; packets: number }[];
  /** PID of the first PCR seen, or null. */
  pcrPid: number | null;
  pcrCount: number;
  /** First and last PCR on pcrPid, 27 MHz ticks, or null. */
  firstPcr: number | null;
  lastPcr: number | null;
  /** Bits per second from PCR steps, or null with fewer than two usable PCRs. */
  bitrate: number | null;
  /** Microseconds, or null without a bit rate. */
  durationUs: number | null;
  /** Backward PCR jumps and discontinuity_indicators on pcrPid. */
  discontinuities: number;
  garbageBytes: number;
}

export interface PsProbe {
  container: "mpegps";
  /** 1 (ISO/IEC 11172-1) or 2 (13818-1), from the first pack; 0 if no pack. */
  mpegVersion: 0 | 1 | 2;
  packs: number;
  /** PES packet count per stream_id (0xBC..0xFF), ascending. */
  streams: { streamId: number; packets: number }[];
  /** program_mux_rate of the first pack, bytes/s, or null. */
  muxRate: number | null;
  firstScr: number | null;
  lastScr: number | null;
  /** Bits per second from SCR steps, else 8 * muxRate, else null. */
  bitrate: number | null;
  durationUs: number | null;
  discontinuities: number;
  garbageBytes: number;
}

/**
 * Sums clock time over a sequence of (offset, clock) samples, keeping bytes
 * and ticks of the sane steps for the bit rate and bytes at breaks for later.
 */
class ClockSpan {
  samples = 0;
  first: number | null = null;
  last: number | null = null;
  firstOffset = 0;
  lastOffset = 0;
  spanTicks = 0;
  rateBytes = 0;
  rateTicks = 0;
  breakBytes = 0;
  breaks = 0;

  add(offset: number, clock: number, flagged: boolean): void {
    if (this.last === null) {
      this.first = clock;
      this.firstOffset = offset;
    } else {
      const bytes = offset - this.lastOffset;
      const step = (((clock - this.last) % PCR_WRAP) + PCR_WRAP) % PCR_WRAP; // forward, modulo wrap
      if (flagged || step > PCR_WRAP / 2) {
        this.breaks++;
        this.breakBytes += bytes;
      } else {
        this.spanTicks += step;
        if (step > 0 && step <= MAX_CLOCK_STEP_TICKS) {
          this.rateBytes += bytes;
          this.rateTicks += step;
        }
      }
    }
    this.last = clock;
    this.lastOffset = offset;
    this.samples++;
  }

  /** Bytes per second, or 0. */
  byteRate(): number {
    return this.rateTicks > 0 ? (this.rateBytes * PCR_HZ) / this.rateTicks : 0;
  }

  /** µs: clock span plus, at `byteRate`, bytes before the first sample, after the last, and across breaks. */
  durationUs(totalBytes: number, byteRate: number): number | null {
    if (byteRate <= 0) return null;
    const edgeBytes = this.samples > 0 ? this.firstOffset + (totalBytes - this.lastOffset) + this.breakBytes : totalBytes;
    return Math.round((this.spanTicks / PCR_HZ + edgeBytes / byteRate) * 1_000_000);
  }
}

/**
 * Probes transport stream bytes: packets per PID, the PCR PID, PCR bit rate and duration.
 *
 * @example
 * ```ts
 * const p = probeTs(bytes);
 * p.pcrPid;     // 256
 * p.bitrate;    // 1500000
 * p.durationUs; // 2968000
 * ```
 */
export function probeTs(bytes: Uint8Array): TsProbe {
  const counts = new Map<number, number>();
  const span = new ClockSpan();
  let packets = 0;
  let pcrPid = -1;
  let flagged = false;
  const scanner = new TsScanner();
  const onPacket = (buf: Uint8Array, at: number, offset: number): void => {
    packets++;
    const pid = tsGetPid(buf, at);
    counts.set(pid, (counts.get(pid) ?? 0) + 1);
    if (pcrPid < 0 && tsHasPcr(buf, at)) pcrPid = pid;
    if (pid !== pcrPid) return;
    if (tsGetDiscontinuity(buf, at)) flagged = true;
    if (!tsHasPcr(buf, at)) return;
    span.add(offset, tsGetPcr(buf, at), flagged && span.samples > 0);
    flagged = false;
  };
  scanner.push(bytes, onPacket);
  scanner.flush(onPacket);
  const rate = span.byteRate();
  return {
    container: "mpegts",
    packets,
    pids: [...counts].sort((a, b) => a[0] - b[0]).map(([pid, n]) => ({ pid, packets: n })),
    pcrPid: pcrPid < 0 ? null : pcrPid,
    pcrCount: span.samples,
    firstPcr: span.first,
    lastPcr: span.last,
    bitrate: rate > 0 ? rate * 8 : null,
    durationUs: span.durationUs(bytes.length, rate),
    discontinuities: span.breaks,
    garbageBytes: scanner.skipped,
  };
}

/**
 * Probes program stream bytes: packs, PES stream ids, SCR bit rate and duration.
 * Without usable SCR steps the bit rate falls back to program_mux_rate.
 *
 * @example
 * ```ts
 * const p = probePs(bytes);
 * p.mpegVersion; // 2
 * p.muxRate;     // 125000 (bytes/s)
 * ```
 */
export function probePs(bytes: Uint8Array): PsProbe {
  const span = new ClockSpan();
  let version: 0 | 1 | 2 = 0;
  let muxRate: number | null = null;
  const counts = new Map<number, number>();
  const scanner = new PsScanner();
  const onPack = (buf: Uint8Array, at: number, offset: number): void => {
    if (version === 0) {
      version = psPackVersion(buf, at);
      muxRate = psPackMuxRateBytes(buf, at) || null;
    }
    span.add(offset, psPackScr(buf, at), false);
  };
  const onPacket = (streamId: number): void => {
    if (streamId >= PS_FIRST_PES_STREAM_ID) counts.set(streamId, (counts.get(streamId) ?? 0) + 1);
  };
  scanner.push(bytes, onPack, onPacket);
  const rate = span.byteRate() || (muxRate ?? 0);
  return {
    container: "mpegps",
    mpegVersion: version,
    packs: span.samples,
    streams: [...counts].sort((a, b) => a[0] - b[0]).map(([streamId, packets]) => ({ streamId, packets })),
    muxRate,
    firstScr: span.first,
    lastScr: span.last,
    bitrate: rate > 0 ? rate * 8 : null,
    durationUs: span.durationUs(bytes.length, rate),
    discontinuities: span.breaks,
    garbageBytes: scanner.skipped,
  };
}

/**
 * Tells TS from PS by their first bytes: TS has sync bytes at i, i+188 and
 * i+376 for some small i (a little leading garbage is fine); PS starts with
 * a valid pack header (after at most a little garbage). 192-byte M2TS is not
 * recognised.
 *
 * @example
 * ```ts
 * detectContainer(await Bun.file("a.ts").slice(0, 4096).bytes()); // "mpegts"
 * ```
 */
export function detectContainer(head: Uint8Array): MpegContainer | null {
  if (psIsPackStart(head, 0) && head.length >= 12 && psPackMarkersValid(head, 0)) return "mpegps";
  const limit = Math.min(head.length, DETECT_SEARCH_BYTES + 2 * TS_SIZE + 1);
  const sync = tsFindSync(head, 0, limit);
  if (sync >= 0 && sync <= DETECT_SEARCH_BYTES && sync + 2 * TS_SIZE < head.length) return "mpegts";
  const pack = psFindPack(head, 0, Math.min(head.length, DETECT_SEARCH_BYTES + 32));
  if (pack >= 0 && pack <= DETECT_SEARCH_BYTES) return "mpegps";
  return null;
}
