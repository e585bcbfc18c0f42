/**
 * Copies bytes between typed arrays without making views: Buffer's native copy takes any
 * Uint8Array (a SharedArrayBuffer's too), where `set` with a `subarray` makes an object each
 * call, garbage on a per-load or per-block path (docs/scale.md).
 *
 * @example
 * ```ts
 * copyBytes(chunk, 40, carry, 0, 148); // carry[0, 148) = chunk[40, 188)
 * ```
 */
const nativeCopy = Buffer.prototype.copy as (this: Uint8Array, target: Uint8Array, targetStart: number, sourceStart: number, sourceEnd: number) => number;

/** Copies src[srcAt, srcAt + length) to dst at dstAt. */
export function copyBytes(src: Uint8Array, srcAt: number, dst: Uint8Array, dstAt: number, length: number): void {
  nativeCopy.call(src, dst, dstAt, srcAt, srcAt + length);
}
