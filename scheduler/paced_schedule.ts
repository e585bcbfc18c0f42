/**
 * The deadline rule for a paced stream: the unit at media time `t` is due at
 * `anchor + t`. Deadlines come from the anchor, never from the previous
 * deadline, so a stream never drifts.
 *
 * A sender that falls behind sends what is due at once (a burst) while it is
 * at most `maxBehindUs` late; past that it re-anchors, so that the unit due
 * now goes now and the rest keep their spacing, instead of piling up debt.
 *
 * @example
 * ```ts
 * const pace = new PacedSchedule(50_000);
 * pace.start(1_000_000, 0);
 * pace.deadline(8_000, 1_000_000); // 1_008_000
 * pace.deadline(16_000, 1_200_000); // 1_200_000: 184 ms late, re-anchored
 * pace.reanchors; // 1
 * ```
 */
export class PacedSchedule {
  /** Clock time at which media time 0 is due. */
  anchor = 0;
  /** How many times the stream fell too far behind and was re-anchored. */
  reanchors = 0;
  /** How far those re-anchors moved the schedule in all, µs: how far behind real time the stream ran. */
  reanchoredUs = 0;

  constructor(public maxBehindUs: number) {}

  /** Starts so that media time `mediaUs` is due at clock time `now`. */
  start(now: number, mediaUs: number): void {
    this.anchor = now - mediaUs;
  }

  /**
   * The clock moved on by `us` that the stream did not live through (the process was stopped:
   * Ctrl-Z): every later deadline moves with it, as a re-anchor would move them, but it is no
   * time behind.
   */
  shift(us: number): void {
    this.anchor += us;
  }

  /** The deadline for the unit at media time `mediaUs`, re-anchoring if it is too late. */
  deadline(mediaUs: number, now: number): number {
    const due = this.anchor + mediaUs;
    const behind = now - due;
    if (behind > this.maxBehindUs) {
      this.anchor += behind;
      this.reanchors++;
      this.reanchoredUs += behind;
      return now;
    }
    return due;
  }
}
