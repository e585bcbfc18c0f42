/**
 * The bytes a streaming scanner holds back between chunks: a TS packet or
 * PS header split across two loads is joined with the next chunk.
 *
 * The join goes into one scratch buffer shared by every scanner in the
 * process, so a load allocates nothing chunk-sized (500 streams at
 * 1.5 Mbit/s load ~700 chunks of 128 KiB a second; a fresh buffer for each
 * cost ~5 % of the server's CPU in page faults and copies). Sharing is safe
 * because a scan is synchronous and its callbacks never keep the buffer:
 * what must stay is copied out, and the scratch is given back even when the
 * scan throws. A scan nested in another's callback, finding the scratch
 * out, gets a buffer of its own.
 *
 * @example
 * ```ts
 * let carry = NO_CARRY;
 * carry = scanWithCarry(carry, chunk, (buf) => keepFrom(buf)); // keep: where unfinished bytes start
 * ```
 */
export const NO_CARRY = new Uint8Array(0);

let scratch = new Uint8Array(0);
let scratchOut = false;

/**
 * Runs `scan` over `chunk` preceded by the carried bytes; `scan` returns the index in its buffer
 * from which bytes must wait for more input. Returns a copy of those bytes: the next carry.
 */
export function scanWithCarry(carry: Uint8Array, chunk: Uint8Array, scan: (buf: Uint8Array) => number): Uint8Array {
  if (carry.length === 0) return tail(chunk, scan(chunk));
  const need = carry.length + chunk.length;
  const borrow = !scratchOut;
  if (borrow && scratch.length < need) scratch = new Uint8Array(need);
  const joined = borrow ? scratch.subarray(0, need) : new Uint8Array(need);
  joined.set(carry, 0);
  joined.set(chunk, carry.length);
  scratchOut ||= borrow;
  let keep = need;
  try {
    keep = scan(joined);
  } finally {
    if (borrow) scratchOut = false;
  }
  return tail(joined, keep);
}

/** A copy of `buf[keep..]` (the caller's buffer may be reused). */
function tail(buf: Uint8Array, keep: number): Uint8Array {
  return keep < buf.length ? buf.slice(keep) : NO_CARRY;
}
