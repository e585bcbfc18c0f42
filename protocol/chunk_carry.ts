/**
 * The bytes a streaming scanner holds back between chunks: a TS packet or
 * PS header split across two loads is joined with the next chunk (one copy
 * per chunk boundary, never per packet).
 *
 * @example
 * ```ts
 * let carry = NO_CARRY;
 * const buf = withCarry(carry, chunk);
 * carry = carryFrom(buf, keep); // keep: where unfinished bytes start
 * ```
 */
export const NO_CARRY = new Uint8Array(0);

/** `chunk` preceded by the carried bytes (the chunk itself when nothing is carried). */
export function withCarry(carry: Uint8Array, chunk: Uint8Array): Uint8Array {
  if (carry.length === 0) return chunk;
  const joined = new Uint8Array(carry.length + chunk.length);
  joined.set(carry, 0);
  joined.set(chunk, carry.length);
  return joined;
}

/** A copy of `buf[keep..]` to carry into the next chunk (the caller's chunk may be reused). */
export function carryFrom(buf: Uint8Array, keep: number): Uint8Array {
  return keep < buf.length ? buf.slice(keep) : NO_CARRY;
}
