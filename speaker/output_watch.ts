/**
 * The speaker's look at one session's outputs, from its tick: whether they
 * still take the stream. A stuck output (a command that never reads its
 * stdin, a device that stopped) holds the playhead still while audio waits
 * for it; one that is merely slow still moves it.
 *
 * @example
 * ```ts
 * const watch = new OutputWatch(scheduler.now());
 * if (watch.stillFor(now, head, waiting) >= OUTPUT_STALL_US) void job.stop(graceUs);
 * ```
 */

export class OutputWatch {
  private head = -1;
  private movedAt: number;

  constructor(now: number) {
    this.movedAt = now;
  }

  /**
   * How long the playhead has stood at `head` while audio waited for the outputs, µs. 0 while it
   * moves, or nothing waits (paused, or all handed over has been taken): the clock starts again.
   */
  stillFor(now: number, head: number, waiting: boolean): number {
    if (!waiting || head !== this.head) {
      this.head = head;
      this.movedAt = now;
      return 0;
    }
    return now - this.movedAt;
  }
}
