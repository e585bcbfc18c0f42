/**
 * Byte → time maps that pacing runs on (DESIGN.md "Pacing"): a constant bit
 * rate, MPEG-TS PCRs (ISO/IEC 13818-1 §2.4.2.2), M2TS arrival time stamps
 * (protocol/mpeg_m2ts.ts) and MPEG-PS SCRs with program_mux_rate (§2.5.3.4;
 * ISO/IEC 11172-1 §2.4.3.2).
 *
 * Inside, time is kept in integer 27 MHz ticks on one pacing time line that
 * starts at 0 for byte 0 and never goes backwards; `timeAt` answers in µs.
 *
 * @example
 * ```ts
 * const clock = new PcrClock();
 * clock.observe(first128KiB, 0);
 * const due = start + clock.timeAt(packetOffset); // µs
 * ```
 */

import {
  MAX_CLOCK_STEP_TICKS, PCR_HZ, PCR_WRAP, type TsPacketCallback, TsScanner, TS_SIZE, tsGetDiscontinuity, tsGetPid, tsHasPcr, tsGetPcr,
} from "./mpegts.ts";
import { ATS_WRAP } from "./mpeg_m2ts.ts";
import { type ByteSink, TsSeams } from "./ts_seams.ts";
import {
  PsScanner, psPackMuxRateBytes, psPackScr,
} from "./mpegps.ts";

/** Maps byte offsets of a stream to its media time; pacing sends the byte at offset o at start + timeAt(o). */
export interface ByteClock {
  /**
   * Feed bytes as they are loaded: chunk[start, end) (the whole chunk by default), the first of
   * them at stream byte offset `offset`; parses PCR/SCR. Must not allocate per packet. A range,
   * so that a load need not make a view of its buffer for it (chunk_carry.ts says why).
   */
  observe(chunk: Uint8Array, offset: number, start?: number, end?: number): void;
  /** Microseconds (float ok) from stream start at which byte `offset` is due. Monotonic non-decreasing in offset. Works for offsets not yet observed by extrapolating at the last known rate. */
  timeAt(offset: number): number;
  /** Current estimated byte rate (bytes/s), or 0 if unknown yet. */
  byteRate(): number;
  /** Number of timing discontinuities seen (PCR jump backwards / > 1 s forward, discontinuity_indicator). */
  discontinuities(): number;
  /** Drops timing for bytes below `belowOffset`: no destination will ask about them again. */
  forget(belowOffset: number): void;
  /** TS clocks: the packet finder behind observe(), which also reports garbage between packets. */
  readonly packets?: TsPacketFinder;
  /**
   * Sets `into` to the straight stretch of this clock that holds `offset` and that nothing observed
   * later can change, or empties it where there is none (beyond the last anchor, where the line
   * still waits for its next sample). Absent on clocks that have none.
   */
  stretchAt?(offset: number, into: ClockStretch): void;
}

/** A straight line through (`from`, `base`) at `rate` units of offset per unit of time: the one formula every clock and stretch times a byte by. */
function lineAt(base: number, from: number, rate: number, offset: number): number {
  return base + (offset - from) / rate;
}

/** Segments a stretch keeps beyond its own (see ClockStretch.moveOn). */
const STRETCH_AHEAD = 8;

/**
 * A straight stretch of a byte clock, [from, to): time(o) = (base + (o - from) / rate) / divisor,
 * the very arithmetic of the clock's own timeAt, so a reader that keeps one gets the same µs
 * without looking at the clock (or its time line's arrays) for every unit. A destination's reader
 * sends several datagrams within one stretch (PCRs come every 20 to 40 ms).
 *
 * It also keeps the next few segments of the line after it, which nothing later changes either:
 * a reader moves on to them without the clock, which it then asks once every STRETCH_AHEAD + 1
 * segments rather than at each (the clock, its line and its arrays are a chain of cold objects
 * for a server's thousand jobs: docs/scale.md).
 */
export class ClockStretch {
  from = 0;
  to = 0;
  base = 0;
  rate = 1;
  divisor = 1;
  /** Which of its time line's anchors it starts at, counted from the line's first ever: the next is looked at first. */
  anchor = -1;
  /** The segments after it: [to, base, rate] each, from `from` = the one before's `to`. */
  private readonly ahead = new Float64Array(STRETCH_AHEAD * 3);
  private aheadKept = 0;
  private aheadNext = 0;

