/**
 * A destination's reader of a PCM stream: converts whole input frames to the
 * backend's format and stages them, so every unit is whole output frames
 * whatever the two rates are. Units are timed by the frames given out, gaps
 * counted, so the timeline is exact in samples. At the end of the input the
 * converter's tail (a resampler's delay) is flushed and the last unit may be
 * short.
 *
 * @example
 * ```ts
 * const reader = new PcmReader(job, job.ring.start, input.format, converter, backend.unitBytes);
 * const length = reader.next(unit);
 * ```
 */
import type { PcmConverter } from "../convert/converter.ts";
import { bytesPerFrame, type SampleFormat } from "../protocol/sample_format.ts";
import { US_PER_S } from "../scheduler/clock.ts";
import { loadIfLow, type SharedInput, type UnitReader } from "./unit_reader.ts";

export class PcmReader implements UnitReader {
  /** Output frames given out so far, counting gaps. */
  frame = 0;
  readonly inputBytesPerUnit: number;
  readonly unitUs: number;
  private cursor: number;
  private readonly inFrameBytes: number;
  private readonly outFrameBytes: number;
  private readonly outRate: number;
  private readonly inRate: number;
  /** One conversion's worth of input, about a unit's time. */
  private readonly inBlock: Buffer;
  /** Converted bytes waiting to go out, in `staged[stagedStart..stagedEnd)`. */
  private staged: Buffer;
  private stagedStart = 0;
  private stagedEnd = 0;
  private flushed = false;

  constructor(
    private readonly input: SharedInput,
    start: number,
    /** The job's PCM format. */
    format: SampleFormat,
    /** To the backend's format; null when the backend takes the job's format as it is. */
    private readonly converter: PcmConverter | null,
    /** Bytes per unit in the backend's format. */
    unitBytes: number,
  ) {
    this.cursor = start;
    const outFormat = converter ? converter.to : format;
    this.inFrameBytes = bytesPerFrame(format);
    this.outFrameBytes = bytesPerFrame(outFormat);
    this.outRate = outFormat.rate;
    this.inRate = format.rate;
    const unitFrames = unitBytes / this.outFrameBytes;
    const inFrames = Math.max(1, Math.ceil((unitFrames * format.rate) / this.outRate));
    this.inBlock = Buffer.alloc(inFrames * this.inFrameBytes);
    this.inputBytesPerUnit = this.inBlock.length;
    const maxOut = converter ? converter.outputFramesFor(inFrames) * this.outFrameBytes : this.inBlock.length;
    // What waits (less than a unit) plus one conversion's output, with as much again so compaction is rare.
    this.staged = Buffer.alloc(2 * unitBytes + 2 * maxOut);
    this.unitUs = (unitFrames / this.outRate) * US_PER_S;
  }

  get position(): number {
    return this.cursor;
  }

  next(unit: Buffer): number {
    const length = this.stage(unit);
    if (length === 0) this.input.requestLoad();
    return length;
  }

  /**
   * A live input stalled inside a unit: the whole input frames there are, converted, as a short
   * unit of whole output frames (0 when there are none), so what was received is not held back.
   * `stalled` (not just a unit taken in part), the converter's tail goes too: a resampler holds
   * the last ~1 ms until more input comes, and a speaker's queue that ran dry had its last track's
   * end heard at idle_close, after an underrun. What follows starts the converter afresh; its
   * output stays time-aligned (resample.ts).
   */
  nextPartial(unit: Buffer, stalled = false): number {
    const available = this.input.ring.available(this.cursor);
    const n = Math.min(this.inBlock.length, available - (available % this.inFrameBytes));
    if (n > 0) {
      this.input.ring.copyOut(this.cursor, this.inBlock, 0, n);
      this.cursor += n;
      const block = this.inBlock.subarray(0, n);
      this.append(this.converter ? this.converter.convert(block) : block);
    }
    if (stalled && this.converter && !this.converter.identity) this.append(this.converter.flush());
    const ready = this.stagedEnd - this.stagedStart;
    const length = Math.min(unit.length, ready - (ready % this.outFrameBytes));
    this.staged.copy(unit, 0, this.stagedStart, this.stagedStart + length);
    return length;
  }

  advance(bytes: number): void {
    const frames = Math.floor(bytes / this.outFrameBytes);
    this.stagedStart += frames * this.outFrameBytes;
    this.frame += frames;
    loadIfLow(this.input, this.cursor);
  }

  mediaUs(): number {
    return (this.frame * US_PER_S) / this.outRate;
  }

  skipGap(lostUs: number): void {
    this.frame += Math.round((lostUs * this.outRate) / US_PER_S);
  }

  ended(): boolean {
    return this.input.inputEnded && this.flushed && this.stagedEnd === this.stagedStart;
  }

  skipTo(offset: number, clockMoves = true): number {
    // Whole input frames from the cursor: every reader's cursor is on the same frame grid.
    const behind = Math.min(offset, this.input.ring.end) - this.cursor;
    const inBytes = behind > 0 ? Math.ceil(behind / this.inFrameBytes) * this.inFrameBytes : 0;
    this.cursor += inBytes;
    const frame = this.frame;
    const droppedUs = this.drop(inBytes / this.inFrameBytes);
    if (!clockMoves) this.frame = frame;
    return droppedUs;
  }

  dropRest(): number {
    const rest = this.input.ring.available(this.cursor);
    const inBytes = rest - (rest % this.inFrameBytes);
    this.cursor += rest;
    this.flushed = true; // the converter's tail goes too
    return this.drop(inBytes / this.inFrameBytes);
  }

  outputUs(bytes: number): number {
    return (Math.floor(bytes / this.outFrameBytes) * US_PER_S) / this.outRate;
  }

  /** Drops what is staged and `inFrames` input frames passed over; the timeline moves on by both. */
  private drop(inFrames: number): number {
    const frames = (this.stagedEnd - this.stagedStart) / this.outFrameBytes + Math.round((inFrames * this.outRate) / this.inRate);
    this.stagedStart = this.stagedEnd = 0;
    this.frame += frames;
    return (frames * US_PER_S) / this.outRate;
  }

  /** Converts input until a whole unit is staged and copies it to `unit`; returns its length (a short unit only at the end). */
  private stage(unit: Buffer): number {
    const want = unit.length;
    const { ring, inputEnded } = this.input;
    const inFrameBytes = this.inFrameBytes;
    while (this.stagedEnd - this.stagedStart < want) {
      const available = ring.available(this.cursor);
      let n = this.inBlock.length;
      if (available < n) {
        if (!inputEnded) break;
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
    if (ready < want && !(inputEnded && this.flushed)) return 0;
    const length = Math.min(want, ready);
    this.staged.copy(unit, 0, this.stagedStart, this.stagedStart + length);
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
