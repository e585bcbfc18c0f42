/**
 * Send records kept back, in order, and counted into their destinations' pacing (SendPacing) in
 * batches. A server's thousand destinations each send once every few ms, so each one's pacing
 * memory is cold at every send, and that first touch cost about 6 % of a server's time (README,
 * "Scale": the record's cost, by ablation). Written here instead, a send touches a few hot,
 * sequential words; a fold counts thousands of records at once, several per destination, so each
 * destination's memory is fetched once a fold rather than once a send.
 *
 * Order is kept: a restart (SendPacing.restart) is a record too. Whoever reads a destination's
 * pacing folds first (fold), so what it reads includes every send so far.
 *
 * @example
 * ```ts
 * const log = new PacingLog();
 * log.record(pacing, nowUs, dueUs); // cheap: kept back
 * log.foldIfDue();                  // after a scheduler pass: counted once enough are kept
 * log.fold(); pacing.summary();     // a reader: everything counted
 * ```
 */
import type { SendPacing } from "./send_pacing.ts";

/**
 * Records kept before a fold: at 1000 streams of 7 ms datagrams, about 8 per destination, so its
 * memory is fetched once for 8 sends. A fold of 8192 takes 0.25 ms (p50; 0.13 ms for 4096), after
 * a pass's datagrams are out: once every 58 ms at 1000 streams, it may hold the next pass back by
 * that much. Measured side by side (500 looping serve jobs, four runs each): 8192 cost 2.1-3.8 %
 * less CPU than counting at each send, 4096 0.4-2.4 % less (README, "Scale").
 */
const FOLD_AT = 8192;
/** Room past FOLD_AT: a pass that records more folds at once, inside it, rather than grow. */
const CAPACITY = 2 * FOLD_AT;
/** A restart, not a send (in the due slot: a send's due time is a number). */
const RESTART = Number.NaN;

export class PacingLog {
  private readonly targets: (SendPacing | null)[] = new Array(CAPACITY).fill(null);
  /** Pairs: the send's time and its due time (RESTART: a restart). */
  private readonly times = new Float64Array(2 * CAPACITY);
  private count = 0;

  /** A send at `nowUs` that was due at `dueUs` (SendPacing.record), counted at the next fold. */
  record(target: SendPacing, nowUs: number, dueUs: number): void {
    const i = this.count;
    this.targets[i] = target;
    this.times[2 * i] = nowUs;
    this.times[2 * i + 1] = dueUs;
    if (++this.count === CAPACITY) this.fold();
  }

  /** SendPacing.restart, in its place among the sends. */
  restart(target: SendPacing): void {
    this.record(target, 0, RESTART);
  }

  /** Folds once enough records are kept (the scheduler calls this after each pass). */
  foldIfDue(): void {
    if (this.count >= FOLD_AT) this.fold();
  }

  /** Counts every record kept into its destination's pacing. */
  fold(): void {
    const targets = this.targets;
    const times = this.times;
    for (let i = 0; i < this.count; i++) {
      const target = targets[i]!;
      targets[i] = null;
      const due = times[2 * i + 1]!;
      if (due !== due) target.restart(); // RESTART (NaN)
      else target.record(times[2 * i]!, due);
    }
    this.count = 0;
  }
}