  holds(offset: number): boolean {
    return offset >= this.from && offset < this.to;
  }

  timeAt(offset: number): number {
    return lineAt(this.base, this.from, this.rate, offset) / this.divisor;
  }

  set(from: number, to: number, base: number, rate: number, divisor: number): void {
    this.from = from;
    this.to = to;
    this.base = base;
    this.rate = rate;
    this.divisor = divisor;
    this.aheadKept = this.aheadNext = 0;
  }

  /** Keeps the segment after the ones kept so far: up to `to`, from `base` at `rate`. */
  keepAhead(to: number, base: number, rate: number): void {
    const i = this.aheadKept++ * 3;
    this.ahead[i] = to;
    this.ahead[i + 1] = base;
    this.ahead[i + 2] = rate;
  }

  /** Moves on through the segments kept ahead to the one that holds `offset`: false when none does. */
  moveOn(offset: number): boolean {
    const ahead = this.ahead;
    while (offset >= this.to && this.aheadNext < this.aheadKept) {
      const i = this.aheadNext++ * 3;
      this.from = this.to;
      this.to = ahead[i]!;
      this.base = ahead[i + 1]!;
      this.rate = ahead[i + 2]!;
      this.anchor++;
    }
    return this.holds(offset);
  }

  clear(): void {
    this.to = this.from;
    this.anchor = -1;
    this.aheadKept = this.aheadNext = 0;
  }
}

const TICKS_PER_US = PCR_HZ / 1_000_000;
/** Default anchors kept: ~80 s of PCRs at the usual 20 ms spacing. */
export const DEFAULT_ANCHOR_CAPACITY = 4096;
/**
 * Anchors a time line holds room for at first; it doubles when full, up to its capacity. A sender
 * forgets anchors behind it, so a file's needs a second or two of PCRs; room for all 4096 from the
 * start cost each job 64 KiB once the ring had gone round (a server's thousand jobs, 64 MB).
 */
const INITIAL_ANCHORS = 64;

/**
 * Constant bit rate: byte o is due at o*8/bitsPerSecond seconds.
 *
 * @example
 * ```ts
 * new ConstantRateClock(1_500_000).timeAt(187_500); // 1_000_000 µs
 * ```
 */
export class ConstantRateClock implements ByteClock {
  private readonly bytesPerSecond: number;
  private readonly bytesPerUs: number;

  constructor(bitsPerSecond: number) {
    if (!(bitsPerSecond > 0)) throw new RangeError(`bit rate must be > 0, got ${bitsPerSecond}`);
    this.bytesPerSecond = bitsPerSecond / 8;
    this.bytesPerUs = this.bytesPerSecond / 1_000_000;
  }

  observe(_chunk: Uint8Array, _offset: number): void {}

  timeAt(offset: number): number {
    return lineAt(0, 0, this.bytesPerUs, Math.max(0, offset));
  }

  /** One stretch from byte 0 on. */
  stretchAt(offset: number, into: ClockStretch): void {
    if (offset < 0) return into.clear();
    into.set(0, Infinity, 0, this.bytesPerUs, 1);
  }

  byteRate(): number {
    return this.bytesPerSecond;
  }

  discontinuities(): number {
    return 0;
  }

  forget(_belowOffset: number): void {}
}

/**
 * The packet side of a TS clock: finds packets in what is loaded (for the
 * clock's own use, such as PCRs) and reports the garbage between them, so
 * senders can leave it out.
 */
export class TsPacketFinder {
  private readonly scanner = new TsScanner();
  private seams: TsSeams | null = null;
  /** What each packet found goes to: the clock's callback, behind the seams' mending once that is on. */
  private onPacket: TsPacketCallback;

  constructor(onPacket: TsPacketCallback) {
    this.onPacket = onPacket;
  }

  observe(chunk: Uint8Array, offset: number, start = 0, end = chunk.length): void {
    observeContiguous(this.scanner, chunk, start, end, offset, this.onPacket);
  }

  /**
   * Mends continuity counters and time bases where the stream starts over (ts_seams.ts), writing
   * the mended bytes to `out`. Off until asked, so a stream that never starts over pays nothing.
   */
  mendSeams(out: ByteSink): void {
    if (this.seams) return;
    const seams = (this.seams = new TsSeams(out));
    const clock = this.onPacket;
    this.onPacket = (buf, at, streamOffset) => {
      seams.packet(buf, at, streamOffset);
      clock(buf, at, streamOffset);
    };
  }

