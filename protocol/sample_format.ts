/**
 * PCM sample-format descriptions, written `ENCODING:RATE:CHANNELS` (DESIGN.md),
 * for example `s16le:44100:2`.
 *
 * @example
 * ```ts
 * const f = parseSampleFormat("s16le:44100:2");
 * bytesPerFrame(f); // 4
 * formatToString(f); // "s16le:44100:2"
 * ```
 */

/**
 * The sample encodings pacer reads and writes. `s24le` and `s24be` are packed 3-byte samples
 * (`s24be` is RTP L24's wire order, RFC 3190).
 */
export const ENCODINGS = ["s8", "u8", "s16le", "s16be", "s24le", "s24be", "s32le", "f32le"] as const;
export type Encoding = (typeof ENCODINGS)[number];

export interface SampleFormat {
  readonly encoding: Encoding;
  /** Frames per second. */
  readonly rate: number;
  readonly channels: number;
}

/** Thrown for a malformed format spec; the CLI maps it to exit code 2. */
export class FormatSpecError extends Error {
  override name = "FormatSpecError";
}

const MAX_RATE = 768_000;
const MAX_CHANNELS = 64;

/** Bytes of one sample of one channel. */
export function bytesPerSample(encoding: Encoding): number {
  switch (encoding) {
    case "s8":
    case "u8":
      return 1;
    case "s16le":
    case "s16be":
      return 2;
    case "s24le":
    case "s24be":
      return 3;
    case "s32le":
    case "f32le":
      return 4;
  }
}

/** Bytes of one frame: one sample for every channel. */
export function bytesPerFrame(f: SampleFormat): number {
  return bytesPerSample(f.encoding) * f.channels;
}

/** Significant bits per sample (float counts as 24, its mantissa precision). */
export function bitsPerSample(encoding: Encoding): number {
  return encoding === "f32le" ? 24 : bytesPerSample(encoding) * 8;
}

export function isEncoding(s: string): s is Encoding {
  return (ENCODINGS as readonly string[]).includes(s);
}

/** Parses `ENCODING:RATE:CHANNELS`; throws FormatSpecError naming the bad part. */
export function parseSampleFormat(spec: string): SampleFormat {
  const parts = spec.split(":");
  if (parts.length !== 3) {
    throw new FormatSpecError(`format "${spec}" must be ENCODING:RATE:CHANNELS, for example s16le:44100:2`);
  }
  const [encoding, rateText, channelsText] = parts as [string, string, string];
  if (!isEncoding(encoding)) {
    throw new FormatSpecError(`format "${spec}": unknown encoding "${encoding}" (one of ${ENCODINGS.join(", ")})`);
  }
  const rate = Number(rateText);
  if (!/^\d+$/.test(rateText) || rate < 1 || rate > MAX_RATE) {
    throw new FormatSpecError(`format "${spec}": rate must be a whole number of Hz from 1 to ${MAX_RATE}`);
  }
  const channels = Number(channelsText);
  if (!/^\d+$/.test(channelsText) || channels < 1 || channels > MAX_CHANNELS) {
    throw new FormatSpecError(`format "${spec}": channels must be a whole number from 1 to ${MAX_CHANNELS}`);
  }
  return { encoding, rate, channels };
}

export function formatToString(f: SampleFormat): string {
  return `${f.encoding}:${f.rate}:${f.channels}`;
}

export function sameFormat(a: SampleFormat, b: SampleFormat): boolean {
  return a.encoding === b.encoding && a.rate === b.rate && a.channels === b.channels;
}
