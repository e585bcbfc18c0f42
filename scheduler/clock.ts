/**
 * The one time base of pacer: integer microseconds on a monotonic clock.
 * Deadlines everywhere are absolute values of `Clock.now()`; no float
 * milliseconds are passed around: one clock, one unit, so no conversion
 * can round a deadline differently in two places.
 *
 * @example
 * ```ts
 * const clock = new ManualClock();
 * clock.advance(1500);
 * clock.now(); // 1500
 * ```
 */
export interface Clock {
  /** Microseconds since an arbitrary fixed origin; never decreases. Whole numbers. */
  now(): number;
}

/** Microseconds in common units, named once. */
export const US_PER_MS = 1_000;
export const US_PER_S = 1_000_000;

/** A wall clock that moves this far against the monotonic one has been stepped (NTP, an operator), in ms. */
export const WALL_CLOCK_STEP_MS = 5_000;

/**
 * The process's monotonic clock. `Bun.nanoseconds()` counts from the start of
 * the thread that reads it (measured: a Worker's starts at 0), so a thread
 * other than the main one aligns its clock to the main thread's with
 * {@link RealClock.alignTo}. Whole microseconds stay exact in a double for 285 years.
 */
export class RealClock implements Clock {
  /** Added to this thread's reading: where this thread's clock started on the main thread's. */
  private offsetUs = 0;

  now(): number {
    return Math.floor(Bun.nanoseconds() / 1000 + this.offsetUs);
  }

  /**
   * Reads the main thread's time from now on, given its `performance.timeOrigin`: each
   * thread's `Bun.nanoseconds()` counts from its own time origin (they agree within 1 µs, measured).
   */
  alignTo(mainTimeOriginMs: number): void {
    this.offsetUs = (performance.timeOrigin - mainTimeOriginMs) * US_PER_MS;
  }
}

/** A clock that moves only when told to: scheduler tests run on it deterministically. */
export class ManualClock implements Clock {
  private current: number;

  constructor(start = 0) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  /** Moves time forward by `us` microseconds. */
  advance(us: number): void {
    if (us < 0) throw new RangeError("ManualClock cannot go backwards");
    this.current += Math.floor(us);
  }

  /** Sets the time; it may only move forward. */
  set(us: number): void {
    if (us < this.current) throw new RangeError("ManualClock cannot go backwards");
    this.current = Math.floor(us);
  }
}

export const realClock = new RealClock();
