/**
 * What `pacer probe` reports about MPEG-TS (ISO/IEC 13818-1 §2.4), M2TS
 * (protocol/mpeg_m2ts.ts) and MPEG-PS (ISO/IEC 11172-1, 13818-1 §2.5) data:
 * container, PIDs or stream ids, PCR/SCR (and M2TS arrival stamp) timing,
 * bit rate, duration and the garbage play leaves out.
 *
 * The duration is the sum of the continuous stretches of the clock: a step
 * back, a step of more than MAX_CLOCK_STEP_TICKS (1 s; the spec allows PCRs
 * 100 ms apart) or a discontinuity_indicator ends one, and the bytes across
 * the break are timed at the stream's bit rate, as pacing does (a 10 s file
 * whose PCRs jump 60 s is 10 s long, not 70). The buffer may be a file's head
 * and tail joined (`seamAt`): there the step stands for the bytes cut out.
 * The bit rate comes only from steps within a stretch.
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
  MAX_CLOCK_STEP_TICKS, PCR_HZ, PCR_WRAP, TS_PACKING, TS_RS_PACKING, TS_SIZE, TS_SYNC, TS_TRAILER_PACKING, TsScanner, type TsPacking, tsFindSync, tsGetPid,
  tsHasPcr,
} from "./mpegts.ts";
import { ATS_WRAP, M2TS_HEADER_SIZE, M2TS_PACKING, M2TS_SIZE, m2tsGetArrivalTime } from "./mpeg_m2ts.ts";
import {
  PS_FIRST_PES_STREAM_ID, PsScanner, psFindPack, psIsPackStart, psPackMarkersValid, psPackMuxRateBytes,
  psPackScr, psPackVersion,
} from "./mpegps.ts";
import { type ClockSampler, type ClockStep, PcrPidLock } from "./mpeg_timing.ts";

/** How far into the head `detectContainer` looks for TS sync or a pack header. */
export const DETECT_SEARCH_BYTES = 4096;
/** M2TS (and 204-byte TS) needs this many units in a row (as many as the head holds, at least three): their sync bytes are sparser than TS's. */
const M2TS_DETECT_PACKETS = 5;
/** Every byte `detectContainer` may look at: a stream is peeked this far, so it is told apart exactly as a file's head is. */
export const DETECT_HEAD_BYTES = DETECT_SEARCH_BYTES + M2TS_DETECT_PACKETS * TS_RS_PACKING.size;
/** Arrival stamps pace an M2TS only when fewer than one step in this many is a break (ffmpeg writes nonsense stamps without -muxrate). */
const ARRIVAL_MAX_BREAK_SHARE = 10;

export type MpegContainer = "mpegts" | "mpegps";

/** An M2TS's arrival_time_stamps, summed as the PCRs are. */
export interface ArrivalProbe {
  stamps: number;
  firstAts: number;
  lastAts: number;
  /** Bits per second of the 188-byte TS packets sent, from stamp steps, or null. */
  bitrate: number | null;
  durationUs: number | null;
  discontinuities: number;
  /** Whether the stamps are sane enough to pace by (else the PCRs do). */
  usable: boolean;
}

export interface TsProbe {
  container: "mpegts";
  /** 188 for TS, 192 for M2TS and TS with trailers. */
  packetSize: number;
  /** Aligned packets. */
  packets: number;
  /** Packet count per PID, ascending PID. */
  pids: { pid: number; packets: number }[];
  /** PID of the first PCR seen, or null (pacing moves on to another where its PCRs stop: PcrPidLock). */
  pcrPid: number | null;
  pcrCount: number;
  /** First and last PCR on pcrPid, 27 MHz ticks, or null. */
  firstPcr: number | null;
  lastPcr: number | null;
  /**
   * The first two PCRs timed by, where they are one sane step apart: pacing starts from them.
   * Offsets are of the stream as sent (188-byte packets, as the clock counts them); null in
   * larger units where garbage lies before the second, which leaves the two unplaced.
   */
  firstStep: ClockStep | null;
  /** Bits per second (of 188-byte packets) from PCR steps, or null with fewer than two usable PCRs. */
  bitrate: number | null;
  /** Microseconds, or null without a bit rate. */
  durationUs: number | null;
  /** Breaks in the PCRs on pcrPid: steps back, jumps over 1 s, discontinuity_indicators. */
  discontinuities: number;
  /**
   * Bytes play leaves out: garbage between packets (and, in M2TS, a cut-off last packet). A
   * head+tail sample counts only what lies in it.
   */
  garbageBytes: number;
  /** TS: bytes of a cut-off last packet, which play sends as they are. */
  cutOffBytes: number;
  /** M2TS: its arrival stamps. */
  arrival: ArrivalProbe | null;
}

