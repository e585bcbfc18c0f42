/**
 * PCM samples ↔ Float32, and bit-exact integer ↔ integer re-encoding.
 *
 * Float samples are **interleaved** (frame by frame, like the bytes) and scaled so
 * that an integer full scale of 2^(bits-1) maps to 1.0: s16 −32768 → −1.0, 32767 →
 * 0.99997. That makes every integer of up to 24 bits exact in a Float32, so decode →
 * encode at the same width gives back the same bytes.
 *
 * Every function writes into caller-provided buffers and allocates nothing. Byte
 * loops read and write integers one byte at a time, so input at any byte offset
 * works. f32le is copied byte for byte under a Float32Array, which assumes a
 * little-endian host (every platform Bun runs on).
 *
 * @example
 * ```ts
 * const floats = new Float32Array(1024);
 * const n = decodeSamples("s16le", bytes, floats);   // samples decoded
 * const out = new Uint8Array(n * 3);
 * encodeSamples("s24le", floats, n, out, null);      // no dither needed to widen
 * ```
 */
import { bitsPerSample, bytesPerSample, type Encoding } from "../protocol/sample_format.ts";
import type { TpdfDither } from "./dither.ts";
import { copyBytes } from "../foundation/copy_bytes.ts";

const S8_SCALE = 1 / 128;
const S16_SCALE = 1 / 32768;
const S24_SCALE = 1 / 8388608;
const S32_SCALE = 1 / 2147483648;
/** u8 and s8 differ only in the top bit (offset binary vs two's complement). */
const SIGN_FLIP_8 = 0x80;
/**
 * The largest float sample magnitude decoded: 2^16, 96 dB over full scale, far past any real
 * over. Beyond it (and ±Infinity) is clamped, NaN is silence, so the mixer's and resampler's sums
 * stay finite: one NaN or Infinity in a float file came out of a resample as NaN/Infinity over
 * the filter's length, and a huge value as Infinity.
 */
export const FLOAT_SAMPLE_LIMIT = 65536;

/** Byte views of float buffers, made once per buffer so hot paths allocate nothing. */
const byteViews = new WeakMap<ArrayBufferLike, Uint8Array>();

function bytesOf(f: Float32Array): Uint8Array {
  let view = byteViews.get(f.buffer);
  if (view === undefined) {
    view = new Uint8Array(f.buffer);
    byteViews.set(f.buffer, view);
  }
  return view;
}

/** True for integer encodings (everything but f32le). */
export function isIntegerEncoding(e: Encoding): boolean {
  return e !== "f32le";
}

/**
 * Whether every integer sample of `bytes` has only zeros below its top `keepBytes` bytes: audio
 * of that width in wider containers (24-bit in 32, 16-bit stored as 24), which narrows to it
 * exactly. False for f32le. Allocates nothing; stops at the first sample that does not.
 */
export function onlyTopBytesUsed(encoding: Encoding, bytes: Uint8Array, keepBytes: number): boolean {
  if (!isIntegerEncoding(encoding)) return false;
  const size = bytesPerSample(encoding);
  const dropped = size - keepBytes;
  if (dropped <= 0) return true;
  // Little-endian samples hold their low bytes first; s16be and s24be last.
  const from = encoding.endsWith("be") ? keepBytes : 0;
  for (let at = 0; at + size <= bytes.length; at += size) {
    for (let b = from; b < from + dropped; b++) if (bytes[at + b] !== 0) return false;
  }
  return true;
}

/**
 * Decodes whole samples of `bytes` into `out` (interleaved floats); returns the
 * number of samples. `out` must hold `bytes.length / bytesPerSample(encoding)`.
 * f32le NaN decodes as 0 and magnitudes past {@link FLOAT_SAMPLE_LIMIT} (±Infinity too) as ±that.
 */
