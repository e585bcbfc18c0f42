/**
 * Sleeping to an absolute deadline with clock_nanosleep(TIMER_ABSTIME) via
 * bun:ffi, with the thread's timer slack set to 1 ns (prctl
 * PR_SET_TIMERSLACK) so the kernel does not round the wake-up (default slack
 * is 50 µs). Measured on these machines: p99 lateness about 0.06 ms, where
 * Bun's setTimeout only takes whole milliseconds and wakes up to several ms
 * late under load.
 *
 * The scheduler uses it only for the last stretch before a deadline, after
 * a setImmediate hop has let pending I/O run, so the main thread blocks for
 * at most that stretch.
 *
 * @example
 * ```ts
 * const sleeper = preciseSleeper(clock);
 * sleeper?.sleepUntil(clock.now() + 500); // µs on the scheduler's clock
 * ```
 */
import { ptr } from "bun:ffi";
import { libc as loadLibc } from "../foundation/libc.ts";
import type { Clock } from "./clock.ts";

const CLOCK_MONOTONIC = 1;
const TIMER_ABSTIME = 1;
const PR_SET_TIMERSLACK = 29;

export interface PreciseSleeper {
  /** Blocks until `deadlineUs` on its clock (µs). */
  sleepUntil(deadlineUs: number): void;
}

/** Sleeps to an absolute CLOCK_MONOTONIC time, ns; made once per thread. */
let cached: ((monotonicNs: number) => void) | null | undefined;
/** Reads CLOCK_MONOTONIC, ns. */
let monotonicNow: () => number = () => 0;

/**
 * A sleeper to deadlines on `clock`, or null where libc cannot be reached (then the scheduler
 * polls instead). The clock's offset from CLOCK_MONOTONIC is read once per sleeper: a thread
 * aligns its clock (RealClock.alignTo) before it makes its scheduler's.
 */
export function preciseSleeper(clock: Clock): PreciseSleeper | null {
  const sleep = monotonicSleep();
  if (sleep === null) return null;
  let offsetNs = Infinity;
  for (let i = 0; i < 5; i++) {
    const before = clock.now() * 1000;
    offsetNs = Math.min(offsetNs, monotonicNow() - before);
  }
  return { sleepUntil: (deadlineUs) => sleep(deadlineUs * 1000 + offsetNs) };
}

function monotonicSleep(): ((monotonicNs: number) => void) | null {
  if (cached !== undefined) return cached;
  try {
    const libc = loadLibc();
    if (!libc) return (cached = null);
    libc.prctl(PR_SET_TIMERSLACK, 1, 0, 0, 0);
    // One 16-byte struct timespec, seen as two int64 (read) and four 32-bit words (written per
    // wake-up without making BigInts). The ArrayBuffer comes first: asking a small typed array for
    // its .buffer moves its storage in JSC, and a pointer taken before would go stale.
    const timespecBytes = new ArrayBuffer(16);
    const timespec = new BigInt64Array(timespecBytes);
    const timespecWords = new Uint32Array(timespecBytes);
    const timespecPtr = ptr(timespec);
    monotonicNow = () => {
      libc.clock_gettime(CLOCK_MONOTONIC, timespecPtr);
      return Number(timespec[0]!) * 1e9 + Number(timespec[1]!);
    };
    const { clock_nanosleep } = libc;
    cached = (target: number) => {
        const seconds = Math.floor(target / 1e9);
        // tv_sec fits 32 bits (monotonic seconds since boot); tv_nsec always does.
        timespecWords[0] = seconds;
        timespecWords[1] = 0;
        timespecWords[2] = Math.floor(target - seconds * 1e9);
        timespecWords[3] = 0;
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, timespecPtr, null);
    };
  } catch {
    cached = null;
  }
  return cached;
}