/** Where a buffer to probe is a head and a tail joined, the file between them cut out. */
export interface SampleSeam {
  /** The buffer is a head and a tail joined here. */
  seamAt?: number;
  /** How many bytes were cut out at seamAt, when known: a clock step across the seam is checked against them. */
  cutBytes?: number;
}

export interface TsProbeOptions extends SampleSeam {
  /** How packets lie: TS_PACKING (default), M2TS_PACKING or TS_TRAILER_PACKING. */
  packing?: TsPacking;
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
  /** The first two SCRs, where they are one sane step apart: pacing starts from them (ClockTimeline.seed). */
  firstStep: ClockStep | null;
  /** Bits per second from SCR steps, else 8 * muxRate, else null. */
  bitrate: number | null;
  durationUs: number | null;
  discontinuities: number;
  /** Bytes outside the pack structure; play sends them as they are. */
  garbageBytes: number;
}

/** Where a head+tail sample was cut, as ClockSpan sees it. */
interface Seam {
  at: number;
  cutBytes?: number;
}

/**
 * Sums clock time over a sequence of (offset, clock) samples in continuous
 * stretches, keeping bytes and ticks of the steps for the bit rate and the
 * bytes across breaks for later. Fed a whole buffer by probe, and a file window by window by
 * --start's scan (sources/pcr_seek.ts), which reads the time so far as it goes (`alongTicks`).
 *
 * @example
 * ```ts
 * const span = new ClockSpan();
 * lock.packet(buf, at, offset, span); // each TS packet, in order (PcrPidLock)
 * span.durationUs(bytes.length, span.byteRate());
 * ```
 */
export class ClockSpan implements ClockSampler {
  samples = 0;
  first: number | null = null;
  last: number | null = null;
  firstOffset = 0;
  lastOffset = 0;
  /** The first two samples, where the step between them is a sane one. */
  firstStep: ClockStep | null = null;
  spanTicks = 0;
  rateBytes = 0;
  rateTicks = 0;
  breakBytes = 0;
  breaks = 0;
  /** The stretch so far (its steps' bytes and ticks): a break's bytes are timed at its rate for `alongTicks`. */
  private stretchBytes = 0;
  private stretchTicks = 0;
  /** Ticks of the bytes the clock does not time, each at the rate of the stretch before them, and those bytes where it had none. */
  private untimedTicks = 0;
  private unratedBytes = 0;

  constructor(
    private readonly wrap = PCR_WRAP,
    private readonly seam: Seam | null = null,
  ) {}