  /** The stream starts over at `offset` (the next input of a sequence): mended if mendSeams is on. */
  seamAt(offset: number): void {
    this.seams?.seamAt(offset);
  }

  /** `listener` hears of every run of garbage between packets (stream offset, length) as bytes are observed. */
  onGarbage(listener: (offset: number, length: number) => void): void {
    this.scanner.onSkip = listener;
  }

  /** The offset below which every byte observed is known to be a packet or reported garbage. */
  settledOffset(): number {
    return this.scanner.settledOffset;
  }

  /** The input is dry and a reader waits: a whole packet held for the next one's sync goes as it is (TsScanner.release). */
  release(): void {
    this.scanner.release(this.onPacket);
  }

  /** The input has ended: decide what was held back (garbage in the last bytes is reported). */
  finish(): void {
    this.scanner.flush(this.onPacket);
  }

  /** The input starts over (--loop): what was held back is the old end's, and a cut-off last packet there is garbage. */
  rewound(): void {
    this.scanner.flush(this.onPacket, true);
    this.seamAt(this.scanner.nextOffset);
  }
}

/**
 * `--bitrate` on MPEG-TS: paced at the rate given, but its packets are still
 * found, so garbage between them is left out as with PCR pacing.
 *
 * @example
 * ```ts
 * const clock = new ConstantRateTsClock(1_500_000);
 * clock.packets.onGarbage((offset, length) => skips.add(offset, length));
 * ```
 */
export class ConstantRateTsClock extends ConstantRateClock {
  readonly packets = new TsPacketFinder(() => {});

  override observe(chunk: Uint8Array, offset: number, start = 0, end = chunk.length): void {
    this.packets.observe(chunk, offset, start, end);
  }
}

/** What takes a stream's clock samples in order: (byte offset, clock value, whether a discontinuity_indicator says it starts a new clock). */
export interface ClockSampler {
  sample(offset: number, clock: number, flagged: boolean): void;
}

/**
 * A stream's first two clock references, one sane step apart (forward, at most 1 s), as a probe of
 * its head reads them: the line a clock starts from, so that the bytes before the second go at the
 * rate they give rather than at the head's average (ClockTimeline.seed).
 */
export interface ClockStep {
  offset: number;
  clock: number;
  nextOffset: number;
  nextClock: number;
}

/**
 * A piecewise-linear time line built from (byte offset, clock value) samples:
 * one mechanism for PCR and SCR. Consecutive samples with a sane clock step
 * become anchors `step` ticks apart; a bad step (backwards, > 1 s, or flagged)
 * is a discontinuity, and the time line goes on at the fallback rate so it
 * stays continuous. Anchors live in a bounded ring of typed arrays.
 */
export class ClockTimeline implements ClockSampler {
  private offsets: Float64Array;
  private ticks: Float64Array;
  private head = 0; // ring index of the oldest anchor
  private count = 0;
  /** Bytes per tick of the last segment (or the fallback rate), 0 when unknown. */
  private rate = 0;
  private lastSampleOffset = -1;
  private lastClock = 0;
  private breaks = 0;
  /** Anchors dropped from the front so far: anchor k of the ring is the line's (dropped + k)th. */
  private dropped = 0;

  private readonly capacity: number;

  constructor(
    capacity = DEFAULT_ANCHOR_CAPACITY,
    /** Bytes per tick used before two samples agree, or when they do not (e.g. PS mux rate). */
    private fallbackRate: () => number = () => 0,
    /** Where the clock's values wrap: PCR/SCR at 2^33 × 300, M2TS arrival stamps at 2^30. */
    private readonly wrap = PCR_WRAP,
  ) {
    this.capacity = Math.max(2, capacity);
    this.offsets = new Float64Array(Math.min(this.capacity, INITIAL_ANCHORS));
    this.ticks = new Float64Array(this.offsets.length);
  }

  discontinuities(): number {
    return this.breaks;
  }

  /** Bytes per second of the current segment, or 0. */
  byteRate(): number {
    const r = this.rate > 0 ? this.rate : this.fallbackRate();
    return r * PCR_HZ;
  }

