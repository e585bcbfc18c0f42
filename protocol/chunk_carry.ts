/**
 * The bytes a streaming scanner holds back between chunks: a TS packet or
 * PS header split across two loads is joined with the next chunk.
 *
 * The join goes into one scratch buffer shared by every scanner in the
 * process, so a load allocates nothing chunk-sized (500 streams at
 * 1.5 Mbit/s load ~700 chunks of 128 KiB a second; a fresh buffer for each
 * cost ~5 % of the server's CPU in page faults and copies). Sharing is safe
 * because a scan is synchronous and its callbacks never keep the buffer:
 * `carryFrom` copies what must stay and gives the scratch back (scanners
 * call it in a `finally`, so a scan that throws gives it back too). Should a
 * second join come while the scratch is out (a scan nested in another's
 * callback), it simply gets a buffer of its own.
 *
 * @example
 * ```ts
 * let carry = NO_CARRY;
 * const buf = withCarry(carry, chunk);
 * carry = carryFrom(buf, keep); // keep: where unfinished bytes start
 * ```
 */
export const NO_CARRY = new Uint8Array(0);

let scratch = new Uint8Array(0);
/** The view of the scratch handed out by withCarry, until carryFrom takes it back. */
let handedOut: Uint8Array | null = null;

/** `chunk` preceded by the carried bytes (the chunk itself when nothing is carried). */
export function withCarry(carry: Uint8Array, chunk: Uint8Array): Uint8Array {
  if (carry.length === 0) return chunk;
  const need = carry.length + chunk.length;
  let joined: Uint8Array;
  if (handedOut) {
    joined = new Uint8Array(need);
  } else {
    if (scratch.length < need) scratch = new Uint8Array(need);
    joined = handedOut = scratch.length === need ? scratch : scratch.subarray(0, need);
  }
  joined.set(carry, 0);
  joined.set(chunk, carry.length);
  return joined;
}

/**
 * A copy of `buf[keep..]` to carry into the next chunk (the caller's chunk
 * may be reused); hands the scratch back if `buf` was it.
 */
export function carryFrom(buf: Uint8Array, keep: number): Uint8Array {
  const carry = keep < buf.length ? buf.slice(keep) : NO_CARRY;
  if (buf === handedOut) handedOut = null;
  return carry;
}