  sample(offset: number, clock: number, flagged: boolean): void {
    if (this.last === null) {
      this.first = clock;
      this.firstOffset = offset;
    } else {
      const bytes = offset - this.lastOffset;
      const step = (((clock - this.last) % this.wrap) + this.wrap) % this.wrap; // forward, modulo wrap
      const seam = this.seam;
      const cut = seam && this.lastOffset < seam.at && offset >= seam.at ? seam : null;
      // A flagged step is a break wherever it falls: across the seam it is no measure of the cut.
      if (cut && !flagged) {
        this.acrossSeam(bytes, step, cut.cutBytes);
      } else if (flagged || step > MAX_CLOCK_STEP_TICKS) {
        this.breaks++;
        this.untimed(bytes + (cut?.cutBytes ?? 0));
        this.stretchBytes = this.stretchTicks = 0;
      } else if (step === 0) {
        // The same clock again is no clock here (a muxer that writes SCR 0 in every pack): pacing
        // times these bytes at the rate, and so does the duration (it counted them as no time).
        this.untimed(bytes);
      } else {
        if (this.samples === 1) this.firstStep = { offset: this.firstOffset, clock: this.first!, nextOffset: offset, nextClock: clock };
        this.spanTicks += step;
        this.rateBytes += bytes;
        this.rateTicks += step;
        this.stretchBytes += bytes;
        this.stretchTicks += step;
      }
    }
    this.last = clock;
    this.lastOffset = offset;
    this.samples++;
  }

  /**
   * A step over the bytes cut out of a sample: time passing, if it goes forward and (with the cut
   * known) fits them within a factor of two at the rate so far; else the bytes are timed at the rate.
   */
  private acrossSeam(bytes: number, step: number, cutBytes: number | undefined): void {
    const rate = this.rateTicks > 0 ? this.rateBytes / this.rateTicks : 0;
    const expected = cutBytes === undefined || rate === 0 ? step : (bytes + cutBytes) / rate;
    if (step <= this.wrap / 2 && step >= expected / 2 && step <= expected * 2) {
      this.spanTicks += step;
    } else {
      this.untimed(bytes + (cutBytes ?? 0));
    }
  }

  /** Bytes the clock does not time: durationUs times them all at the span's rate, alongTicks each at its stretch's. */
  private untimed(bytes: number): void {
    this.breakBytes += bytes;
    if (this.stretchTicks > 0) this.untimedTicks += (bytes * this.stretchTicks) / this.stretchBytes;
    else this.unratedBytes += bytes;
  }

  /**
   * Ticks from the first sample to the last along the stretches, as a reader going along has them:
   * the bytes across each break at the rate of the stretch before it (it knows no later one), or
   * at `byteRate` (bytes/s) after a stretch without a rate.
   */
  alongTicks(byteRate: number): number {
    return this.spanTicks + this.untimedTicks + (this.unratedBytes * PCR_HZ) / byteRate;
  }

  /** Bytes per second, or 0. */
  byteRate(): number {
    return this.rateTicks > 0 ? (this.rateBytes * PCR_HZ) / this.rateTicks : 0;
  }

  /**
   * µs: clock span plus, at `byteRate`, bytes before the first sample, after the last, and across
   * breaks; less `skipped`, ranges play leaves out, where they lie outside the span (inside it, the
   * clock already times what is around them).
   */
  durationUs(totalBytes: number, byteRate: number, skipped: readonly (readonly [number, number])[] = []): number | null {
    if (byteRate <= 0) return null;
    let edgeBytes = this.samples > 0 ? this.firstOffset + (totalBytes - this.lastOffset) + this.breakBytes : totalBytes;
    for (const [at, length] of skipped) {
      const before = this.samples > 0 ? Math.max(0, Math.min(at + length, this.firstOffset) - at) : length;
      const after = this.samples > 0 ? Math.max(0, at + length - Math.max(at, this.lastOffset)) : 0;
      edgeBytes -= before + after;
    }
    edgeBytes = Math.max(0, edgeBytes);
    return Math.round((this.spanTicks / PCR_HZ + edgeBytes / byteRate) * 1_000_000);
  }
}

/** Skipped ranges a probe keeps, to take out of the duration those outside the clock's span. */
const MAX_SKIPS_KEPT = 4096;

/**
 * A step read in larger units (M2TS, trailers) as the stream is sent, unwrapped: unit k's packet
 * at k × 188. Only where no garbage lies before its second sample, so that every unit up to it
 * is whole and in place; otherwise none (the head's average paces the first stretch).
 */
