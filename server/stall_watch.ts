/**
 * Says when the whole server was held up: a host so loaded it did not run pacer, swapping, a
 * SIGSTOP. Every stream re-anchors after that (DESIGN.md "Pacing"), each destination counting it
 * in `status` (`reanchors`), but nothing said why, and nothing told it from a slow destination.
 * A timer every WATCH_US that fires STALL_US or more late is a stall: one line, counted in
 * `status` (`server.stalls`, `server.stalled_ms`).
 *
 * @example
 * ```ts
 * const stalls = new StallWatch(scheduler, log);
 * stalls.start(); // then logs "the server did not run for 0.3 s (…)" at each stall
 * stalls.count; stalls.stalledMs;
 * stalls.stop();
 * ```
 */
import type { Logger } from "../foundation/log.ts";
import { US_PER_MS, US_PER_S } from "../scheduler/clock.ts";
import type { Scheduler } from "../scheduler/scheduler.ts";
import type { Timer } from "../scheduler/timer_wheel.ts";

/** How often the watch looks: a stall of STALL_US + this is always seen. */
const WATCH_US = 50 * US_PER_MS;
/** Late by this much is a stall: past a busy host's hiccups, and well past a destination's catch-up. */
const STALL_US = 200 * US_PER_MS;

export class StallWatch {
  /** Stalls seen. */
  count = 0;
  /** Their time in all, ms. */
  stalledMs = 0;
  readonly #timer: Timer;

  constructor(
    private readonly scheduler: Scheduler,
    private readonly log: Logger,
  ) {
    this.#timer = scheduler.timer("watch", (timer, now) => this.#look(timer, now));
  }

  start(): void {
    this.scheduler.schedule(this.#timer, this.scheduler.now() + WATCH_US);
  }

  #look(timer: Timer, now: number): void {
    const lateUs = now - timer.deadline;
    if (lateUs >= STALL_US) {
      this.count++;
      this.stalledMs += Math.round(lateUs / US_PER_MS);
      this.log.warn(
        `the server did not run for ${(lateUs / US_PER_S).toFixed(1)} s (the host held it up: overloaded, swapping, or stopped); ` +
          "streams that fell behind further than a short catch-up re-anchored to their clocks, without a burst (status: reanchors)",
      );
    }
    this.scheduler.schedule(timer, now + WATCH_US);
  }

  stop(): void {
    this.scheduler.cancel(this.#timer);
  }
}
