/**
 * One live channel's buffer, shared by every job playing it: the source writes once, and each job
 * reads through a cursor of its own (no queue or copy per job beyond its own read-ahead). The ring
 * never blocks the source: a reader that falls a whole ring behind skips to the oldest byte still
 * held, and the skipped bytes are counted on that reader only.
 *
 * Offsets are absolute stream offsets on the channel: they keep counting across sources, so a job
 * goes on reading where it was after a drop and a reconnect.
 *
 * @example
 * ```ts
 * const ring = new LiveRing(8 << 20);
 * const reader = ring.reader();   // starts at the live edge
 * ring.write(chunk);
 * reader.read(target, 0, 65536);
 * ```
 */
export class LiveRing {
  readonly #bytes: Uint8Array;
  /** Bytes ever written: the offset of the next byte to arrive. */
  written = 0;
  readonly #readers = new Set<RingReader>();

  constructor(capacity: number) {
    this.#bytes = new Uint8Array(capacity);
  }

  get capacity(): number {
    return this.#bytes.length;
  }

  /** Offset of the oldest byte still held. */
  get oldest(): number {
    return Math.max(0, this.written - this.#bytes.length);
  }

  get readerCount(): number {
    return this.#readers.size;
  }

  /** Appends `chunk` (the newest bytes win when a chunk is larger than the ring) and wakes the readers. */
  write(chunk: Uint8Array): void {
    const capacity = this.#bytes.length;
    let data = chunk;
    if (data.length > capacity) {
      this.written += data.length - capacity;
      data = data.subarray(data.length - capacity);
    }
    const at = this.written % capacity;
    const first = Math.min(data.length, capacity - at);
    this.#bytes.set(first === data.length ? data : data.subarray(0, first), at);
    if (first < data.length) this.#bytes.set(data.subarray(first), 0);
    this.written += data.length;
    for (const reader of this.#readers) reader.onData?.();
  }

  /** A cursor at the live edge, or at stream offset `from` (the oldest byte held, if that is gone). */
  reader(from = this.written): RingReader {
    const reader = new RingReader(this, Math.max(this.oldest, Math.min(from, this.written)));
    this.#readers.add(reader);
    return reader;
  }

  /** @internal Copies [from, from+length) into target[at..]; the caller has checked the range is held. */
  copyOut(from: number, target: Uint8Array, at: number, length: number): void {
    const capacity = this.#bytes.length;
    const start = from % capacity;
    const first = Math.min(length, capacity - start);
    target.set(this.#bytes.subarray(start, start + first), at);
    if (first < length) target.set(this.#bytes.subarray(0, length - first), at + first);
  }

  /** @internal */
  detach(reader: RingReader): void {
    this.#readers.delete(reader);
  }
}

/** One job's cursor into a LiveRing. */
export class RingReader {
  /** Bytes the ring overwrote before this reader got to them. */
  skippedBytes = 0;
  /** Reads stop at this stream offset until it is lifted (a live job looking at a new source first). */
  until = Infinity;
  /** Called after every write to the ring. */
  onData: (() => void) | null = null;

  constructor(
    private readonly ring: LiveRing,
    /** Absolute offset of the next byte to read. */
    public position: number,
  ) {}

  /** Bytes written and not yet read (after any skip). */
  get available(): number {
    return Math.max(0, Math.min(this.ring.written, this.until) - Math.max(this.position, this.ring.oldest));
  }

  /** Moves up to `length` bytes into `target[at..]`; returns the count. */
  read(target: Uint8Array, at: number, length: number): number {
    const oldest = this.ring.oldest;
    if (this.position < oldest) {
      this.skippedBytes += oldest - this.position;
      this.position = oldest;
    }
    const n = Math.min(length, Math.min(this.ring.written, this.until) - this.position);
    if (n <= 0) return 0;
    this.ring.copyOut(this.position, target, at, n);
    this.position += n;
    return n;
  }

  /** A copy of the next `n` bytes held (fewer if fewer are), for probing only. */
  copyAhead(n: number): Uint8Array {
    const from = Math.max(this.position, this.ring.oldest);
    const out = new Uint8Array(Math.max(0, Math.min(n, this.ring.written - from)));
    this.ring.copyOut(from, out, 0, out.length);
    return out;
  }

  close(): void {
    this.onData = null;
    this.ring.detach(this);
  }
}
