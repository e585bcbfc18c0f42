/**
 * The bytes a streaming scanner holds back between chunks: a TS packet not yet
 * confirmed by the next one's sync byte, or a PS header split across two loads,
 * is joined with the start of the next chunk.
 *
 * Only the seam is joined: the bytes held and the chunk's first SEAM_BYTES. A
 * scanner never leaves that many undecided, so the scan passes the seam inside
 * the join and reads on in the chunk itself. Joining whole chunks had copied
 * every 128 KiB load (a TS scanner holds its last packet back at every load).
 *
 * Nothing is allocated per chunk. The join goes into one scratch buffer
 * shared by every scanner in the process (500 streams at 1.5 Mbit/s load
 * ~700 chunks of 128 KiB a second; a fresh buffer for each cost ~5 % of the
 * server's CPU in page faults and copies). The bytes held go into the
 * carry's own small buffer, and both copies are native ones between whole
 * buffers (foundation/copy_bytes.ts), not through `subarray` views: a view is an object, and a
 * thousand jobs' loads made enough of them that the collector came for them
 * every second, pausing every stream (docs/scale.md). Sharing the scratch
 * is safe because a scan is synchronous and its callbacks never keep the
 * buffer: what must stay is copied out, and the scratch is given back even
 * when the scan throws. A scan nested in another's callback, finding the
 * scratch out, gets a buffer of its own.
 *
 * @example
 * ```ts
 * const carry = new Carry();
 * carry.scan(chunk, 0, chunk.length, (buf, from, end, pushed) => keepFrom(buf, from, end)); // where unfinished bytes start
 * carry.length; // bytes held for the next chunk
 * ```
 */

import { copyBytes } from "../foundation/copy_bytes.ts";

/**
 * A scan of buf[from, end), whose byte `from` is byte `pushed` of the push (the bytes held
 * counted first): returns the index (from to end) from which bytes must wait for more input.
 */
export type CarryScan = (buf: Uint8Array, from: number, end: number, pushed: number) => number;

/** Chunk bytes joined to those held: more than any scanner leaves undecided (three M2TS packets and a byte, a PS pack header). */
const SEAM_BYTES = 2048;
/** Room the scratch buffer is given beyond a join: more than any scanner carries (a PS pack header, three TS packets). */
const SCRATCH_ROOM = 4096;
let scratch = new Uint8Array(0);
let scratchOut = false;

export class Carry {
  private bytes = new Uint8Array(0);
  /** Bytes held back: the first `length` of `held`. */
  length = 0;

  /** The buffer whose first `length` bytes are held (valid until the next scan). */
  get held(): Uint8Array {
    return this.bytes;
  }

  clear(): void {
    this.length = 0;
  }

  /** Lets the first `n` bytes held go, keeping the rest. */
  drop(n: number): void {
    this.bytes.copyWithin(0, n, this.length);
    this.length -= n;
  }

  /** Runs `scan` over the bytes held followed by chunk[start, end), and holds what it leaves. */
  scan(chunk: Uint8Array, start: number, end: number, scan: CarryScan): void {
    let from = start;
    let pushed = 0;
    while (this.length > 0 && from < end) {
      const held = this.length;
      const taken = Math.min(end - from, SEAM_BYTES);
      const joined = this.join(chunk, from, taken);
      let keep: number;
      try {
        keep = scan(joined, 0, held + taken, pushed);
      } finally {
        if (joined === scratch) scratchOut = false;
      }
      pushed += keep;
      if (keep >= held && from + taken < end) {
        // Past the seam: the rest of the chunk is read where it lies.
        from += keep - held;
        this.length = 0;
      } else {
        this.hold(joined, keep, held + taken);
        from += taken;
      }
    }
    if (from < end) this.hold(chunk, scan(chunk, from, end, pushed), end);
  }

  /** The bytes held followed by chunk[from, from + taken), in the shared scratch (now out) when it is free. */
  private join(chunk: Uint8Array, from: number, taken: number): Uint8Array {
    const held = this.length;
    const need = held + taken;
    const borrow = !scratchOut;
    if (borrow && scratch.length < need) scratch = new Uint8Array(need + SCRATCH_ROOM);
    const joined = borrow ? scratch : new Uint8Array(need);
    copyBytes(this.bytes, 0, joined, 0, held);
    copyBytes(chunk, from, joined, held, taken);
    scratchOut ||= borrow;
    return joined;
  }

  private hold(buf: Uint8Array, from: number, end: number): void {
    const n = end - from;
    if (n > this.bytes.length) this.bytes = new Uint8Array(Math.max(n, 2 * this.bytes.length));
    if (n > 0) copyBytes(buf, from, this.bytes, 0, n);
    this.length = n;
  }
}