  /**
   * Starts the line from `step`, the stream's first two clock samples read ahead (by a probe of
   * its head): the bytes before the second are paced at the rate the two give, as the bytes after
   * it are by theirs, and observe() passes over the two when it reaches them. Nothing before any
   * sample, and nothing on a step that is no sane one.
   */
  seed(step: ClockStep): void {
    if (this.lastSampleOffset >= 0 || !(step.nextOffset > step.offset && step.offset >= 0)) return;
    const ticks = (step.nextClock - step.clock + this.wrap) % this.wrap;
    if (!(ticks > 0 && ticks <= MAX_CLOCK_STEP_TICKS)) return;
    this.lastSampleOffset = step.offset;
    this.lastClock = step.clock;
    // No anchor yet: the pair sets the rate and the line from time 0 (sample's first sane pair).
    this.sample(step.nextOffset, step.nextClock, false);
  }

  /**
   * Adds one clock sample (27 MHz ticks, wrapping at `wrap`) taken at byte
   * `offset`. `flagged` marks a signalled discontinuity (discontinuity_indicator).
   */
  sample(offset: number, clock: number, flagged: boolean): void {
    if (offset <= this.lastSampleOffset) return; // already seen
    const first = this.lastSampleOffset < 0;
    const prevOffset = this.lastSampleOffset;
    let step = clock - this.lastClock;
    if (step < 0 && step + this.wrap <= MAX_CLOCK_STEP_TICKS) step += this.wrap; // PCR: 26.5 h; ATS: 39.8 s
    this.lastSampleOffset = offset;
    this.lastClock = clock;
    if (first) {
      const fallback = this.fallbackRate();
      if (fallback > 0) this.push(offset, Math.round(offset / fallback));
      return;
    }
    const bytes = offset - prevOffset;
    const sane = !flagged && step > 0 && step <= MAX_CLOCK_STEP_TICKS;
    if (this.count === 0) {
      // No anchor yet (no fallback rate): the first sane pair sets the rate,
      // and bytes before the first sample are paced at it from time 0.
      if (!sane) {
        if (step !== 0 || flagged) this.breaks++;
        return;
      }
      this.rate = bytes / step;
      const t0 = Math.round(prevOffset / this.rate);
      this.push(prevOffset, t0);
      this.push(offset, t0 + step);
      return;
    }
    const lastTicks = this.ticks[this.ring(this.count - 1)];
    if (sane) {
      this.rate = bytes / step;
      this.push(offset, lastTicks + step);
      return;
    }
    // A clock step of exactly 0 means "no clock here" (missing SCRs), not a jump.
    if (step !== 0 || flagged) this.breaks++;
    const fallback = this.fallbackRate();
    const r = fallback > 0 ? fallback : this.rate;
    if (r > 0) this.push(offset, lastTicks + Math.max(1, Math.round(bytes / r)));
  }

  /** Ticks at which byte `offset` is due (float), 0 when nothing is known yet. */
  ticksAt(offset: number): number {
    if (this.count === 0) {
      const fallback = this.fallbackRate();
      return fallback > 0 ? Math.max(0, offset) / fallback : 0;
    }
    if (offset < this.offsets[this.ring(0)]) {
      const i0 = this.ring(0);
      const r = this.count > 1 ? this.segmentRate(0) : this.extrapolationRate();
      return Math.max(0, this.ticks[i0] - (this.offsets[i0] - offset) / r);
    }
    const lo = this.lastAnchorAtOrBelow(offset);
    const i = this.ring(lo);
    const r = lo < this.count - 1 ? this.segmentRate(lo) : this.extrapolationRate();
    return lineAt(this.ticks[i], this.offsets[i], r, offset);
  }

  /**
   * The segment between two anchors that holds `offset`, in ticks (divided by `divisor` for the
   * clock's unit): anchors are only ever added after the last and dropped before the first, so
   * such a segment never changes. Empty before the first anchor and from the last on.
   */
  stretchAt(offset: number, divisor: number, into: ClockStretch): void {
    const last = this.count - 1;
    if (last < 1 || offset < this.offsets[this.ring(0)] || offset >= this.offsets[this.ring(last)]) return into.clear();
    // A reader moves on to the next segment: looked at first, before a search over them all.
    let k = into.anchor + 1 - this.dropped;
    if (!(k >= 0 && k < last && this.offsets[this.ring(k)] <= offset && offset < this.offsets[this.ring(k + 1)])) {
      k = this.lastAnchorAtOrBelow(offset);
    }
    const a = this.ring(k);
    into.set(this.offsets[a], this.offsets[this.ring(k + 1)], this.ticks[a], this.segmentRate(k), divisor);
    into.anchor = this.dropped + k;
    const until = Math.min(last, k + 1 + STRETCH_AHEAD);
    for (let j = k + 1; j < until; j++) into.keepAhead(this.offsets[this.ring(j + 1)], this.ticks[this.ring(j)], this.segmentRate(j));
  }

