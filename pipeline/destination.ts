/**
 * One output of a job, with its own send events. Each send event takes the
 * next unit at this destination's cursor in the job's read-ahead buffer
 * (converted to the backend's PCM format when needed), hands it to the
 * backend, and schedules the next event at `anchor + mediaTime(next unit)`
 * minus the backend's lead, so destinations never drift and never wait on
 * each other.
 */
import type { Backend, UnitTiming } from "../backends/backend.ts";
import type { PcmConverter } from "../convert/converter.ts";
import { bytesPerFrame, type SampleFormat } from "../protocol/sample_format.ts";
import { US_PER_S } from "../scheduler/clock.ts";
import { PacedSchedule } from "../scheduler/paced_schedule.ts";
import type { Scheduler, Timer } from "../scheduler/scheduler.ts";
import type { ReadAheadBuffer } from "./read_ahead.ts";
import type { SkipRanges } from "./skip_ranges.ts";
import { TS_SIZE } from "../protocol/mpegts.ts";


/** A starving destination looks for data again this often (and at once when data arrives). */
const STARVE_RETRY_US = 2_000;
/** A stream backend that took only part of a unit is offered the rest this much later. */
const BACKPRESSURE_RETRY_US = 2_000;
/** How many units late a sender may be and still catch up in a burst before re-anchoring. */
const MAX_BURST_UNITS = 16;
/** ...but never re-anchor over less than this, so scheduler hiccups don't cost timing. */
const MIN_CATCH_UP_US = 20_000;

/** What a destination needs from its job. */
export interface DestinationHost {
  readonly ring: ReadAheadBuffer;
  /** Ask for a load when this many bytes or fewer are left ahead of the cursor. */
  readonly loadMark: number;
  /** Garbage between MPEG-TS packets, passed over rather than sent. */
  readonly skips: SkipRanges;
  /** End of the bytes that may be sent now: loaded, and known to be packets or garbage. */
  sendableEnd(): number;
  readonly scheduler: Scheduler;
  /** True once the input has no more bytes to load. */
  readonly inputEnded: boolean;
  /** Media time (µs) of stream byte `offset`, for non-PCM streams. */
  timeAt(offset: number): number;
  /** Asks for a load event (the destination is down to the load mark, or waiting for input). */
  requestLoad(): void;
  destinationDone(destination: Destination): void;
}

export type DestinationState = "running" | "done" | "failed" | "stopped";

export class Destination {
  state: DestinationState = "running";
  error: Error | null = null;
  /** Next stream byte this destination reads. */
  cursor: number;
  /** Output frames sent so far, counting gaps (PCM). */
  frame = 0;
  gaps = 0;
  startedAt = 0;
  readonly pace: PacedSchedule;
  private readonly timer: Timer;
  private readonly unit: Buffer;
  private starving = false;
  private starvedAt = 0;
  private marker = true;
  private readonly timing: UnitTiming = { sendUs: 0, frame: 0, marker: true };
  private readonly outFrameBytes: number;
  private readonly inFrameBytes: number;
  private readonly outRate: number;
  /** PCM staging: converted bytes waiting to go out, in `staged[stagedStart..stagedEnd)`. */
  private staged: Buffer;
  private stagedStart = 0;
  private stagedEnd = 0;
  private readonly inBlock: Buffer;
  private flushed = false;

