/**
 * The wall clock (CLOCK_REALTIME, µs since 1970) at a time on the scheduler's
 * monotonic clock: what RTCP sender reports carry as NTP time (RFC 3550
 * section 6.4.1) and what PCM timestamps count from (RFC 7273
 * `a=mediaclk:direct=0`). Read fresh for each use, as a pair with the
 * monotonic clock, so a stepped or slewed system clock shows in the next
 * report instead of drifting from a value taken at start-up.
 *
 * @example
 * ```ts
 * const wall = realtimeWallClock();
 * wall.unixUsAt(scheduler.now()); // 1.7e15-ish: now, in µs since 1970
 * ```
 */
import { ptr } from "bun:ffi";
import { libc } from "../../foundation/libc.ts";
import { realClock } from "../../scheduler/clock.ts";

const CLOCK_REALTIME = 0;

export interface WallClock {
  /** Unix µs at scheduler time `monoUs` (a monotonic µs value from the scheduler's clock). */
  unixUsAt(monoUs: number): number;
}

/** Reads CLOCK_REALTIME through libc (to the µs), or performance.timeOrigin + now() without it. */
export function realtimeWallClock(): WallClock {
  const c = libc();
  if (!c) {
    return { unixUsAt: (monoUs) => (performance.timeOrigin + performance.now()) * 1000 + (monoUs - realClock.now()) };
  }
  const timespecBytes = new ArrayBuffer(16); // the ArrayBuffer first: its pointer must not move (see precise_sleep.ts)
  const timespec = new BigInt64Array(timespecBytes);
  const at = ptr(timespec);
  return {
    unixUsAt(monoUs: number): number {
      const before = realClock.now();
      c.clock_gettime(CLOCK_REALTIME, at);
      const unixUs = Number(timespec[0]!) * 1_000_000 + Math.floor(Number(timespec[1]!) / 1000);
      return unixUs + (monoUs - before);
    },
  };
}

/** A wall clock that is the monotonic clock plus a fixed offset: for tests on a manual clock. */
export function fixedWallClock(unixUsAtZero: number): WallClock {
  return { unixUsAt: (monoUs) => unixUsAtZero + monoUs };
}
