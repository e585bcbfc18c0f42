/**
 * Byte ranges of a job's input that destinations pass over: garbage found
 * between MPEG-TS packets at load time. Sending it would shift every later
 * datagram off the 188-byte packet grid, and receivers that expect seven
 * whole packets per datagram would lose two packets in each from then on.
 *
 * Ranges arrive in stream order as chunks are loaded and leave once every
 * destination is past them; a bounded ring, allocation-free once made.
 * On a pathological input with more separate runs of garbage in flight
 * than the ring holds, the runs that do not fit are counted in
 * `overflowed` and sent as they are.
 *
 * @example
 * ```ts
 * const skips = new SkipRanges();
 * skips.add(56_400, 1000);
 * skips.advance(56_000, 400); // 57_400: 400 packet bytes, then past the garbage
 * ```
 */
const DEFAULT_CAPACITY = 64;

export class SkipRanges {
  private readonly starts: Float64Array;
  private readonly ends: Float64Array;
  private head = 0;
  size = 0;
  /** Runs of garbage not recorded because the ring was full (sent as they are). */
  overflowed = 0;
  /** Garbage bytes recorded (and so left out) so far. */
  total = 0;

  constructor(capacity = DEFAULT_CAPACITY) {
    this.starts = new Float64Array(capacity);
    this.ends = new Float64Array(capacity);
  }

  get capacity(): number {
    return this.starts.length;
  }

  /** Records `length` bytes at stream `offset` (ranges come in stream order); false if the ring was full. */
  add(offset: number, length: number): boolean {
    if (length <= 0) return true;
    if (this.size > 0) {
      const last = this.slot(this.size - 1);
      if (this.ends[last] === offset) {
        this.ends[last] = offset + length;
        this.total += length;
        return true;
      }
    }
    if (this.size === this.starts.length) {
      this.overflowed++;
      return false;
    }
    const i = this.slot(this.size++);
    this.starts[i] = offset;
    this.ends[i] = offset + length;
    this.total += length;
    return true;
  }

  /** Forgets ranges wholly below `offset` (every destination is past them). */
  releaseBelow(offset: number): void {
    while (this.size > 0 && this.ends[this.head]! <= offset) {
      this.head = (this.head + 1) % this.starts.length;
      this.size--;
    }
  }

  /**
   * The offset reached from `position` after `bytes` bytes that are not garbage, passing over any
   * garbage on the way, including a range that starts right where they end.
   */
  advance(position: number, bytes: number): number {
    let pos = position;
    let left = bytes;
    for (let k = 0; k < this.size; k++) {
      const i = this.slot(k);
      const start = this.starts[i]!;
      const end = this.ends[i]!;
      if (end <= pos) continue;
      if (start > pos + left) break;
      left -= Math.max(0, start - pos);
      pos = end;
    }
    return pos + left;
  }

  /** Bytes that are not garbage in [from, to). */
  cleanBytes(from: number, to: number): number {
    let n = to - from;
    for (let k = 0; k < this.size; k++) {
      const i = this.slot(k);
      const start = Math.max(from, this.starts[i]!);
      const end = Math.min(to, this.ends[i]!);
      if (end > start) n -= end - start;
    }
    return n;
  }

  /** The first range ending after `position`: its start, or Infinity if none. */
  nextStartAfter(position: number): number {
    for (let k = 0; k < this.size; k++) {
      const i = this.slot(k);
      if (this.ends[i]! > position) return this.starts[i]!;
    }
    return Infinity;
  }

  /** The end of the range containing `position`, or `position` itself if it is not garbage. */
  skipFrom(position: number): number {
    for (let k = 0; k < this.size; k++) {
      const i = this.slot(k);
      if (this.starts[i]! > position) break;
      if (this.ends[i]! > position) return this.ends[i]!;
    }
    return position;
  }

  private slot(k: number): number {
    return (this.head + k) % this.starts.length;
  }
}