  constructor(
    private readonly host: DestinationHost,
    readonly backend: Backend,
    /** The job's PCM format, or undefined for MPEG and raw data. */
    private readonly inFormat: SampleFormat | undefined,
    private readonly converter: PcmConverter | null,
    startOffset: number,
  ) {
    this.cursor = startOffset;
    this.unit = Buffer.alloc(backend.unitBytes);
    const outFormat = backend.format ?? inFormat;
    this.outFrameBytes = outFormat ? bytesPerFrame(outFormat) : 1;
    this.outRate = outFormat ? outFormat.rate : 0;
    this.inFrameBytes = inFormat ? bytesPerFrame(inFormat) : 1;
    if (inFormat) {
      const inFrameBytes = this.inFrameBytes;
      const unitFrames = backend.unitBytes / this.outFrameBytes;
      const inFrames = Math.max(1, Math.ceil((unitFrames * inFormat.rate) / this.outRate));
      this.inBlock = Buffer.alloc(inFrames * inFrameBytes);
      const maxOut = converter ? converter.outputFramesFor(inFrames) * this.outFrameBytes : this.inBlock.length;
      this.staged = Buffer.alloc(2 * backend.unitBytes + 2 * maxOut);
    } else {
      this.inBlock = Buffer.alloc(0);
      this.staged = Buffer.alloc(0);
    }
    const unitUs = inFormat ? (backend.unitBytes / this.outFrameBytes / this.outRate) * US_PER_S : 0;
    this.pace = new PacedSchedule(Math.max(MIN_CATCH_UP_US, MAX_BURST_UNITS * unitUs) + backend.aheadUs);
    this.timer = host.scheduler.timer("send", (_timer, now) => this.onSend(now));
  }

  get label(): string {
    return this.backend.label;
  }

  /** Input bytes one unit needs before it can go out. */
  get inputBytesPerUnit(): number {
    return this.inFormat ? this.inBlock.length : this.backend.unitBytes;
  }

  get active(): boolean {
    return this.state === "running";
  }

  /**
   * Starts sending: the first unit goes now, and every unit is due `aheadUs` before its media
   * time, so the backend's lead (an RTP jitter allowance, ALSA's queued periods) is sent at once.
   */
  start(now: number): void {
    this.startedAt = now;
    this.pace.start(now, this.mediaUs());
    this.host.scheduler.schedule(this.timer, now);
  }

  /** New data arrived: a starving destination tries again now. */
  wake(): void {
    if (this.starving && this.state === "running") this.host.scheduler.schedule(this.timer, this.host.scheduler.now());
  }

  stop(): void {
    if (this.state !== "running") return;
    this.state = "stopped";
    this.host.scheduler.cancel(this.timer);
  }

  fail(error: Error): void {
    if (this.state !== "running") return;
    this.state = "failed";
    this.error = error;
    this.host.scheduler.cancel(this.timer);
    this.host.destinationDone(this);
  }

  /** Media time of the next unit: frames for PCM, the stream's byte clock otherwise. */
  private mediaUs(): number {
    return this.inFormat ? (this.frame * US_PER_S) / this.outRate : this.host.timeAt(this.cursor);
  }

