/**
 * What `pacer record`'s options and a server `[[recording]]`'s keys share: the file kind a
 * pattern's extension names, rotation by time or size, how many files to keep, and the PCM format
 * of an input for a WAV. Messages name the option as its caller spells it (`--rotate`, `rotate`).
 *
 * @example
 * ```ts
 * parseRotate("15m", "--rotate");   // { rotateEveryMs: 900000 }
 * parseRotate("500MB", "rotate");   // { rotateBytes: 500000000 }
 * recordKindOf("news/%H%M.wav");    // "wav"
 * ```
 */
import { extname } from "node:path";
import { UsageError } from "../foundation/errors.ts";
import { byteSizeOf, parseSeconds } from "../foundation/units.ts";
import { PT_L16_MONO, PT_L16_STEREO } from "../protocol/rtp.ts";
import type { SampleFormat } from "../protocol/sample_format.ts";
import { fieldsInNameOnly } from "./pattern.ts";
import type { RecordKind } from "./recorder.ts";

/** `pacer record`'s --rotate, --stagger, --keep, --part and --format, as a server recording's keys. */
export interface RecordFileOptions {
  readonly rotateEveryMs?: number;
  readonly rotateBytes?: number;
  readonly staggerMs?: number;
  readonly keep?: number;
  readonly part?: boolean;
  readonly format?: SampleFormat;
}

const MIN_ROTATE_S = 1;
const MIN_ROTATE_BYTES = 1 << 16;

/** `.ts` records TS (PAT at each file's start, cc checks), `.wav` a WAV, anything else raw bytes. */
export function recordKindOf(pattern: string): RecordKind {
  const ext = extname(pattern).toLowerCase();
  if (ext === ".ts") return "ts";
  if (ext === ".wav" || ext === ".wave") return "wav";
  return "raw";
}

/** A duration (15m, 1h: on the clock) or a size (500MB, 2GB: by bytes). */
export function parseRotate(text: string, option: string): { rotateEveryMs?: number; rotateBytes?: number } {
  const bytes = byteSizeOf(text);
  if (bytes !== null) {
    if (bytes < MIN_ROTATE_BYTES) throw new UsageError(`${option} "${text}": at least 64KiB`);
    return { rotateBytes: bytes };
  }
  const seconds = parseSeconds(text, option);
  if (seconds < MIN_ROTATE_S) throw new UsageError(`${option} "${text}": at least ${MIN_ROTATE_S} s`);
  return { rotateEveryMs: seconds * 1000 };
}

/** A whole number of files, 1 or more; the pattern's fields must be in its file name. */
export function parseKeep(text: string, option: string, pattern: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1) throw new UsageError(`${option} "${text}": expected a whole number of files, 1 or more`);
  if (!fieldsInNameOnly(pattern)) throw new UsageError(`${option} needs the pattern's strftime fields in the file name, not in its folders`);
  return n;
}

/**
 * The format of PCM arriving from `source`, for a WAV: a sound card's capture says its own,
 * else the one configured, else RTP's static L16 payload types (big-endian samples at 44.1 kHz).
 */
export function inputPcmFormat(source: object, configured: SampleFormat | undefined): SampleFormat | null {
  const captured = (source as { format?: SampleFormat }).format;
  if (captured) return captured;
  if (configured) return configured;
  const pt = (source as { payloadType?: number }).payloadType;
  if (pt === PT_L16_STEREO || pt === PT_L16_MONO) return { encoding: "s16be", rate: 44_100, channels: pt === PT_L16_STEREO ? 2 : 1 };
  return null;
}
