/**
 * The speaker's decoded-ahead audio: PCM already in the output format, in
 * one ring. Offsets are absolute (bytes written since the speaker started),
 * so a track's part of it is a fixed range. Tracks are written one after the
 * other by the loader and read from the front by the stream; the newest part
 * can be taken back (a queued track dropped from the buffer) and the oldest
 * skipped (the playing track cancelled).
 *
 * Copies go through Buffer.copy with offsets: reading and writing allocate nothing.
 *
 * @example
 * ```ts
 * const fifo = new PcmFifo(1 << 20);
 * fifo.write(block);                    // block.length <= fifo.free
 * const n = fifo.read(target, 0, 4096); // from the front
 * ```
 */
export class PcmFifo {
  private readonly data: Buffer;
  /** Offset of the oldest byte held (the next to read). */
  readOffset = 0;
  /** One past the newest byte held. */
  writeOffset = 0;

  /** `startOffset`: where its offsets begin, so a fifo that replaces an emptied one continues them. */
  constructor(
    readonly capacity: number,
    startOffset = 0,
  ) {
    this.data = Buffer.alloc(capacity);
    this.readOffset = this.writeOffset = startOffset;
  }

  get held(): number {
    return this.writeOffset - this.readOffset;
  }

  get free(): number {
    return this.capacity - this.held;
  }

  /** Appends `bytes` (at most `free`). */
  write(bytes: Uint8Array): void {
    if (bytes.length > this.free) throw new RangeError(`pcm fifo: ${bytes.length} bytes do not fit in ${this.free}`);
    const position = this.writeOffset % this.capacity;
    const first = Math.min(bytes.length, this.capacity - position);
    this.data.set(first === bytes.length ? bytes : bytes.subarray(0, first), position);
    if (first < bytes.length) this.data.set(bytes.subarray(first), 0);
    this.writeOffset += bytes.length;
  }

  /** Moves up to `length` bytes from the front, but not past `limit`, into `target[at..]`; returns the count. */
  read(target: Uint8Array, at: number, length: number, limit = this.writeOffset): number {
    const n = Math.max(0, Math.min(length, Math.min(limit, this.writeOffset) - this.readOffset));
    if (n === 0) return 0;
    const position = this.readOffset % this.capacity;
    const first = Math.min(n, this.capacity - position);
    this.data.copy(target, at, position, position + first);
    if (first < n) this.data.copy(target, at + first, 0, n - first);
    this.readOffset += n;
    return n;
  }

  /** Drops everything from `offset` on (the newest bytes). */
  truncate(offset: number): void {
    this.writeOffset = Math.max(this.readOffset, Math.min(this.writeOffset, offset));
  }

  /** Drops everything before `offset` (the oldest bytes). */
  skip(offset: number): void {
    this.readOffset = Math.min(this.writeOffset, Math.max(this.readOffset, offset));
  }
}
