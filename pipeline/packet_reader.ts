/**
 * A destination's reader of an MPEG-TS, MPEG-PS or raw data stream: units
 * are the stream's bytes as they are, timed by the stream's byte clock (PCR,
 * SCR or a constant rate). Garbage found between TS packets is passed over,
 * and the packets around it are gathered, so every unit stays whole packets.
 *
 * @example
 * ```ts
 * const reader = new PacketReader(job, job.ring.start, backend.unitBytes);
 * const length = reader.next(unit);
 * ```
 */
import { TS_SIZE } from "../protocol/mpegts.ts";
import { type ByteClock, ClockStretch } from "../protocol/mpeg_timing.ts";
import type { SkipRanges } from "./skip_ranges.ts";
import { loadIfLow, type SharedInput, type UnitReader } from "./unit_reader.ts";

/** What a packet reader needs from its job beyond the shared buffer. */
export interface PacketInput extends SharedInput {
  /** Garbage between MPEG-TS packets, passed over rather than sent. */
  readonly skips: SkipRanges;
  /** End of the bytes that may be sent now: loaded, and known to be packets or garbage. */
  sendableEnd(): number;
  /** A reader is short of a unit: with the input dry, let go a packet held for the next one's sync. */
  releaseHeld(): void;
  /** The stream's byte clock (PCR, SCR or a constant rate): media time of each byte. */
  readonly byteClock: ByteClock;
}

export class PacketReader implements UnitReader {
  /** Frames are a PCM notion; packet units are timed by the byte clock. */
  readonly frame = 0;
  readonly unitUs = 0;
  private cursor: number;
  private readonly startCursor: number;
  /*
   * What this reader last learnt from its job, kept here so that a unit's send needs no look at
   * the job (its skips, its clock's time line, its buffer's end): a server's thousand jobs each
   * have their own, and each look is a cache miss (docs/scale.md).
   */
  /**
   * Bytes below this were loaded, settled and free of garbage when last looked, with no garbage
   * anywhere ahead: they stay so, as a job only finds garbage above its settled end.
   */
  private cleanEnd = 0;
  /** Below this the reader was more than the load mark behind the buffer's end (which only grows): no load to ask for. */
  private loadAt = 0;
  /** The byte clock's stretch the cursor was last in. */
  private readonly stretch = new ClockStretch();
  /** The job's byte clock, asked directly: the job is one more cold object. */
  private readonly clock: ByteClock;

  constructor(
    private readonly input: PacketInput,
    start: number,
    /** Bytes per unit: whole packets, as the backend sends them. */
    readonly inputBytesPerUnit: number,
    /** A skip ahead keeps whole packets of this size (188 for MPEG-TS; 1 for other data). */
    private readonly packetBytes = 1,
  ) {
    this.cursor = start;
    this.startCursor = start;
    this.clock = input.byteClock;
  }

  get position(): number {
    return this.cursor;
  }

  next(unit: Buffer): number {
    if (this.cursor + unit.length <= this.cleanEnd) {
      this.input.ring.copyOut(this.cursor, unit, 0, unit.length);
      return unit.length;
    }
    const length = this.input.skips.size === 0 ? this.readClean(unit) : this.gather(unit);
    if (length === 0) this.input.requestLoad();
    return length;
  }

  nextInPlace(unitBytes: number): number {
    if (this.cursor + unitBytes <= this.cleanEnd) return unitBytes;
    const input = this.input;
    if (input.skips.size !== 0) return -1;
    const length = this.cleanLength(unitBytes);
    if (length === 0) {
      input.requestLoad();
      return 0;
    }
    return length;
  }

  nextPartial(unit: Buffer): number {
    if (this.input.skips.size > 0) return 0;
    const available = Math.min(unit.length, this.sendableEnd(this.cursor, unit.length) - this.cursor);
    const length = available - (available % this.packetBytes);
    if (length > 0) this.input.ring.copyOut(this.cursor, unit, 0, length);
    return length;
  }

  advance(bytes: number): void {
    const to = this.cursor + bytes;
    // Within what is known clean no garbage is passed over; at its end some may start.
    if (to < this.cleanEnd) this.cursor = to;
    else {
      const skips = this.input.skips;
      this.cursor = skips.size === 0 ? to : skips.advance(this.cursor, bytes);
    }
    if (this.cursor >= this.loadAt) {
      const input = this.input;
      loadIfLow(input, this.cursor);
      this.loadAt = input.ring.end - input.loadMark;
    }
  }