  /** Drops anchors no longer needed for offsets ≥ belowOffset. */
  forget(belowOffset: number): void {
    while (this.count > 2 && this.offsets[this.ring(1)] <= belowOffset) this.dropOldest();
  }

  /** The last anchor k (counted from the oldest) with offsets[k] <= offset, by binary search over the ring; offset is at or after the first. */
  private lastAnchorAtOrBelow(offset: number): number {
    let lo = 0;
    let hi = this.count - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.offsets[this.ring(mid)] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  private extrapolationRate(): number {
    return this.rate > 0 ? this.rate : this.fallbackRate();
  }

  /** Bytes per tick between anchors k and k+1. */
  private segmentRate(k: number): number {
    const a = this.ring(k);
    const b = this.ring(k + 1);
    return (this.offsets[b] - this.offsets[a]) / (this.ticks[b] - this.ticks[a]);
  }

  private push(offset: number, ticks: number): void {
    if (this.count === this.offsets.length) {
      if (this.offsets.length < this.capacity) this.grow();
      else this.dropOldest();
    }
    const i = this.ring(this.count);
    this.offsets[i] = offset;
    this.ticks[i] = ticks;
    this.count++;
  }

  /** Twice the room (at most the capacity), the anchors kept in order from index 0. */
  private grow(): void {
    const size = Math.min(this.capacity, this.offsets.length * 2);
    const offsets = new Float64Array(size);
    const ticks = new Float64Array(size);
    for (let k = 0; k < this.count; k++) {
      const i = this.ring(k);
      offsets[k] = this.offsets[i]!;
      ticks[k] = this.ticks[i]!;
    }
    this.offsets = offsets;
    this.ticks = ticks;
    this.head = 0;
  }

  private dropOldest(): void {
    this.head = (this.head + 1) % this.offsets.length;
    this.count--;
    this.dropped++;
  }

  private ring(k: number): number {
    return (this.head + k) % this.offsets.length;
  }
}

/**
 * How long (by its own PCRs) another PID's clock runs on with none on the PID followed before
 * pacing follows it instead: 13818-1 has a program's PCRs at most 100 ms apart, so a stream of
 * several programs keeps its first one, and a switch comes soon enough that the bytes since are
 * mostly still ahead of the senders (a load of 128 KiB is 350 ms at 3 Mbit/s).
 */
const PCR_PID_SILENCE_TICKS = PCR_HZ / 4;

/**
 * Which PID's PCRs time a stream: the first PID seen carrying one, until its PCRs stop while
 * another PID's run on for more than PCR_PID_SILENCE_TICKS (250 ms): then that one, from its
 * first PCR since the old PID's last. Files joined
 * with `cat` whose PCR PIDs differ (two encoders) were paced, after the join, at the first file's
 * last rate, a 3 Mbit/s part of one at 1 Mbit/s played three times too slow. In a stream of
 * several programs each with its own PCR PID the first one's PCRs keep coming, so it stays.
 *
 * It also keeps what a discontinuity_indicator says (13818-1: the next PCR on that PID is of a new
 * clock), on the PID followed and on the one it may switch to, and hands its users the samples to
 * time by (`packet`), so pacing, probe and --start's scan time PCRs alike.
 *
 * @example
 * ```ts
 * const lock = new PcrPidLock();
 * lock.packet(buf, at, offset, timeline); // timeline.sample(…) for each PCR to time by
 * ```
 */
export class PcrPidLock {
  /** The PID followed, or -1 until one carries a PCR. */
  pid: number;
  /** Set by the `take` that switched PIDs: the new PID's first PCR since the old one's last, and where it was. */
  switched = false;
  switchPcr = 0;
  switchOffset = 0;
  /** Set by a `take` that returned true: this PCR begins a new clock (flagged since the PID's last PCR, not a switch). */
  flagged = false;
  /** A discontinuity_indicator on the PID followed since its last PCR. */
  private pendingFlag = false;
  /** Another PID carrying PCRs since the followed one's last, and its first PCR there (-1: none). */
  private candidate = -1;
  private candidatePcr = 0;
  private candidateOffset = 0;

