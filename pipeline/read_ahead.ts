/**
 * The read-ahead buffer a job's load events fill and its destinations read
 * from. Offsets are absolute stream byte offsets, which only grow (across
 * `--loop` too); the buffer keeps the window [start, end) in a ring.
 * Destinations of one job share it, so N destinations cost one copy of the
 * data, not N.
 *
 * Copies go through Buffer.copy with offsets, so reading a unit allocates
 * nothing (a subarray per packet would).
 *
 * @example
 * ```ts
 * const ring = new ReadAheadBuffer(1024);
 * const [position] = ring.writableRegion();
 * ring.commit(ring.data.write("hello", position));
 * const out = Buffer.alloc(5);
 * ring.copyOut(0, out, 0, 5); // "hello"
 * ```
 */
export class ReadAheadBuffer {
  readonly data: Buffer;
  /** Lowest offset still held. */
  start = 0;
  /** One past the last loaded offset. */
  end = 0;

  constructor(readonly capacity: number) {
    this.data = Buffer.alloc(capacity);
  }

  get free(): number {
    return this.capacity - (this.end - this.start);
  }

  /** Bytes loaded at or after `offset`. */
  available(offset: number): number {
    return this.end - offset;
  }

  /** The longest contiguous free region, as [position, length] in `data`. */
  writableRegion(): [number, number] {
    const position = this.end % this.capacity;
    return [position, Math.min(this.free, this.capacity - position)];
  }

  /** Records `n` bytes written at the writable region. */
  commit(n: number): void {
    this.end += n;
  }

  /** Drops everything below `offset`: no destination needs it any more. */
  release(offset: number): void {
    if (offset > this.start) this.start = Math.min(offset, this.end);
  }

  /** Copies `length` bytes at stream offset `offset` into `target[at..]`. */
  copyOut(offset: number, target: Uint8Array, at: number, length: number): void {
    if (offset < this.start || offset + length > this.end) {
      throw new RangeError(`read-ahead: [${offset}, ${offset + length}) is outside [${this.start}, ${this.end})`);
    }
    const position = offset % this.capacity;
    const first = Math.min(length, this.capacity - position);
    this.data.copy(target, at, position, position + first);
    if (first < length) this.data.copy(target, at + first, 0, length - first);
  }
}
