/**
 * `pacer play`'s look at its outputs whose consumer can be seen not to read (a command's stdin:
 * Backend.readNothing): one that has read nothing of what it was given for NEVER_READ_US, while
 * the stream waits on it and no output is ahead of it, does not read its stdin at all, and is
 * failed, so the job ends. The job's bound on falling behind compares an output with the others,
 * so one with an output ahead is skipped ahead and cut off at the end (job.ts), but a lone one
 * (or all of them stuck) held `play` for ever (`cmd:exec sleep 1000`). A command that has read
 * is never failed here: a paused player, a slow consumer, one that reads in bursts, wait as long
 * as they take, as a lone slow command always could; NEVER_READ_US leaves a command time to
 * start (a password prompt, a connection). A paused stream waits for nobody, and looks far
 * apart (the process was stopped, ^Z) start the count again.
 *
 * @example
 * ```ts
 * const watch = watchStuckOutputs(job, scheduler, () => gate.closed);
 * await job.done;
 * watch.stop();
 * ```
 */
import { wholeNumberOrNull } from "../foundation/units.ts";
import type { Scheduler } from "../scheduler/scheduler.ts";
import type { Destination } from "./destination.ts";

/** Having read nothing, this long: stuck. PACER_NEVER_READ_MS overrides it, for tests (30 s of waiting each). */
export const NEVER_READ_US = (wholeNumberOrNull(process.env.PACER_NEVER_READ_MS, 600_000) ?? 30_000) * 1000;
/** How often the outputs are looked at. */
const LOOK_US = 250_000;

export function watchStuckOutputs(job: { readonly destinations: readonly Destination[] }, scheduler: Scheduler, paused: () => boolean = () => false): { stop(): void } {
  const outputs = job.destinations.filter((d) => d.backend.pushesBack && d.backend.readNothing);
  const waitingSince = outputs.map(() => scheduler.now());
  let lastLook = scheduler.now();
  const look = scheduler.timer("retry", (_timer, now) => {
    // Outputs done count: one that reached the end is ahead, and the end's grace is job.ts's.
    const lead = Math.max(...job.destinations.map((d) => d.reader.position));
    const resumed = now - lastLook > 4 * LOOK_US; // stopped meanwhile: nobody could read
    lastLook = now;
    outputs.forEach((d, i) => {
      if (!d.active) return;
      if (!d.pushedBack || d.reader.position < lead || paused() || resumed || !d.backend.readNothing!()) {
        waitingSince[i] = now;
        return;
      }
      if (now - waitingSince[i]! < NEVER_READ_US) return;
      d.fail(new Error(`read nothing of the stream in ${NEVER_READ_US / 1e6} s (a command that does not read its stdin?); given up on`));
    });
    if (outputs.some((d) => d.active)) scheduler.schedule(look, now + LOOK_US);
  });
  if (outputs.length > 0) scheduler.schedule(look, scheduler.now() + LOOK_US);
  return { stop: () => scheduler.cancel(look) };
}