  /** `pid`: a fixed PID to follow, never switching; default, the first that carries a PCR. */
  constructor(pid?: number, private readonly fixed = pid !== undefined) {
    this.pid = pid ?? -1;
  }

  /** A packet on `pid` carries discontinuity_indicator: its next PCR is of a new clock. */
  flag(pid: number): void {
    if (pid === this.pid) this.pendingFlag = true;
    // The PID it may switch to starts its count again from its next PCR.
    else if (pid === this.candidate) this.candidate = -1;
  }

  /**
   * One TS packet at buf[at], stream offset `offset`: its flag noted, and its PCR, if one to time
   * by, handed to `clock` (after the switch's break, when it switched). Whether it handed one.
   */
  packet(buf: Uint8Array, at: number, offset: number, clock: ClockSampler): boolean {
    const pid = tsGetPid(buf, at);
    if (tsGetDiscontinuity(buf, at)) this.flag(pid);
    if (!tsHasPcr(buf, at)) return false;
    const pcr = tsGetPcr(buf, at);
    if (!this.take(pid, pcr, offset)) return false;
    // Another PID's clock from here: a break, then its PCRs as they come.
    if (this.switched) clock.sample(this.switchOffset, this.switchPcr, true);
    clock.sample(offset, pcr, this.flagged);
    return true;
  }

  /** A packet on `pid` at stream `offset` carries `pcr`: whether it is one to time by (the PID followed, after switching if due). */
  take(pid: number, pcr: number, offset: number): boolean {
    this.switched = false;
    if (this.pid < 0) this.pid = pid;
    if (pid === this.pid) {
      this.candidate = -1;
      this.flagged = this.pendingFlag;
      this.pendingFlag = false;
      return true;
    }
    if (this.fixed) return false;
    if (this.candidate < 0) {
      this.candidate = pid;
      this.candidatePcr = pcr;
      this.candidateOffset = offset;
      return false;
    }
    if (pid !== this.candidate) return false;
    const ran = (pcr - this.candidatePcr + PCR_WRAP) % PCR_WRAP;
    if (ran <= PCR_PID_SILENCE_TICKS) return false;
    if (ran > MAX_CLOCK_STEP_TICKS) {
      // The other PID's own clock broke meanwhile: it starts over from here.
      this.candidatePcr = pcr;
      this.candidateOffset = offset;
      return false;
    }
    this.pid = pid;
    this.candidate = -1;
    this.switched = true;
    // The switch is the break; what the old PID was flagged with is of its clock, now left.
    this.flagged = false;
    this.pendingFlag = false;
    this.switchPcr = this.candidatePcr;
    this.switchOffset = this.candidateOffset;
    return true;
  }
}

/**
 * A clock whose times come from a ClockTimeline of 90 kHz samples (PCRs, arrival stamps, SCRs):
 * what each such clock answers from its line, in one place. Subclasses feed the line in observe().
 */
abstract class TimelineClock implements ByteClock {
  protected abstract readonly timeline: ClockTimeline;

  abstract observe(chunk: Uint8Array, offset: number, start?: number, end?: number): void;

  timeAt(offset: number): number {
    return this.timeline.ticksAt(offset) / TICKS_PER_US;
  }

  stretchAt(offset: number, into: ClockStretch): void {
    this.timeline.stretchAt(offset, TICKS_PER_US, into);
  }

  byteRate(): number {
    return this.timeline.byteRate();
  }

  discontinuities(): number {
    return this.timeline.discontinuities();
  }

  forget(belowOffset: number): void {
    this.timeline.forget(belowOffset);
  }

