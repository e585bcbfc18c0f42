/**
 * Where a recording rotated on the clock (`--rotate 1h`, `24h`) cuts next: on multiples of the
 * period from local midnight, plus the stagger, in local time. Each boundary is placed with the
 * UTC offset in force at it, not at the moment it is worked out: with now's, the daily file of a
 * DST night was cut at 01:00 (or 23:00) instead of midnight, and named so.
 *
 * @example
 * ```ts
 * clockBoundaryAfter(Date.now(), 3_600_000, 0); // the next full hour, local time
 * ```
 */

/** The local time's offset from UTC at `at`, in ms, as getTimezoneOffset counts it (UTC minus local). */
const zoneAt = (at: number) => new Date(at).getTimezoneOffset() * 60_000;

/** The first boundary after `now` (Unix ms) of a rotation every `everyMs`, `staggerMs` after local midnight's multiples. */
export function clockBoundaryAfter(now: number, everyMs: number, staggerMs: number): number {
  const zoneNow = zoneAt(now);
  // The next boundary as a local time, counted as if it were UTC.
  const local = (Math.floor((now - zoneNow - staggerMs) / everyMs) + 1) * everyMs + staggerMs;
  const atItsOffset = local + zoneAt(local + zoneNow);
  // A local time the clock skips (02:30 on the spring night) has no instant: now's offset places it.
  return atItsOffset > now ? atItsOffset : local + zoneNow;
}