  mediaUs(): number {
    const at = this.cursor;
    const stretch = this.stretch;
    if (!stretch.holds(at) && !stretch.moveOn(at)) this.clock.stretchAt?.(at, stretch);
    return stretch.holds(at) ? stretch.timeAt(at) : this.clock.timeAt(at);
  }

  /** Nothing to do: the byte clock times every byte, and the destination re-anchors on it. */
  skipGap(_lostUs: number): void {}

  ended(): boolean {
    const { ring, skips, inputEnded } = this.input;
    if (!inputEnded) return false;
    return skips.size === 0 ? ring.available(this.cursor) === 0 : skips.cleanBytes(this.cursor, ring.end) === 0;
  }

  skipTo(offset: number): number {
    const { ring, skips } = this.input;
    const from = this.cursor;
    const packet = this.packetBytes;
    // Whole packets of clean bytes from the cursor, passing over garbage as a send would.
    const wanted = skips.size === 0 ? offset - from : skips.cleanBytes(from, offset);
    const held = skips.size === 0 ? ring.end - from : skips.cleanBytes(from, ring.end);
    const bytes = Math.min(Math.ceil(wanted / packet) * packet, held - (held % packet));
    if (!(bytes > 0)) return 0;
    this.cursor = skips.size === 0 ? from + bytes : skips.advance(from, bytes);
    return this.clock.timeAt(this.cursor) - this.clock.timeAt(from);
  }

  dropRest(): number {
    const from = this.cursor;
    this.cursor = this.input.ring.end;
    return this.clock.timeAt(this.cursor) - this.clock.timeAt(from);
  }

  /** The average rate of what this reader has covered: the stream's own bytes, timed by its clock. */
  outputUs(bytes: number): number {
    const covered = this.cursor - this.startCursor;
    if (bytes === 0 || covered <= 0) return 0;
    return (bytes * (this.clock.timeAt(this.cursor) - this.clock.timeAt(this.startCursor))) / covered;
  }

  /** The job's sendable end; a reader short of `want` bytes from `from` first has it let go what a dry input leaves held. */
  private sendableEnd(from: number, want: number): number {
    const input = this.input;
    const end = input.sendableEnd();
    if (end - from >= want || input.inputEnded) return end;
    input.releaseHeld();
    return input.sendableEnd();
  }

  /** No garbage ahead: the next `unit.length` bytes, or what is left at the end. */
  private readClean(unit: Buffer): number {
    const length = this.cleanLength(unit.length);
    if (length > 0) this.input.ring.copyOut(this.cursor, unit, 0, length);
    return length;
  }

  /** The next unit's length where no garbage lies ahead: a whole unit, or what is left at the end; 0 until then. */
  private cleanLength(unitBytes: number): number {
    const input = this.input;
    const end = this.sendableEnd(this.cursor, unitBytes);
    this.cleanEnd = end;
    const available = end - this.cursor;
    if (available < unitBytes && !input.inputEnded) return 0;
    return Math.min(unitBytes, available);
  }

  /**
   * Garbage ahead: gathers the packets around it, so the unit is still whole packets. Garbage at
   * the cursor is passed at once, so the buffer can let it go.
   */
  private gather(unit: Buffer): number {
    const input = this.input;
    const { ring, skips } = input;
    const want = unit.length;
    this.cursor = skips.skipFrom(this.cursor);
    const end = this.sendableEnd(this.cursor, want);
    let pos = this.cursor;
    let filled = 0;
    while (filled < want && pos < end) {
      const n = Math.min(want - filled, Math.min(end, skips.nextStartAfter(pos)) - pos);
      ring.copyOut(pos, unit, filled, n);
      filled += n;
      pos = skips.skipFrom(pos + n);
    }
    if (filled < want && !input.inputEnded) {
      // A buffer full from this cursor on brings no more until the cursor moves (scattered garbage
      // left less than a unit of packets in it): send the whole packets there are.
      if (!ring.fullFrom(this.cursor)) return 0;
      filled -= filled % TS_SIZE; // garbage is only ever found in MPEG-TS
    }
    return filled;
  }
}