  private onSend(now: number): void {
    if (this.state !== "running") return;
    const length = this.inFormat ? this.stagePcm() : this.readRaw();
    if (length === 0) {
      if (this.host.inputEnded && this.drained()) {
        this.state = "done";
        this.host.destinationDone(this);
        return;
      }
      if (!this.starving) {
        this.starving = true;
        this.starvedAt = now;
      }
      // Whatever the mark said, a destination waiting for input wants a load (idempotent).
      this.host.requestLoad();
      this.host.scheduler.schedule(this.timer, now + STARVE_RETRY_US);
      return;
    }
    if (this.starving) this.resumeAfterGap(now);
    const deadline = this.timer.deadline;
    const timing = this.timing;
    timing.sendUs = Math.max(0, deadline - this.startedAt);
    timing.frame = this.frame;
    timing.marker = this.marker;
    let taken: number;
    try {
      taken = this.backend.send(length === this.unit.length ? this.unit : this.unit.subarray(0, length), timing);
    } catch (error) {
      this.fail(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    // A backend may also fail this destination from inside send (ctx.fail): then nothing more is due.
    if (this.state !== "running") return;
    if (taken > 0) this.marker = false;
    if (this.inFormat) {
      const frames = Math.floor(taken / this.outFrameBytes);
      this.stagedStart += frames * this.outFrameBytes;
      this.frame += frames;
    } else {
      const skips = this.host.skips;
      this.cursor = skips.size === 0 ? this.cursor + taken : skips.advance(this.cursor, taken);
    }
    if (this.host.ring.available(this.cursor) <= this.host.loadMark) this.host.requestLoad();
    if (taken < length) {
      this.host.scheduler.schedule(this.timer, now + BACKPRESSURE_RETRY_US);
      return;
    }
    this.host.scheduler.schedule(this.timer, this.pace.deadline(this.mediaUs() - this.backend.aheadUs, now));
  }

  /** After a gap the timeline moves on by the time lost: RTP timestamps advance across it (RFC 3551 marker rule). */
  private resumeAfterGap(now: number): void {
    this.starving = false;
    this.gaps++;
    if (this.inFormat) this.frame += Math.round(((now - this.starvedAt) * this.outRate) / US_PER_S);
    this.marker = true;
    this.pace.start(now, this.mediaUs());
    this.timer.deadline = now;
  }

  private drained(): boolean {
    if (this.inFormat) return this.stagedEnd === this.stagedStart && this.flushed;
    const { ring, skips } = this.host;
    return skips.size === 0 ? ring.available(this.cursor) === 0 : skips.cleanBytes(this.cursor, ring.end) === 0;
  }

  /** Copies the next raw unit into `unit`; returns its length (0: nothing to send yet). */
  private readRaw(): number {
    const host = this.host;
    const skips = host.skips;
    const end = host.sendableEnd();
    const want = this.unit.length;
    if (skips.size === 0) {
      const available = end - this.cursor;
      if (available < want && !host.inputEnded) return 0;
      const length = Math.min(want, available);
      if (length > 0) host.ring.copyOut(this.cursor, this.unit, 0, length);
      return length;
    }
    // Garbage ahead: gather the packets around it, so the unit is still whole packets. Garbage at
    // the cursor is passed at once, so the buffer can let it go.
    this.cursor = skips.skipFrom(this.cursor);
    let pos = this.cursor;
    let filled = 0;
    while (filled < want && pos < end) {
      const n = Math.min(want - filled, Math.min(end, skips.nextStartAfter(pos)) - pos);
      host.ring.copyOut(pos, this.unit, filled, n);
      filled += n;
      pos = skips.skipFrom(pos + n);
    }
    if (filled < want && !host.inputEnded) {
      // A buffer full from this cursor on brings no more until the cursor moves (scattered garbage
      // left less than a unit of packets in it): send the whole packets there are.
      if (host.ring.free > 0 || host.ring.start < this.cursor) return 0;
      filled -= filled % TS_SIZE; // garbage is only ever found in MPEG-TS
    }
    return filled;
  }

  /** Converts input until a whole unit is staged and copies it to `unit`; returns its length (a short unit only at the end). */
  private stagePcm(): number {
    const want = this.backend.unitBytes;
    const ring = this.host.ring;
    const inFrameBytes = this.inFrameBytes;
    while (this.stagedEnd - this.stagedStart < want) {
      const available = ring.available(this.cursor);
      let n = this.inBlock.length;
      if (available < n) {
        if (!this.host.inputEnded) break;
        n = available - (available % inFrameBytes);
      }
      if (n === 0) {
        if (this.flushed) break;
        this.flushed = true;
        if (this.converter && !this.converter.identity) this.append(this.converter.flush());
        continue;
      }
      ring.copyOut(this.cursor, this.inBlock, 0, n);
      this.cursor += n;
      const block = n === this.inBlock.length ? this.inBlock : this.inBlock.subarray(0, n);
      this.append(this.converter ? this.converter.convert(block) : block);
    }
    const ready = this.stagedEnd - this.stagedStart;
    if (ready < want && !(this.host.inputEnded && this.flushed)) return 0;
    const length = Math.min(want, ready);
    this.staged.copy(this.unit, 0, this.stagedStart, this.stagedStart + length);
    return length;
  }

  private append(bytes: Uint8Array): void {
    if (this.stagedEnd + bytes.length > this.staged.length) {
      // Compact: move what is still waiting to the front.
      this.staged.copy(this.staged, 0, this.stagedStart, this.stagedEnd);
      this.stagedEnd -= this.stagedStart;
      this.stagedStart = 0;
      if (this.stagedEnd + bytes.length > this.staged.length) {
        const bigger = Buffer.alloc(this.stagedEnd + bytes.length);
        this.staged.copy(bigger, 0, 0, this.stagedEnd);
        this.staged = bigger;
      }
    }
    this.staged.set(bytes, this.stagedEnd);
    this.stagedEnd += bytes.length;
  }
}
