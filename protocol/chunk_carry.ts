/**
 * The bytes a streaming scanner holds back between chunks: a TS packet or
 * PS header split across two loads is joined with the next chunk.
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
 * carry.scan(chunk, 0, chunk.length, (buf, from, end) => keepFrom(buf, from, end)); // where unfinished bytes start
 * carry.length; // bytes held for the next chunk
 * ```
 */

import { copyBytes } from "../foundation/copy_bytes.ts";

/** A scan of buf[from, end): returns the index (from to end) from which bytes must wait for more input. */
export type CarryScan = (buf: Uint8Array, from: number, end: number) => number;

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

  /** Runs `scan` over the bytes held followed by chunk[start, end), and holds what it leaves. */
  scan(chunk: Uint8Array, start: number, end: number, scan: CarryScan): void {
    const held = this.length;
    if (held === 0) return this.hold(chunk, scan(chunk, start, end), end);
    const need = held + end - start;
    const borrow = !scratchOut;
    // Grown with room: each load's carry differs by a few bytes, and a scratch of exactly the
    // largest join so far was outgrown, and replaced, at each new largest carry.
    if (borrow && scratch.length < need) scratch = new Uint8Array(need + SCRATCH_ROOM);
    const joined = borrow ? scratch : new Uint8Array(need);
    copyBytes(this.bytes, 0, joined, 0, held);
    copyBytes(chunk, start, joined, held, end - start);
    scratchOut ||= borrow;
    let keep = need;
    try {
      keep = scan(joined, 0, need);
    } finally {
      if (borrow) scratchOut = false;
    }
    this.hold(joined, keep, need);
  }

  private hold(buf: Uint8Array, from: number, end: number): void {
    const n = end - from;
    if (n > this.bytes.length) this.bytes = new Uint8Array(Math.max(n, 2 * this.bytes.length));
    if (n > 0) copyBytes(buf, from, this.bytes, 0, n);
    this.length = n;
  }
}