function sentStep(step: ClockStep | null, packing: TsPacking, skipped: [number, number][]): ClockStep | null {
  if (step === null || skipped.some(([at]) => at < step.nextOffset)) return null;
  if (step.offset % packing.size !== 0 || step.nextOffset % packing.size !== 0) return null;
  const sent = (offset: number) => (offset / packing.size) * TS_SIZE;
  return { ...step, offset: sent(step.offset), nextOffset: sent(step.nextOffset) };
}

/**
 * Probes transport stream bytes (188-byte TS, or 192-byte units with `packing: M2TS_PACKING` or
 * `TS_TRAILER_PACKING`): packets per PID, the PCR PID, PCR (and arrival stamp) bit rate and
 * duration, and the bytes play leaves out, found by the same packet scanner play uses.
 *
 * @example
 * ```ts
 * const p = probeTs(bytes);
 * p.pcrPid;     // 256
 * p.bitrate;    // 1500000
 * p.durationUs; // 2968000
 * ```
 */
export function probeTs(bytes: Uint8Array, options: TsProbeOptions = {}): TsProbe {
  const packing = options.packing ?? TS_PACKING;
  // Packets in larger units are unwrapped by a source that leaves a cut-off last unit out.
  const unwrapped = packing.size !== TS_SIZE;
  const seam: Seam | null = options.seamAt === undefined ? null : { at: options.seamAt, cutBytes: options.cutBytes };
  const counts = new Map<number, number>();
  const span = new ClockSpan(PCR_WRAP, seam);
  const arrivals = packing === M2TS_PACKING ? new ClockSpan(ATS_WRAP, seam) : null;
  let packets = 0;
  const lock = new PcrPidLock();
  let pcrPid = -1;
  let garbage = 0;
  const onPacket = (buf: Uint8Array, at: number, offset: number): void => {
    packets++;
    arrivals?.sample(offset, m2tsGetArrivalTime(buf, at), false);
    const ts = at + packing.syncAt;
    const pid = tsGetPid(buf, ts);
    counts.set(pid, (counts.get(pid) ?? 0) + 1);
    if (pcrPid < 0 && tsHasPcr(buf, ts)) pcrPid = pid;
    // Timed as play times it (PcrPidLock): another PID's clock from its first PCR after the old one's last.
    lock.packet(buf, ts, offset, span);
  };
  const scanner = new TsScanner(0, packing);
  /** Where play leaves bytes out (the first MAX_SKIPS_KEPT ranges): outside the clock's span, they are no time. */
  const skipped: [number, number][] = [];
  scanner.onSkip = (offset, length) => {
    garbage += length;
    if (skipped.length < MAX_SKIPS_KEPT) skipped.push([offset, length]);
  };
  if (seam) {
    // The head's unfinished end and the tail's first bytes before a sync are cut packets, not garbage.
    scanner.push(bytes.subarray(0, seam.at), onPacket);
    const first = tsFindSync(bytes, seam.at, bytes.length, packing);
    if (first >= 0) {
      scanner.reset(first);
      scanner.push(bytes.subarray(first), onPacket);
    }
  } else {
    scanner.push(bytes, onPacket);
  }
  // What flush counts but does not report is a cut-off last packet: play's TS pacing sends it as
  // it is, the source that unwraps M2TS (or trailers) drops it with its extra bytes.
  const skippedBefore = scanner.skipped;
  const reportedBefore = garbage;
  scanner.flush(onPacket);
  const tail = scanner.skipped - skippedBefore - (garbage - reportedBefore);
  if (unwrapped) garbage += tail;
  // Rates are of what is sent: 188 of every 192 bytes in 192-byte units.
  const sentShare = TS_SIZE / packing.size;
  const rate = span.byteRate();
  return {
    container: "mpegts",
    packetSize: packing.size,
    packets,
    pids: [...counts].sort((a, b) => a[0] - b[0]).map(([pid, n]) => ({ pid, packets: n })),
    pcrPid: pcrPid < 0 ? null : pcrPid,
    pcrCount: span.samples,
    firstPcr: span.first,
    lastPcr: span.last,
    firstStep: unwrapped ? sentStep(span.firstStep, packing, skipped) : span.firstStep,
    bitrate: rate > 0 ? rate * 8 * sentShare : null,
    durationUs: span.durationUs(bytes.length, rate, skipped),
    discontinuities: span.breaks,
    garbageBytes: garbage,
    cutOffBytes: unwrapped ? 0 : tail,
    arrival: arrivals && arrivals.samples > 0 ? arrivalProbe(arrivals, bytes.length, sentShare) : null,
  };
}

