/**
 * Where a recording rotated on the clock (`--rotate 1h`, `24h`) cuts next: at each instant the
 * local clock reads a multiple of the period from midnight, plus the stagger. Each boundary is
 * placed with the UTC offset in force at it, not at the moment it is worked out: with now's, the
 * daily file of a DST night was cut at 01:00 (or 23:00) instead of midnight, and named so. An hour
 * the clock reads twice (02:00–03:00 on the autumn night in Europe/Berlin) has its boundaries
 * twice: before, the `--rotate 1h` file of 02:00 ran two hours.
 *
 * @example
 * ```ts
 * clockBoundaryAfter(Date.now(), 3_600_000, 0); // the next full hour, local time
 * ```
 */

/** The local time's offset from UTC at `at`, in ms, as getTimezoneOffset counts it (UTC minus local). */
const zoneAt = (at: number) => new Date(at).getTimezoneOffset() * 60_000;

export const DAY_MS = 86_400_000;

/**
 * The first boundary after `from` on a clock that stays `zone` behind UTC. A period shorter than
 * a day counts from each midnight, the day's last file the shorter: counted from 1970's (as
 * before), `--rotate 7h` in New York cut at 09:00, 16:00, 23:00 one day, 06:00, 13:00 the next.
 */
function nextOnOffset(from: number, zone: number, everyMs: number, staggerMs: number): number {
  const local = from - zone - staggerMs;
  const midnight = everyMs < DAY_MS ? Math.floor(local / DAY_MS) * DAY_MS : 0;
  const next = midnight + (Math.floor((local - midnight) / everyMs) + 1) * everyMs;
  return (everyMs < DAY_MS ? Math.min(next, midnight + DAY_MS) : next) + staggerMs + zone;
}

/** The first instant after `from` (at offset `zone`) whose offset is another, `to` being one (to the ms). */
function offsetChange(from: number, to: number, zone: number): number {
  while (to - from > 1) {
    const mid = Math.floor((from + to) / 2);
    if (zoneAt(mid) === zone) from = mid;
    else to = mid;
  }
  return to;
}

/** The first boundary after `now` (Unix ms) of a rotation every `everyMs`, `staggerMs` after local midnight's multiples. */
export function clockBoundaryAfter(now: number, everyMs: number, staggerMs: number): number {
  const zone = zoneAt(now);
  const onNowsOffset = nextOnOffset(now, zone, everyMs, staggerMs);
  if (zoneAt(onNowsOffset) === zone) return onNowsOffset;
  // The offset changes first: from then on, boundaries are on the new one. On the autumn night
  // the change itself may be one (the clock reads 02:00 again).
  const change = offsetChange(now, onNowsOffset, zone);
  const zoneAfter = zoneAt(change);
  const onNewOffset = nextOnOffset(change - 1, zoneAfter, everyMs, staggerMs);
  // A local time the clock skips (02:30 on the spring night) has no instant: now's offset places it.
  return zoneAfter < zone ? Math.min(onNowsOffset, onNewOffset) : onNewOffset;
}
