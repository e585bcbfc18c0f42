/**
 * When the speaker's outputs cannot be opened, or fail soon after they
 * opened: how long until the next try (1 s, doubling to 30 s), and the error
 * `status` shows meanwhile. An episode runs from the first failure to the
 * outputs playing a while (or nothing left to play), and is logged at its
 * start, not at each try: a device unplugged for an hour is two lines, not
 * two hundred. The queue waits meanwhile.
 *
 * @example
 * ```ts
 * const delayUs = retry.failed("cannot open the output: …", true); // 1 s, then 2, 4 … 30
 * retry.opened();  // status no longer shows the error; the back-off goes on if they fail soon again
 * retry.settled(); // it played a while, or the queue emptied: the next failure starts afresh
 * ```
 */
import type { Logger } from "../foundation/log.ts";
import { US_PER_S } from "../scheduler/clock.ts";

/** The first try after a failure waits this long... */
export const RETRY_FIRST_US = 1 * US_PER_S;
/** ...each next one twice as long, up to this: a device plugged back in plays within 30 s. */
export const RETRY_MAX_US = 30 * US_PER_S;

export class OutputRetry {
  /** The delay of the last try (0: no back-off running). */
  private delayUs = 0;
  /** What keeps the outputs from playing now, for `status`; null while they are open, or nothing waits. */
  error: string | null = null;

  constructor(private readonly log: Logger) {}

  /**
   * The outputs could not be opened, or failed; returns how long until the next try. `soon`: it
   * failed at once (or soon after opening), so tries back off; otherwise the outputs played a
   * while, and are opened again at once. The episode's first error is logged, and a new one.
   */
  failed(message: string, soon: boolean): number {
    this.delayUs = !soon ? 0 : this.delayUs === 0 ? RETRY_FIRST_US : Math.min(RETRY_MAX_US, this.delayUs * 2);
    if (message !== this.error) {
      const next = this.delayUs === 0 ? "" : `; the queue waits, trying again in ${this.delayUs / US_PER_S} s, then less often (up to every ${RETRY_MAX_US / US_PER_S} s)`;
      this.log.error(`speaker: ${message}${next}`);
    }
    this.error = message;
    return this.delayUs;
  }

  /** The outputs opened: nothing keeps them from playing, though the back-off holds until they have played a while. */
  opened(): void {
    this.error = null;
  }

  /** The episode is over: the outputs played a while, or nothing is left to play (no more tries). */
  settled(): void {
    if (this.error !== null && this.delayUs > 0) this.log.info("speaker: nothing left to play; no longer trying to open the outputs");
    this.error = null;
    this.delayUs = 0;
  }
}