export function decodeSamples(encoding: Encoding, bytes: Uint8Array, out: Float32Array): number {
  const n = Math.floor(bytes.length / bytesPerSample(encoding));
  switch (encoding) {
    case "s8":
      for (let i = 0; i < n; i++) out[i] = ((bytes[i] << 24) >> 24) * S8_SCALE;
      break;
    case "u8":
      for (let i = 0; i < n; i++) out[i] = (bytes[i] - SIGN_FLIP_8) * S8_SCALE;
      break;
    case "s16le":
      for (let i = 0, j = 0; i < n; i++, j += 2) out[i] = (((bytes[j + 1] << 24) >> 16) | bytes[j]) * S16_SCALE;
      break;
    case "s16be":
      for (let i = 0, j = 0; i < n; i++, j += 2) out[i] = (((bytes[j] << 24) >> 16) | bytes[j + 1]) * S16_SCALE;
      break;
    case "s24le":
      for (let i = 0, j = 0; i < n; i++, j += 3) {
        out[i] = (((bytes[j + 2] << 24) >> 8) | (bytes[j + 1] << 8) | bytes[j]) * S24_SCALE;
      }
      break;
    case "s24be":
      for (let i = 0, j = 0; i < n; i++, j += 3) {
        out[i] = (((bytes[j] << 24) >> 8) | (bytes[j + 1] << 8) | bytes[j + 2]) * S24_SCALE;
      }
      break;
    case "s32le":
      for (let i = 0, j = 0; i < n; i++, j += 4) {
        out[i] = ((bytes[j + 3] << 24) | (bytes[j + 2] << 16) | (bytes[j + 1] << 8) | bytes[j]) * S32_SCALE;
      }
      break;
    case "f32le":
      // Copy the bytes under the floats: works at any input alignment (little-endian host).
      copyBytes(bytes, 0, bytesOf(out), out.byteOffset, 4 * n);
      for (let i = 0; i < n; i++) {
        const x = out[i];
        // false for NaN too, which compares false both ways and becomes 0
        if (!(x <= FLOAT_SAMPLE_LIMIT && x >= -FLOAT_SAMPLE_LIMIT)) out[i] = x > 0 ? FLOAT_SAMPLE_LIMIT : x < 0 ? -FLOAT_SAMPLE_LIMIT : 0;
      }
      break;
  }
  return n;
}

/** Rounds `x · scale` (plus dither, in LSBs) to an integer clamped to [lo, hi]. */
function quantize(x: number, scale: number, lo: number, hi: number, dither: TpdfDither | null): number {
  // floor(v + 0.5), not Math.round: same result here, and ~4× faster in JavaScriptCore (measured).
  const v = Math.floor(dither === null ? x * scale + 0.5 : x * scale + dither.next() + 0.5);
  return v < lo ? lo : v > hi ? hi : v;
}

/**
 * Encodes `count` interleaved floats into `out` (which must hold
 * `count · bytesPerSample(encoding)` bytes). Integer targets round to nearest and
 * clip at full scale; pass a dither to add TPDF noise before rounding. f32le output
 * is not clipped (floats can carry overs).
 */
export function encodeSamples(
  encoding: Encoding,
  input: Float32Array,
  count: number,
  out: Uint8Array,
  dither: TpdfDither | null,
): void {
  switch (encoding) {
    case "s8":
      for (let i = 0; i < count; i++) out[i] = quantize(input[i], 128, -128, 127, dither);
      break;
    case "u8":
      for (let i = 0; i < count; i++) out[i] = quantize(input[i], 128, -128, 127, dither) + SIGN_FLIP_8;
      break;
    case "s16le":
      for (let i = 0, j = 0; i < count; i++, j += 2) {
        const v = quantize(input[i], 32768, -32768, 32767, dither);
        out[j] = v;
        out[j + 1] = v >> 8;
      }
      break;
    case "s16be":
      for (let i = 0, j = 0; i < count; i++, j += 2) {
        const v = quantize(input[i], 32768, -32768, 32767, dither);
        out[j] = v >> 8;
        out[j + 1] = v;
      }
      break;
    case "s24le":
      for (let i = 0, j = 0; i < count; i++, j += 3) {
        const v = quantize(input[i], 8388608, -8388608, 8388607, dither);
        out[j] = v;
        out[j + 1] = v >> 8;
        out[j + 2] = v >> 16;
      }
      break;
    case "s24be":
      for (let i = 0, j = 0; i < count; i++, j += 3) {
        const v = quantize(input[i], 8388608, -8388608, 8388607, dither);
        out[j] = v >> 16;
        out[j + 1] = v >> 8;
        out[j + 2] = v;
      }
      break;
    case "s32le":
      for (let i = 0, j = 0; i < count; i++, j += 4) {
        const v = quantize(input[i], 2147483648, -2147483648, 2147483647, dither);
        out[j] = v;
        out[j + 1] = v >> 8;
        out[j + 2] = v >> 16;
        out[j + 3] = v >> 24;
      }
      break;
    case "f32le":
      copyBytes(bytesOf(input), input.byteOffset, out, 0, 4 * count);
      break;
  }
}

