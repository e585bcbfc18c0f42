/**
 * Runs a scheduler on a manual clock while real I/O (a pipe's bytes, a socket's) still arrives:
 * the clock moves in steps, and the event loop gets a turn before each, so what was written
 * reaches its reader between steps as it would between wake-ups.
 *
 * @example
 * ```ts
 * await runWithIo(scheduler, scheduler.now() + 1_000_000, 1_000);
 * await runWithIo(scheduler, until, 7_000, () => pipe.write(next())); // feeds before each step
 * ```
 */
import type { Scheduler } from "../../scheduler/scheduler.ts";

export async function runWithIo(scheduler: Scheduler, until: number, stepUs: number, beforeStep?: () => void): Promise<void> {
  while (scheduler.now() < until) {
    beforeStep?.();
    await Bun.sleep(0);
    scheduler.runUntil(Math.min(until, scheduler.now() + stepUs));
  }
}