function arrivalProbe(span: ClockSpan, totalBytes: number, sentShare: number): ArrivalProbe {
  const rate = span.byteRate();
  const steps = span.samples - 1;
  return {
    stamps: span.samples,
    firstAts: span.first!,
    lastAts: span.last!,
    bitrate: rate > 0 ? rate * 8 * sentShare : null,
    durationUs: span.durationUs(totalBytes, rate),
    discontinuities: span.breaks,
    usable: rate > 0 && span.breaks * ARRIVAL_MAX_BREAK_SHARE < steps,
  };
}

/**
 * The clock that paces a probed TS without --bitrate: the arrival stamps of an M2TS whose stamps
 * are sane, else the PCRs; null when neither gives a rate.
 */
export function tsPacingClock(p: TsProbe): "arrival" | "pcr" | null {
  if (p.arrival?.usable) return "arrival";
  return p.bitrate ? "pcr" : null;
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
export function probePs(bytes: Uint8Array, options: SampleSeam = {}): PsProbe {
  const seam: Seam | null = options.seamAt === undefined ? null : { at: options.seamAt, cutBytes: options.cutBytes };
  const span = new ClockSpan(PCR_WRAP, seam);
  let version: 0 | 1 | 2 = 0;
  let muxRate: number | null = null;
  const counts = new Map<number, number>();
  const scanner = new PsScanner();
  const onPack = (buf: Uint8Array, at: number, offset: number): void => {
    if (version === 0) {
      version = psPackVersion(buf, at);
      muxRate = psPackMuxRateBytes(buf, at) || null;
    }
    span.sample(offset, psPackScr(buf, at), false);
  };
  const onPacket = (streamId: number): void => {
    if (streamId >= PS_FIRST_PES_STREAM_ID) counts.set(streamId, (counts.get(streamId) ?? 0) + 1);
  };
  if (seam) {
    // The tail starts inside some packet: it is read from its first pack, the bytes before are no garbage.
    scanner.push(bytes.subarray(0, seam.at), onPack, onPacket);
    const first = psFindPack(bytes, seam.at);
    if (first >= 0) {
      scanner.reset(first);
      scanner.push(bytes.subarray(first), onPack, onPacket);
    }
  } else {
    scanner.push(bytes, onPack, onPacket);
  }
  const rate = span.byteRate() || (muxRate ?? 0);
  return {
    container: "mpegps",
    mpegVersion: version,
    packs: span.samples,
    streams: [...counts].sort((a, b) => a[0] - b[0]).map(([streamId, packets]) => ({ streamId, packets })),
    muxRate,
    firstScr: span.first,
    lastScr: span.last,
    firstStep: span.firstStep,
    bitrate: rate > 0 ? rate * 8 : null,
    durationUs: span.durationUs(bytes.length, rate),
    discontinuities: span.breaks,
    garbageBytes: scanner.skipped,
  };
}

/**
 * Tells TS from PS by their first bytes: TS has sync bytes at i, i+188 and
 * i+376 for some small i (a little leading garbage is fine), or is M2TS (see
 * tsPackingOf); PS starts with a valid pack header (after at most a little
 * garbage).
 *
 * @example
 * ```ts
 * detectContainer(await Bun.file("a.ts").slice(0, DETECT_HEAD_BYTES).bytes()); // "mpegts"
 * ```
 */
export function detectContainer(head: Uint8Array): MpegContainer | null {
  if (psIsPackStart(head, 0) && head.length >= 12 && psPackMarkersValid(head, 0)) return "mpegps";
  if (holdsContainer(head, "mpegts")) return "mpegts";
  if (holdsContainer(head, "mpegps")) return "mpegps";
  return null;
}

/**
 * Whether the head holds `kind` anywhere in its first DETECT_SEARCH_BYTES: TS (or M2TS) sync
 * bytes three packets in a row, or a PS pack header. A name's kind is kept where it is found, as
 * three sync bytes a packet apart can turn up in other data by chance.
 */
export function holdsContainer(head: Uint8Array, kind: MpegContainer): boolean {
  if (kind === "mpegps") {
    const pack = psFindPack(head, 0, Math.min(head.length, DETECT_SEARCH_BYTES + 32));
    return pack >= 0 && pack <= DETECT_SEARCH_BYTES;
  }
  if (findUnitRun(head, M2TS_PACKING) >= 0 || findUnitRun(head, TS_RS_PACKING) >= 0) return true;
  const sync = tsFindSync(head, 0, Math.min(head.length, DETECT_SEARCH_BYTES + 2 * TS_SIZE + 1));
  return sync >= 0 && sync <= DETECT_SEARCH_BYTES && sync + 2 * TS_SIZE < head.length;
}

/**
 * How the TS packets in a head lie. Sync bytes 192 apart, five in a row (or as many as the head
 * holds, at least three), are 192-byte units: M2TS_PACKING (a 4-byte header before each packet),
 * or TS_TRAILER_PACKING (4 bytes after each) where the first of them lies within the head's first
 * 4 bytes, where no M2TS header fits before it. Sync bytes 204 apart are TS_RS_PACKING (DVB's
 * packets with 16 bytes of Reed-Solomon parity: a DVB-ASI capture). Else TS_PACKING. Larger units
 * are judged first: their extra bytes can fake a TS sync 188 bytes on, TS payload rarely fakes five
 * of theirs. A 204-byte file had been played as TS and refused, `no MPEG-TS packets found`.
 *
 * With 4 bytes or more before its first packet, a TS with trailers cannot be told from M2TS by its
 * sync bytes (nothing says what the 4 bytes are), and is taken for M2TS.
 *
 * @example
 * ```ts
 * tsPackingOf(head) === M2TS_PACKING; // a .m2ts, whatever its name
 * ```
 */
export function tsPackingOf(head: Uint8Array): TsPacking {
  const at = findUnitRun(head, M2TS_PACKING);
  if (at < 0) return findUnitRun(head, TS_RS_PACKING) >= 0 ? TS_RS_PACKING : TS_PACKING;
  // The sync byte one unit before the M2TS reading's first (at + 4 - 192): the file's first packet.
  const first = at + M2TS_HEADER_SIZE - M2TS_SIZE;
  return first >= 0 && first < M2TS_HEADER_SIZE && head[first] === TS_SYNC ? TS_TRAILER_PACKING : M2TS_PACKING;
}

/** The first unit start (of `packing`) within DETECT_SEARCH_BYTES that begins a run of M2TS_DETECT_PACKETS synced units (fewer if the head ends first, never under three), or -1. */
function findUnitRun(head: Uint8Array, packing: TsPacking): number {
  const { size, syncAt } = packing;
  const limit = Math.min(head.length, DETECT_HEAD_BYTES);
  for (let from = 0; from <= DETECT_SEARCH_BYTES; from++) {
    const at = tsFindSync(head, from, limit, packing);
    if (at < 0 || at > DETECT_SEARCH_BYTES) return -1;
    const fit = Math.floor((limit - at - syncAt - 1) / size) + 1; // packets whose sync byte is in the head
    const want = Math.min(M2TS_DETECT_PACKETS, fit);
    let k = 0;
    while (k < want && head[at + k * size + syncAt] === TS_SYNC) k++;
    if (want >= 3 && k === want) return at;
    from = at;
  }
  return -1;
}
