/**
 * `pacer play`'s look at its outputs that push back (a command's stdin, a sound card): one that
 * has taken nothing for STUCK_AFTER_US while the stream waited for it, with no output ahead of
 * it, is stuck (a command that never reads, a device that stopped) and is failed, so the job
 * ends. The job's bound on falling behind compares an output with the others, so one with an
 * output ahead is skipped ahead and cut off at the end (job.ts), but a lone one (or all of them
 * stuck) held `play` for ever. A slow output still takes something and is left alone; a paused
 * stream waits for nobody. The speaker keeps its own watch (speaker/output_watch.ts).
 *
 * @example
 * ```ts
 * const watch = watchStuckOutputs(job, scheduler, () => gate.closed);
 * await job.done;
 * watch.stop();
 * ```
 */
import type { Scheduler } from "../scheduler/scheduler.ts";
import type { Destination } from "./destination.ts";
import { END_GRACE_US } from "./job.ts";

/** Taking nothing this long while the stream waits is stuck: the time play gives an output at the end. */
export const STUCK_AFTER_US = END_GRACE_US;
/** How often the outputs are looked at. */
const LOOK_US = 250_000;

export function watchStuckOutputs(job: { readonly destinations: readonly Destination[] }, scheduler: Scheduler, paused: () => boolean = () => false): { stop(): void } {
  const outputs = job.destinations.filter((d) => d.backend.pushesBack);
  const seen = outputs.map((d) => d.reader.position);
  const movedAt = outputs.map(() => scheduler.now());
  const look = scheduler.timer("retry", (_timer, now) => {
    // Outputs done count: one that reached the end is ahead, and the end's grace is job.ts's.
    const lead = Math.max(...job.destinations.map((d) => d.reader.position));
    outputs.forEach((d, i) => {
      if (!d.active) return;
      const position = d.reader.position;
      if (position !== seen[i] || position < lead || !d.pushedBack || paused()) {
        seen[i] = position;
        movedAt[i] = now;
        return;
      }
      if (now - movedAt[i]! < STUCK_AFTER_US) return;
      d.fail(new Error(`took nothing for ${STUCK_AFTER_US / 1e6} s (a command that does not read its stdin, a device that stopped); given up on`));
    });
    if (outputs.some((d) => d.active)) scheduler.schedule(look, now + LOOK_US);
  });
  if (outputs.length > 0) scheduler.schedule(look, scheduler.now() + LOOK_US);
  return { stop: () => scheduler.cancel(look) };
}