/**
 * True when integer `from` → integer `to` loses nothing: same or greater width.
 * Such pairs go through {@link convertIntegerSamples}, never through floats.
 */
export function isLosslessIntegerPair(from: Encoding, to: Encoding): boolean {
  return isIntegerEncoding(from) && isIntegerEncoding(to) && bitsPerSample(to) >= bitsPerSample(from);
}

/** Reads sample `i` as a signed integer of its own width. */
function readInt(encoding: Encoding, b: Uint8Array, i: number): number {
  switch (encoding) {
    case "s8":
      return (b[i] << 24) >> 24;
    case "u8":
      return b[i] - SIGN_FLIP_8;
    case "s16le":
      return ((b[2 * i + 1] << 24) >> 16) | b[2 * i];
    case "s16be":
      return ((b[2 * i] << 24) >> 16) | b[2 * i + 1];
    case "s24le": {
      const j = 3 * i;
      return ((b[j + 2] << 24) >> 8) | (b[j + 1] << 8) | b[j];
    }
    case "s24be": {
      const j = 3 * i;
      return ((b[j] << 24) >> 8) | (b[j + 1] << 8) | b[j + 2];
    }
    default: {
      const j = 4 * i;
      return (b[j + 3] << 24) | (b[j + 2] << 16) | (b[j + 1] << 8) | b[j];
    }
  }
}

/** Writes signed integer `v` (already at the target width) as sample `i`. */
function writeInt(encoding: Encoding, b: Uint8Array, i: number, v: number): void {
  switch (encoding) {
    case "s8":
      b[i] = v;
      return;
    case "u8":
      b[i] = v + SIGN_FLIP_8;
      return;
    case "s16le":
      b[2 * i] = v;
      b[2 * i + 1] = v >> 8;
      return;
    case "s16be":
      b[2 * i] = v >> 8;
      b[2 * i + 1] = v;
      return;
    case "s24le":
      b[3 * i] = v;
      b[3 * i + 1] = v >> 8;
      b[3 * i + 2] = v >> 16;
      return;
    case "s24be":
      b[3 * i] = v >> 16;
      b[3 * i + 1] = v >> 8;
      b[3 * i + 2] = v;
      return;
    default:
      b[4 * i] = v;
      b[4 * i + 1] = v >> 8;
      b[4 * i + 2] = v >> 16;
      b[4 * i + 3] = v >> 24;
  }
}

/**
 * Bit-exact integer re-encoding for a lossless pair (see {@link isLosslessIntegerPair}):
 * byte order swaps, signedness flips (xor 0x80) and widening (a left shift). Returns
 * the number of samples written to `out`.
 *
 * @example
 * ```ts
 * convertIntegerSamples("s16le", "s16be", le, be); // pure byte swap
 * convertIntegerSamples("s16le", "s24le", s16, s24); // v << 8
 * ```
 */
export function convertIntegerSamples(from: Encoding, to: Encoding, input: Uint8Array, out: Uint8Array): number {
  if (!isLosslessIntegerPair(from, to)) {
    throw new RangeError(`${from} → ${to} loses bits; convert through floats with dither instead`);
  }
  const n = Math.floor(input.length / bytesPerSample(from));
  const pair = `${from}>${to}`;
  if (pair === "s24le>s24be" || pair === "s24be>s24le") {
    for (let j = 0; j < 3 * n; j += 3) {
      const lo = input[j];
      out[j] = input[j + 2];
      out[j + 1] = input[j + 1];
      out[j + 2] = lo;
    }
  } else if (pair === "s16le>s16be" || pair === "s16be>s16le") {
    for (let j = 0; j < 2 * n; j += 2) {
      const lo = input[j];
      out[j] = input[j + 1];
      out[j + 1] = lo;
    }
  } else if (pair === "s8>u8" || pair === "u8>s8") {
    for (let i = 0; i < n; i++) out[i] = input[i] ^ SIGN_FLIP_8;
  } else if (from === to) {
    out.set(input.subarray(0, n * bytesPerSample(from)));
  } else {
    const shift = bitsPerSample(to) - bitsPerSample(from);
    for (let i = 0; i < n; i++) writeInt(to, out, i, readInt(from, input, i) << shift);
  }
  return n;
}
