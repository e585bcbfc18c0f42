/**
 * When a `[[recording]]` runs: its cron pattern (croner, with a seconds field and time zones)
 * gives the next run after any instant, and `fire` decides what happens when one falls due. A run
 * that would overlap the previous one of the same schedule (still running) is skipped, never
 * started twice; runs missed while the server was busy are not replayed, the next one is after now.
 * A run found due only once its whole duration has passed (the host was suspended: timers run on
 * the monotonic clock, which stops meanwhile) is missed, not started: it had started hours late,
 * recording whatever came then for the whole duration. It is missed only when no run fell due
 * within the last duration: a clock stepped on to 22:00 starts an hourly 22:00 run, not "the
 * 21:00 run, missed". (One question to croner, where a walk back over the runs due, capped, took
 * 182 ms after a 3-day sleep at a run every 10 s, and past its cap misjudged.)
 *
 * Pure: time comes in as Unix ms, so the decisions run on a manual clock in tests.
 *
 * @example
 * ```ts
 * const plan = new RecordingPlan("0 20 * * 1-5", Date.now());
 * plan.nextMs;                             // the next 20:00 on a weekday
 * plan.fire(plan.nextMs!, running);        // "start", or "skip" while the last run still runs
 * ```
 */
import { Cron } from "croner";

export type FireDecision = "start" | "skip" | "early" | "missed";

/** Whether `name` is a time zone this runtime knows (IANA names, UTC). */
export function knownTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat("en", { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

export class RecordingPlan {
  private readonly cron: Cron;
  /** Unix ms of the next run, or null when the pattern has no more. */
  nextMs: number | null;

  /** Throws with croner's message for a pattern or time zone it cannot read. */
  constructor(pattern: string, nowMs: number, timezone?: string) {
    // croner also takes a seventh (year) field; pacer documents five or six, so it says so itself.
    const fields = pattern.trim().split(/\s+/).length;
    if (!pattern.trim().startsWith("@") && (fields < 5 || fields > 6)) {
      throw new Error(`${JSON.stringify(pattern)} has ${fields} field${fields === 1 ? "" : "s"}; give five (minute hour day month weekday), or six with seconds first`);
    }
    // Paused and without a callback: croner only computes; the server owns the timers.
    this.cron = new Cron(pattern, { paused: true, ...(timezone !== undefined && { timezone }) });
    this.nextMs = this.after(nowMs);
  }

  /** The first run strictly after `ms`. */
  after(ms: number): number | null {
    return this.cron.nextRun(new Date(ms))?.getTime() ?? null;
  }

  /** The shortest time between two of the next `runs` runs from `ms` (Infinity for fewer than two). */
  shortestGapMs(ms: number, runs: number): number {
    let shortest = Infinity;
    let previous = this.after(ms);
    for (let i = 1; i < runs && previous !== null; i++) {
      const next = this.after(previous);
      if (next !== null) shortest = Math.min(shortest, next - previous);
      previous = next;
    }
    return shortest;
  }

  /**
   * Called at `nowMs`: "early" before the next run is due (a timer fired early; nothing moves),
   * otherwise "start", "skip" when the previous run is still `running`, or "missed" when the run
   * would have ended already (`durationMs` or more past due); the next run moves past now.
   */
  fire(nowMs: number, running: boolean, durationMs = Infinity): FireDecision {
    if (this.nextMs === null || nowMs < this.nextMs) return "early";
    // Missed when no run fell due within the last `durationMs`: the latest run due would have ended.
    const missed = nowMs - this.nextMs >= durationMs && !((this.after(nowMs - durationMs) ?? Infinity) <= nowMs);
    this.nextMs = this.after(nowMs);
    if (missed) return "missed";
    return running ? "skip" : "start";
  }
}
