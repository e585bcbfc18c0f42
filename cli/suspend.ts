/**
 * `pacer play` stopped by SIGTSTP (Ctrl-Z, `kill -TSTP`) and continued (`fg`, SIGCONT): the
 * time it was stopped is handed to `continued`, so the stream's schedule can move on by it
 * instead of taking it for time the outputs fell behind. The handler stops the process itself,
 * with the signal's default action, and `process.kill` returns once it is continued, before
 * any send event runs late. A SIGTSTP pacer was started ignoring stays ignored. (SIGSTOP cannot
 * be caught: after it, the outputs re-anchor as after any delay, and say so.)
 *
 * @example
 * ```ts
 * const off = onSuspend(() => scheduler.now(), (us) => job.suspended(us));
 * await job.done;
 * off();
 * ```
 */
import { ignoredAtStart } from "../foundation/ignored_signals.ts";

export function onSuspend(now: () => number, continued: (stoppedUs: number) => void): () => void {
  if (ignoredAtStart("SIGTSTP")) return () => {};
  const suspend = () => {
    const stoppedAt = now();
    // Without a listener the signal has its default: the process stops in this call until SIGCONT.
    process.off("SIGTSTP", suspend);
    process.kill(process.pid, "SIGTSTP");
    process.on("SIGTSTP", suspend);
    continued(now() - stoppedAt);
  };
  process.on("SIGTSTP", suspend);
  return () => process.off("SIGTSTP", suspend);
}
