/**
 * The progress line `play` shows on a terminal: time played (pauses left
 * out: it had counted them, and passed the duration), duration and packets
 * sent, redrawn in place four times a second. Nothing when stderr
 * is not a TTY, so pipelines and logs stay clean.
 *
 * Log lines meanwhile go through {@link ProgressLine.logLine}: the progress line is cleared
 * before each and redrawn under it. Written straight to stderr, a warning landed on the end of
 * the progress line (`00:00 / 00:02  4 packetspacer: cmd: restarting …`).
 *
 * @example
 * ```ts
 * const progress = progressLine();
 * const shown = log.to(progress.logLine); // the job logs through it
 * progress.start(job, scheduler, async () => durationUs); // the total is asked for on a terminal only
 * await job.done;
 * progress.stop();
 * ```
 */
import type { Job } from "../pipeline/job.ts";
import type { Scheduler } from "../scheduler/scheduler.ts";
import { US_PER_S } from "../scheduler/clock.ts";

const REDRAW_MS = 250;
/** Back to the line's start, and clear to its end. */
const CLEAR_LINE = "\r\x1b[K";

function clockText(us: number): string {
  const s = Math.floor(us / US_PER_S);
  const mm = String(Math.floor(s / 60) % 60).padStart(2, "0");
  const ss = String(s % 60).padStart(2, "0");
  return s >= 3600 ? `${Math.floor(s / 3600)}:${mm}:${ss}` : `${mm}:${ss}`;
}

export interface ProgressLine {
  /** A logger's sink: writes `line` above the progress line, while one is shown. */
  logLine(line: string): void;
  /** Shows the line until {@link stop}, on a terminal only; `total` is asked for then (it may read the inputs), and shown once known. */
  start(job: Job, scheduler: Scheduler, total: (() => Promise<number | undefined>) | undefined): void;
  /** Draws the line a last time and leaves it. */
  stop(): void;
}

export function progressLine(stream: NodeJS.WriteStream = process.stderr): ProgressLine {
  /** What the line says now; null while none is shown. */
  let text: (() => string) | null = null;
  let interval: ReturnType<typeof setInterval> | undefined;
  const draw = () => {
    if (text) stream.write(`\r${text()}\x1b[K`);
  };
  return {
    logLine(line) {
      stream.write(`${text ? CLEAR_LINE : ""}${line}\n`);
      draw();
    },
    start(job, scheduler, totalOf) {
      if (!stream.isTTY) return;
      let total: number | undefined;
      void totalOf?.().then((known) => (total = known), () => {});
      text = () => {
        const elapsed = job.playingUs(scheduler.now());
        const { units } = job.totals();
        return `${clockText(elapsed)}${total !== undefined ? ` / ${clockText(total)}` : ""}  ${units} packets`;
      };
      interval = setInterval(draw, REDRAW_MS);
    },
    stop() {
      if (!text) return;
      clearInterval(interval);
      draw();
      stream.write("\n");
      text = null;
    },
  };
}
