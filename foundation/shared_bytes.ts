/**
 * A ring of a stream's bytes in shared memory, which another thread (a sender thread) may read in
 * place: so media crosses threads without a copy. The writer (a job's load events, through
 * pipeline/read_ahead.ts) publishes the lowest stream offset it still holds before it reuses the
 * bytes below it. A reader copies what it needs (into its socket's batch) and then checks that
 * offset: a check that passes means the writer had not reused those bytes while they were copied,
 * so the copy is whole; one that fails means the reader fell that far behind, and the copy is not
 * to be sent. Offsets are compared modulo 2^32, which is far more than any ring's window.
 *
 * Ordering: the writer's Atomics.store comes before its reuse, and the reader's Atomics.load after
 * its copy. That is enough on x86-64, where loads are not reordered with loads; on arm64 a copy's
 * last loads could in principle pass the check, which would send a torn datagram, never touch
 * memory out of bounds.
 *
 * @example
 * ```ts
 * const shared = new SharedBytes(192 * 1024);     // the writer's side
 * shared.releaseBelow(4096);                      // bytes below stream offset 4096 may be reused
 * const seen = new SharedBytes(shared.buffer);    // another thread's view of the same memory
 * seen.copyOut(position, length, batch, at);
 * if (!seen.holds(offset)) dropIt();
 * ```
 */
const CONTROL_BYTES = 64;
/** Index of the lowest held stream offset (mod 2^32) in the control words. */
const HELD_FROM = 0;

export class SharedBytes {
  readonly buffer: SharedArrayBuffer;
  /** The ring's bytes. */
  readonly data: Buffer;
  readonly capacity: number;
  private readonly control: Int32Array;

  /** A new ring of `capacity` bytes, or another thread's view of an existing one's buffer. */
  constructor(capacityOrBuffer: number | SharedArrayBuffer) {
    this.buffer = typeof capacityOrBuffer === "number" ? new SharedArrayBuffer(CONTROL_BYTES + capacityOrBuffer) : capacityOrBuffer;
    this.capacity = this.buffer.byteLength - CONTROL_BYTES;
    this.control = new Int32Array(this.buffer, 0, CONTROL_BYTES / 4);
    this.data = Buffer.from(this.buffer, CONTROL_BYTES, this.capacity);
  }

  /** The writer: bytes below stream offset `offset` may be reused from now on. */
  releaseBelow(offset: number): void {
    Atomics.store(this.control, HELD_FROM, offset | 0);
  }

  /** Copies `length` bytes from `position` in the ring (on over its end to its start) into `target` at `at`. */
  copyOut(position: number, length: number, target: Uint8Array, at: number): void {
    const first = Math.min(length, this.capacity - position);
    this.data.copy(target, at, position, position + first);
    if (first < length) this.data.copy(target, at + first, 0, length - first);
  }

  /** A reader: true while the bytes from stream offset `offset` (taken mod 2^32) on are still held. */
  holds(offset: number): boolean {
    return ((offset - Atomics.load(this.control, HELD_FROM)) | 0) >= 0;
  }
}
