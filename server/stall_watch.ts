/**
 * Says when the whole server was held up: a host so loaded it did not run pacer, swapping, a
 * SIGSTOP, or a long task of its own on the loop. Every stream re-anchors after that (DESIGN.md
 * "Pacing"), each destination counting it in `status` (`reanchors`), but nothing said why, and
 * nothing told it from a slow destination. A look every WATCH_MS that comes STALL_MS or more late
 * is a stall: one line, counted in `status` (`server.stalls`, `server.stalled_ms`). The process's
 * CPU time over the wait tells who held it: next to none, the host; about the wait, pacer's own work.
 *
 * A plain timer, not the scheduler's: a timer there is slept for precisely, and an idle server
 * would block its loop in that sleep 20 times a second for a look that needs no precision.
 *
 * @example
 * ```ts
 * const stalls = new StallWatch(log);
 * stalls.start(); // then logs "the server did not run for 0.3 s (…)" at each stall
 * stalls.count; stalls.stalledMs;
 * stalls.stop();
 * ```
 */
import type { Logger } from "../foundation/log.ts";

/** How often the watch looks: a stall of STALL_MS + this is always seen. */
const WATCH_MS = 50;
/** Late by this much is a stall: past a busy host's hiccups, and well past a destination's catch-up. */
const STALL_MS = 200;
/** CPU time over the stall, as a share of it, from which the stall was pacer's own work. */
const OWN_WORK_SHARE = 0.3;

export class StallWatch {
  /** Stalls seen. */
  count = 0;
  /** Their time in all, ms. */
  stalledMs = 0;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #dueAt = 0;
  #cpuUs = 0;

  constructor(private readonly log: Logger) {}

  start(): void {
    this.#next(performance.now());
  }

  stop(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #next(now: number): void {
    this.#dueAt = now + WATCH_MS;
    this.#cpuUs = cpuUs();
    this.#timer = setTimeout(() => this.#look(), WATCH_MS);
  }

  #look(): void {
    const now = performance.now();
    const lateMs = now - this.#dueAt;
    if (lateMs >= STALL_MS) {
      this.count++;
      this.stalledMs += Math.round(lateMs);
      const busyMs = (cpuUs() - this.#cpuUs) / 1000;
      const who = busyMs >= OWN_WORK_SHARE * (lateMs + WATCH_MS)
        ? `its own work held its loop (${(busyMs / 1000).toFixed(1)} s of CPU meanwhile)`
        : "the host held it up: overloaded, swapping, or stopped";
      this.log.warn(
        `the server did not run for ${(lateMs / 1000).toFixed(1)} s (${who}); ` +
          "streams that fell behind further than a short catch-up re-anchored to their clocks, without a burst (status: reanchors)",
      );
    }
    this.#next(now);
  }
}

/** The process's CPU time so far, user and system, µs. */
function cpuUs(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}
