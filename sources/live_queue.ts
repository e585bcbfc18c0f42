/**
 * The bytes a live input has received and nobody has read yet: one ring, allocated once, that
 * the network side fills and the job or the recorder empties. A full ring refuses what does not
 * fit and counts it (an input is never allowed to grow memory without bound).
 *
 * @example
 * ```ts
 * const queue = new LiveQueue(8 << 20);
 * queue.push(datagram);            // false (and counted) when it does not fit
 * queue.read(target, 0, 65536);    // bytes in arrival order
 * ```
 */
export class LiveQueue {
  private readonly ring: Uint8Array;
  private head = 0;
  private size = 0;
  /** Bytes refused because the ring was full. */
  overflowBytes = 0;
  /** Everything ever pushed and kept: the stream offset of the next byte to arrive. */
  received = 0;
  private waiters: (() => void)[] = [];

  constructor(capacity: number) {
    this.ring = new Uint8Array(capacity);
  }

  get length(): number {
    return this.size;
  }

  /** Bytes that fit now. */
  get room(): number {
    return this.ring.length - this.size;
  }

  /** Appends `bytes` whole, or nothing (counted) when they do not fit. */
  push(bytes: Uint8Array): boolean {
    const n = bytes.length;
    const capacity = this.ring.length;
    if (this.size + n > capacity) {
      this.overflowBytes += n;
      return false;
    }
    const tail = (this.head + this.size) % capacity;
    const first = Math.min(n, capacity - tail);
    this.ring.set(first === n ? bytes : bytes.subarray(0, first), tail);
    if (first < n) this.ring.set(bytes.subarray(first), 0);
    this.size += n;
    this.received += n;
    return true;
  }

  /** Moves up to `length` bytes into `target[at..]`; returns the count. */
  read(target: Uint8Array, at: number, length: number): number {
    const capacity = this.ring.length;
    let copied = 0;
    while (copied < length && this.size > 0) {
      const n = Math.min(length - copied, this.size, capacity - this.head);
      target.set(this.ring.subarray(this.head, this.head + n), at + copied);
      copied += n;
      this.head = (this.head + n) % capacity;
      this.size -= n;
    }
    return copied;
  }

  /** A copy of the first `n` queued bytes (fewer if fewer are queued); for probing only. */
  copyHead(n: number): Uint8Array {
    const out = new Uint8Array(Math.min(n, this.size));
    const capacity = this.ring.length;
    const first = Math.min(out.length, capacity - this.head);
    out.set(this.ring.subarray(this.head, this.head + first), 0);
    if (first < out.length) out.set(this.ring.subarray(0, out.length - first), first);
    return out;
  }

  /** Resolves at the next push (or `wake`). */
  waitForMore(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Wakes whoever waits for more. */
  wake(): void {
    if (this.waiters.length === 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
