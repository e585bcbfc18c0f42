/**
 * The speaker's look at one session's outputs, from its tick: whether they
 * still take the stream, and what each lost since the last look. A stuck
 * output (a command that never reads its stdin, a device that stopped) holds
 * the playhead still while audio waits for it; one that is merely slow still
 * moves it. What an output drops (a command that died, or exits at once)
 * goes on at the playhead's pace, so it is charged to the track there.
 *
 * @example
 * ```ts
 * const watch = new OutputWatch(job.destinations, scheduler.now());
 * if (watch.stillFor(now, head, waiting) >= OUTPUT_STALL_US) void job.stop(graceUs);
 * watch.chargeLoss(track); // track.lostUs: what each output lost of it
 * ```
 */
import type { Destination } from "../pipeline/destination.ts";
import type { Track } from "./track.ts";

export class OutputWatch {
  private head = -1;
  private movedAt: number;
  /** Each output's lostUs() at the last look. */
  private readonly lostSeen: Float64Array;

  constructor(
    private readonly destinations: readonly Destination[],
    now: number,
  ) {
    this.movedAt = now;
    this.lostSeen = new Float64Array(destinations.length);
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

  /**
   * What each output lost since the last look is charged to `track`, the one at the playhead
   * meanwhile; with none (silence, the stream's end) it is forgotten. Charged a tick at a time, a
   * track's share may be off by up to a tick (and a unit) where one track follows another.
   */
  chargeLoss(track: Track | null): void {
    for (let i = 0; i < this.destinations.length; i++) {
      const lost = this.destinations[i]!.lostUs();
      const delta = lost - this.lostSeen[i]!;
      if (!(delta > 0)) continue;
      this.lostSeen[i] = lost;
      track?.addLoss(i, this.destinations.length, delta);
    }
  }
}
