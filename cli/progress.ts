/**
 * The progress line `play` shows on a terminal: time played (pauses left
 * out: it had counted them, and passed the duration), duration and packets
 * sent, redrawn in place four times a second. Nothing when stderr
 * is not a TTY, so pipelines and logs stay clean.
 */
import type { Job } from "../pipeline/job.ts";
import type { Scheduler } from "../scheduler/scheduler.ts";
import { US_PER_S } from "../scheduler/clock.ts";

const REDRAW_MS = 250;

function clockText(us: number): string {
  const s = Math.floor(us / US_PER_S);
  const mm = String(Math.floor(s / 60) % 60).padStart(2, "0");
  const ss = String(s % 60).padStart(2, "0");
  return s >= 3600 ? `${Math.floor(s / 3600)}:${mm}:${ss}` : `${mm}:${ss}`;
}

export function startProgress(
  job: Job,
  scheduler: Scheduler,
  total: number | undefined,
  stream: NodeJS.WriteStream = process.stderr,
): { stop(): void } {
  if (!stream.isTTY) return { stop() {} };
  const draw = () => {
    const elapsed = job.playingUs(scheduler.now());
    const { units } = job.totals();
    const line = `${clockText(elapsed)}${total !== undefined ? ` / ${clockText(total)}` : ""}  ${units} packets`;
    stream.write(`\r${line}\x1b[K`);
  };
  const interval = setInterval(draw, REDRAW_MS);
  return {
    stop() {
      clearInterval(interval);
      draw();
      stream.write("\n");
    },
  };
}
