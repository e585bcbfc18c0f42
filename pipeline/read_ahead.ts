/**
 * The read-ahead buffer a job's load events fill and its destinations read
 * from. Offsets are absolute stream byte offsets, which only grow (across
 * `--loop` too); the buffer keeps the window [start, end) in a ring.
 * Destinations of one job share it, so N destinations cost one copy of the
 * data, not N.
 *
 * Copies go through Buffer.copy with offsets, so reading a unit allocates
 * nothing (a subarray per packet would). The bytes are shared memory
 * (foundation/shared_bytes.ts): a sender thread reads its datagrams from them
 * in place, and checks that they were not reused meanwhile.
 *
 * @example
 * ```ts
 * const ring = new ReadAheadBuffer(1024);
 * const position = ring.writablePosition();
 * ring.commit(ring.data.write("hello", position));
 * const out = Buffer.alloc(5);
 * ring.copyOut(0, out, 0, 5); // "hello"
 * ```
 */
import { SharedBytes } from "../foundation/shared_bytes.ts";

export class ReadAheadBuffer {
  readonly capacity: number;
  readonly shared: SharedBytes;
  readonly data: Buffer;
  private held = 0;
  /** One past the last loaded offset. */
  end = 0;

  /**
   * `capacity` bytes, and `keepBehind` more that are kept below what `release` frees: a sender
   * thread may still be reading them in place (pipeline/job.ts, HAND_OVER_HOLD_S).
   */
  constructor(
    capacity: number,
    readonly keepBehind = 0,
  ) {
    this.capacity = capacity + keepBehind;
    this.shared = new SharedBytes(this.capacity);
    this.data = this.shared.data;
  }

  /** Lowest offset still held. */
  get start(): number {
    return this.held;
  }

  /** Starts the buffer, empty, at stream offset `offset` (a job's `--start`). */
  reset(offset: number): void {
    this.held = this.end = offset;
    this.shared.releaseBelow(offset);
  }

  get free(): number {
    return this.capacity - (this.end - this.start);
  }

  /** Bytes loaded at or after `offset`. */
  available(offset: number): number {
    return this.end - offset;
  }

  /** Where the longest contiguous free region begins in `data` (two numbers, not a pair: a load makes no garbage). */
  writablePosition(): number {
    return this.end % this.capacity;
  }

  /** The length of the region at writablePosition. */
  writableRoom(): number {
    return Math.min(this.free, this.capacity - (this.end % this.capacity));
  }

  /**
   * Faults in the pages the next `length` bytes loaded will take (on over the ring's end, and
   * never into what it holds), so that the loads that write them find them mapped.
   */
  prefault(length: number): void {
    const position = this.positionOf(this.end);
    const n = Math.min(length, this.free);
    this.data.fill(0, position, Math.min(this.capacity, position + n));
    if (position + n > this.capacity) this.data.fill(0, 0, position + n - this.capacity);
  }

  /** Records `n` bytes written at the writable region. */
  commit(n: number): void {
    this.end += n;
  }

  /** Where stream offset `offset` sits in `data`. */
  positionOf(offset: number): number {
    return offset % this.capacity;
  }

  /**
   * Rewrites the byte at stream offset `offset`, which a load has just put in and no reader has
   * passed: a packet header mended where the stream starts over (protocol/ts_seams.ts).
   */
  setByteAt(offset: number, value: number): void {
    this.data[this.positionOf(offset)] = value;
  }

  /** True when the buffer is full and every byte in it is at or after `offset` (bar keepBehind): no load can bring more until a reader moves. */
  fullFrom(offset: number): boolean {
    return this.free === 0 && this.start + this.keepBehind >= offset;
  }

  /** Drops everything below `offset` (but keepBehind): no destination needs it any more. */
  release(offset: number): void {
    offset -= this.keepBehind;
    if (offset <= this.held) return;
    this.held = Math.min(offset, this.end);
    // Published before a load reuses the bytes: a thread reading them in place then knows.
    this.shared.releaseBelow(this.held);
  }

  /** Copies `length` bytes at stream offset `offset` into `target[at..]`. */
  copyOut(offset: number, target: Uint8Array, at: number, length: number): void {
    if (offset < this.start || offset + length > this.end) {
      throw new RangeError(`read-ahead: [${offset}, ${offset + length}) is outside [${this.start}, ${this.end})`);
    }
    this.shared.copyOut(this.positionOf(offset), length, target, at);
  }
}