  /** Starts the clock from its stream's first two references, read ahead by a probe (ClockTimeline.seed). */
  seed(step: ClockStep): void {
    this.timeline.seed(step);
  }
}

export interface PcrClockOptions {
  /** PID whose PCRs to use; default: the first PID seen carrying a PCR (see PcrPidLock). */
  pcrPid?: number;
  /** Rate (bits/s) to pace at until two PCRs have been seen; default none (time 0). */
  fallbackBitsPerSecond?: number;
  /** Anchors (PCRs) kept for lookups; older ones drop out. Default 4096. */
  capacity?: number;
}

/**
 * MPEG-TS paced by PCR: piecewise linear between consecutive PCRs, so the
 * packets of one PCR interval go out at equal spacing. Bytes before the first
 * PCR and after the last run at the nearest known rate. At a discontinuity
 * (PCR backwards, more than 1 s forward, or discontinuity_indicator) the time
 * line continues at the previous rate and later PCRs count from the new one.
 *
 * @example
 * ```ts
 * const clock = new PcrClock();
 * clock.observe(chunk, 0);          // at least two PCRs, e.g. 128 KiB
 * clock.byteRate();                 // e.g. 187500 for 1.5 Mbit/s
 * clock.timeAt(1316);               // µs at which byte 1316 is due
 * clock.forget(sentUpTo);           // drop anchors behind the send position
 * ```
 */
export class PcrClock extends TimelineClock {
  private readonly lock: PcrPidLock;
  protected readonly timeline: ClockTimeline;
  readonly packets = new TsPacketFinder((buf, at, streamOffset) => {
    this.lock.packet(buf, at, streamOffset, this.timeline);
  });

  constructor(options: PcrClockOptions = {}) {
    super();
    this.lock = new PcrPidLock(options.pcrPid);
    const fallback = (options.fallbackBitsPerSecond ?? 0) / 8 / PCR_HZ;
    this.timeline = new ClockTimeline(options.capacity, () => fallback);
  }

  /** The PID pacing follows, or -1 until one carries a PCR. */
  get pcrPid(): number {
    return this.lock.pid;
  }

  observe(chunk: Uint8Array, offset: number, start = 0, end = chunk.length): void {
    this.packets.observe(chunk, offset, start, end);
  }

}

/** Where an M2TS source hands each packet's arrival_time_stamp, in the order the packets are read. */
export interface ArrivalSink {
  arrived(ats: number): void;
}

export interface ArrivalClockOptions {
  /** Rate (bits/s) to pace at until two stamps differ; default none (time 0). */
  fallbackBitsPerSecond?: number;
  /** Anchors kept for lookups; one per packet whose stamp moves on. Default ARRIVAL_ANCHORS. */
  capacity?: number;
}

/**
 * Anchors an arrival clock keeps: stamps come per packet, so this covers 1.5 MB of stream, several
 * times a job's read-ahead (a load chunk and the load mark, 256 KiB at most for network outputs).
 */
export const ARRIVAL_ANCHORS = 8192;

/**
 * M2TS paced by its arrival time stamps: each 188-byte packet is due when its
 * 192-byte source packet arrived at the recorder, interpolated between stamps
 * that differ. The source strips the 4-byte headers before the bytes reach
 * the job, so it hands the stamps over through `arrived`, in read order, and
 * `observe` pairs them with the packets as they are loaded: the n-th packet
 * observed gets the n-th stamp. A stamp stepping back or more than 1 s on is
 * a discontinuity, as with PCRs (a loop, files joined).
 *
 * @example
 * ```ts
 * const clock = new ArrivalClock();
 * const source = m2tsSource(raw, clock); // calls clock.arrived(ats) per packet it reads
 * clock.observe(chunk, 0);               // the stripped 188-byte packets, as loaded
 * clock.timeAt(7 * 188);                 // µs at which the eighth packet is due
 * ```
 */
export class ArrivalClock extends TimelineClock implements ArrivalSink {
  /** The stripped packets, found as TS's are: so a loop's seams are mended (ts_seams.ts) and a cut packet left out. */
  readonly packets = new TsPacketFinder(() => {});
  protected readonly timeline: ClockTimeline;
  /** Stamps handed over but not yet paired with observed packets: a ring that grows only if a read outruns it. */
  private stamps = new Float64Array(1024);
  private stampsHead = 0;
  private stampsCount = 0;
  /** Stream offset of the next packet to pair with a stamp, -1 before the first observe. */
  private nextPacketAt = -1;
  private lastAts = -1;

  constructor(options: ArrivalClockOptions = {}) {
    super();
    const fallback = (options.fallbackBitsPerSecond ?? 0) / 8 / PCR_HZ;
    this.timeline = new ClockTimeline(options.capacity ?? ARRIVAL_ANCHORS, () => fallback, ATS_WRAP);
  }

