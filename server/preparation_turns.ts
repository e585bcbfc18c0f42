/**
 * Plays are prepared one at a time. Preparing one (opening and probing its file, making its
 * read-ahead and its outputs) takes this thread a few hundred µs, in pieces between reads. When a
 * burst of plays was prepared at once, one turn of the loop could run pieces of many of them,
 * ahead of sends already due. While 1000 plays started, sends were up to 8.5 ms late (p99 1.25–2.66
 * ms). Now each preparation begins as a scheduler event, after what is due, and the next begins
 * only when it is done, so one piece at a time runs between two passes of the scheduler (p99
 * 0.23–0.78 ms in 9 runs of 10, the plays answered in about 4 s instead of 1.4; docs/scale.md, "Plays
 * prepared one at a time"). Jobs then start in turns of their own (jobs.ts, START_SPACING_US).
 *
 * A preparation that takes longer than HOLD_US (a file on a slow disk) gives up its turn, so one
 * slow file does not hold every other play back; it goes on preparing beside the next one, and
 * only then may two preparations' pieces meet in one turn of the loop.
 *
 * @example
 * ```ts
 * const turns = new PreparationTurns(scheduler);
 * const job = await turns.take(() => createJob(server, path, name, outputs, ssrcs, choice));
 * ```
 */
import type { Scheduler, Timer } from "../scheduler/scheduler.ts";

/** How long one preparation may keep the turn, µs: one takes about 4 ms on a server sending 1000 streams. */
export const HOLD_US = 50_000;

export class PreparationTurns {
  /** Preparations waiting for their turn, in the order they were asked for. */
  readonly #waiting: { begin(turn: object): void; refuse(error: Error): void }[] = [];
  /** Begins the next preparation, as an event: sends already due go first. */
  readonly #begin: Timer;
  /** Ends a turn held too long. */
  readonly #hold: Timer;
  /** The turn being held, or null: a token of its own each, so a preparation that lost its turn cannot end the next one's. */
  #holder: object | null = null;
  /** Set by close(): why no preparation may begin any more. */
  #closed: Error | null = null;

  constructor(
    private readonly scheduler: Scheduler,
    private readonly holdUs = HOLD_US,
  ) {
    this.#begin = scheduler.timer("start", () => this.#beginNext());
    this.#hold = scheduler.timer("start", () => this.#end(this.#holder));
  }

  /** Preparations waiting (not the one preparing). */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** Runs `prepare` in its turn; settles as it does. */
  take<T>(prepare: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(this.#closed);
    return new Promise<T>((resolve, reject) => {
      const begin = (turn: object) => {
        this.scheduler.schedule(this.#hold, this.scheduler.now() + this.holdUs);
        // A preparation that throws at once ends its turn like one that rejects.
        Promise.resolve()
          .then(prepare)
          .then(resolve, reject)
          .finally(() => this.#end(turn));
      };
      this.#waiting.push({ begin, refuse: reject });
      this.#askForTurn();
    });
  }

  /**
   * Refuses every preparation still waiting, and every one asked for from now on, with `error`
   * (the server stops). One preparing goes on; jobs.ts refuses the job it makes.
   */
  close(error: Error): void {
    this.#closed = error;
    for (const waiting of this.#waiting.splice(0)) waiting.refuse(error);
  }

  #askForTurn(): void {
    if (this.#holder !== null || this.#waiting.length === 0 || this.#begin.scheduled) return;
    this.scheduler.schedule(this.#begin, this.scheduler.now());
  }

  #beginNext(): void {
    const next = this.#waiting.shift();
    if (next === undefined) return;
    const turn = {};
    this.#holder = turn;
    next.begin(turn);
  }

  #end(turn: object | null): void {
    if (turn !== this.#holder) return;
    this.#holder = null;
    this.scheduler.cancel(this.#hold);
    this.#askForTurn();
  }
}
