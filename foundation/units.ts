/** Numbers with units, as people write them on command lines and in requests: bit rates, seconds and sizes. */
import { UsageError } from "./errors.ts";

const RATE_SUFFIX: Record<string, number> = { "": 1, k: 1e3, K: 1e3, m: 1e6, M: 1e6, g: 1e9, G: 1e9 };

/** The bit rates parseBitrate takes, bits/s: a limit below the least leaves no rate to ask for. */
export const MIN_BITRATE = 1_000;
export const MAX_BITRATE = 10e9;

/** `1500000`, `1500k`, `1.5M` → bits per second; a UsageError names `what` (the caller's option or field). */
export function parseBitrate(text: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)([kKmMgG]?)(?:bps|bit\/s)?$/.exec(text.trim());
  const value = m ? Number(m[1]) * RATE_SUFFIX[m[2]!]! : NaN;
  if (!m || !(value >= MIN_BITRATE && value <= MAX_BITRATE)) {
    throw new UsageError(`${what} "${text}": expected bits per second from 1k to 10G, like 1500000, 1500k or 1.5M`);
  }
  return value;
}

/** `12`, `1.5`, `90s`, `2m`, `1h`, `01:30` → seconds; a UsageError names `what` (the caller's option or field). */
export function parseSeconds(text: string, what: string): number {
  const clock = /^(?:(\d+):)?(\d+):(\d+(?:\.\d+)?)$/.exec(text);
  if (clock) {
    const [hours, minutes, secs] = [Number(clock[1] ?? 0), Number(clock[2]), Number(clock[3])];
    // 1:99 read as 159 s and 1:75:00 as 2 h 15 min: a typo, taken as a time. Only the first field may run on.
    if (secs >= 60 || (clock[1] !== undefined && minutes >= 60)) throw new UsageError(`${what} "${text}": minutes and seconds after a colon go up to 59, like 01:30 or 1:02:03`);
    return hours * 3600 + minutes * 60 + secs;
  }
  const m = /^(\d+(?:\.\d+)?)(s|m|h)?$/.exec(text.trim());
  if (!m) throw new UsageError(`${what} "${text}": expected seconds, like 90, 1.5, 2m, 1h or 01:30`);
  return Number(m[1]) * (m[2] === "h" ? 3600 : m[2] === "m" ? 60 : 1);
}

const SIZE = /^(\d+(?:\.\d+)?)\s*(|k|m|g|ki|mi|gi)(b?)$/i;
const SIZE_UNIT: Record<string, number> = { "": 1, k: 1e3, m: 1e6, g: 1e9, ki: 1024, mi: 1024 ** 2, gi: 1024 ** 3 };

/**
 * `500MB`, `2GB`, `64KiB`, `8MiB` → bytes; null when `text` is not a size. A bare number is bytes
 * only with `bareBytes`, so that where a size and a duration share an option, `900` stays seconds.
 */
export function byteSizeOf(text: string, bareBytes = false): number | null {
  const m = SIZE.exec(text.trim());
  if (!m || (!bareBytes && m[3] === "")) return null;
  return Math.round(Number(m[1]) * SIZE_UNIT[m[2]!.toLowerCase()]!);
}

/**
 * A tuning knob from the environment (PACER_BATCH_WINDOW_US and the like, for the bench): a whole
 * number from 0 to `max`, or null when unset or anything else, so the default holds.
 */
export function wholeNumberOrNull(text: string | undefined, max: number): number | null {
  if (text === undefined || !/^\d+$/.test(text)) return null;
  const n = Number(text);
  return n <= max ? n : null;
}
