/**
 * One monotonic clock shared by the bench processes. `Bun.nanoseconds()`
 * counts from each process's own start, so it cannot compare a spawn in one
 * process with an arrival in another. CLOCK_MONOTONIC (through FFI, once)
 * gives the offset that turns it into system-wide monotonic nanoseconds;
 * after that, reading the time costs no FFI call.
 *
 * @example
 * ```ts
 * const sent = monoNs();
 * ```
 */
import { ptr } from "bun:ffi";
import { libc } from "../foundation/libc.ts";

const CLOCK_MONOTONIC = 1;
const NS_PER_S = 1_000_000_000;

function clockGettimeNs(): (() => number) | null {
  try {
    const c = libc();
    if (!c) return null;
    const ts = new BigInt64Array(2);
    const at = ptr(ts);
    return () => {
      c.clock_gettime(CLOCK_MONOTONIC, at);
      return Number(ts[0]) * NS_PER_S + Number(ts[1]);
    };
  } catch {
    return null;
  }
}

/** CLOCK_MONOTONIC minus Bun.nanoseconds(), from the tightest of a few brackets. */
function calibrate(): number {
  const mono = clockGettimeNs();
  // Without FFI, fall back to the wall clock at µs precision (good enough for start-up).
  if (!mono) return (performance.timeOrigin * 1e6) | 0;
  let best = Infinity;
  let offset = 0;
  for (let i = 0; i < 50; i++) {
    const a = Bun.nanoseconds();
    const m = mono();
    const b = Bun.nanoseconds();
    if (b - a < best) {
      best = b - a;
      offset = m - (a + b) / 2;
    }
  }
  return offset;
}

const OFFSET_NS = calibrate();

/** System-wide monotonic time in nanoseconds (comparable across processes). */
export function monoNs(): number {
  return Bun.nanoseconds() + OFFSET_NS;
}