  arrived(ats: number): void {
    if (this.stampsCount === this.stamps.length) this.growStamps();
    this.stamps[(this.stampsHead + this.stampsCount) % this.stamps.length] = ats;
    this.stampsCount++;
  }

  observe(chunk: Uint8Array, offset: number, start = 0, end = chunk.length): void {
    this.packets.observe(chunk, offset, start, end);
    if (this.nextPacketAt < 0) this.nextPacketAt = offset;
    const streamEnd = offset + end - start;
    while (this.nextPacketAt < streamEnd && this.stampsCount > 0) {
      const ats = this.stamps[this.stampsHead];
      this.stampsHead = (this.stampsHead + 1) % this.stamps.length;
      this.stampsCount--;
      // Packets sharing a stamp are spread between it and the next one, as between two PCRs.
      if (ats !== this.lastAts) this.timeline.sample(this.nextPacketAt, ats, false);
      this.lastAts = ats;
      this.nextPacketAt += TS_SIZE;
    }
  }


  private growStamps(): void {
    const bigger = new Float64Array(this.stamps.length * 2);
    for (let i = 0; i < this.stampsCount; i++) bigger[i] = this.stamps[(this.stampsHead + i) % this.stamps.length];
    this.stamps = bigger;
    this.stampsHead = 0;
  }
}

export interface ScrClockOptions {
  /**
   * Rate (bits/s) used before the second SCR and where SCRs give none (the rate the input's head
   * was probed at); without it, the packs' program_mux_rate.
   */
  fallbackBitsPerSecond?: number;
  capacity?: number;
}

/**
 * MPEG-PS paced by SCR, interpolated by byte position between packs. Before
 * the second pack, and wherever SCRs are missing (all equal) or garbage
 * (backwards or > 1 s apart), bytes go at the fallback rate, else the mux rate.
 * program_mux_rate is no bound on the SCRs, nor preferred to the head's rate:
 * muxers get it wrong both ways (GStreamer's mpegpsmux writes 409600 bit/s in
 * its first packs whatever the stream's rate, ffmpeg 440 Mbit/s in a VOB), and
 * a 3.2 Mbit/s GStreamer file held to it took 12 s to play 4.
 *
 * @example
 * ```ts
 * const clock = new ScrClock();
 * clock.observe(chunk, 0);
 * clock.muxRate(); // bytes/s from program_mux_rate
 * clock.timeAt(2048);
 * ```
 */
export class ScrClock extends TimelineClock {
  protected readonly timeline: ClockTimeline;
  private readonly scanner = new PsScanner();
  /** Last program_mux_rate seen, bytes/s. */
  private muxBytesPerSecond = 0;
  private readonly fallbackBytesPerSecond: number;
  private readonly onPack = (buf: Uint8Array, at: number, streamOffset: number): void => {
    const mux = psPackMuxRateBytes(buf, at);
    if (mux > 0) this.muxBytesPerSecond = mux;
    this.timeline.sample(streamOffset, psPackScr(buf, at), false);
  };

  constructor(options: ScrClockOptions = {}) {
    super();
    this.fallbackBytesPerSecond = (options.fallbackBitsPerSecond ?? 0) / 8;
    const rate = () => (this.fallbackBytesPerSecond || this.muxBytesPerSecond) / PCR_HZ;
    this.timeline = new ClockTimeline(options.capacity, rate);
  }

  observe(chunk: Uint8Array, offset: number, start = 0, end = chunk.length): void {
    observeContiguous(this.scanner, chunk, start, end, offset, this.onPack);
  }

  /** program_mux_rate of the last pack, bytes/s (0 before the first pack). */
  muxRate(): number {
    return this.muxBytesPerSecond;
  }

}

interface ChunkScanner<C> {
  nextOffset: number;
  reset(streamOffset: number): void;
  pushRange(chunk: Uint8Array, start: number, end: number, cb: C): void;
}

/**
 * Feeds a scanner only bytes it has not seen: re-observed bytes are ignored,
 * and a gap (seek) restarts alignment at the new offset. chunk[start] is at stream offset `offset`.
 */
function observeContiguous<C>(scanner: ChunkScanner<C>, chunk: Uint8Array, start: number, end: number, offset: number, cb: C): void {
  if (offset + end - start <= scanner.nextOffset) return;
  if (offset > scanner.nextOffset) scanner.reset(offset);
  scanner.pushRange(chunk, start + Math.max(0, scanner.nextOffset - offset), end, cb);
}
