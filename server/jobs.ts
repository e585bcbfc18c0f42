/**
 * The server's job table: running push jobs by id and their interest
 * deadlines (DESIGN.md, "Interest"). A job started without `persistent` stops when no `interest`
 * or repeated `play` for it arrives within the interest timeout; a persistent job runs until it
 * ends or is stopped. Finished jobs leave the table at once; a short history remembers how each
 * ended, so a client can tell "the stream ended" from "it expired" (`status {job}`).
 *
 * Ids are random ("job-" and 16 digits, about 53 bits), so one client cannot guess another's: only
 * the owner, or an authenticated request, may act on a job (ops.ts), and an id known only to them
 * keeps even an attempt from finding the job.
 *
 * Interest deadlines are scheduler timers of kind "interest", on the one scheduler of the process.
 *
 * @example
 * ```ts
 * const table = new JobTable({ scheduler, log, interestTimeoutMs: 10_000 });
 * const served = table.add({ job, source: "news.ts", owner: "10.0.0.5", outputs, persistent: false, repeatKey });
 * served.id; // "job-4503599627370496", say
 * table.refresh(served.id); // an interest message arrived
 * await table.stopAll();
 * ```
 */

import type { Logger } from "../foundation/log.ts";
import { ipKey } from "../foundation/net/address.ts";
import type { Job, JobResult } from "../pipeline/job.ts";
import { US_PER_MS } from "../scheduler/clock.ts";
import type { Scheduler, Timer } from "../scheduler/scheduler.ts";
import { type FinishedJob, FinishedHistory, type JobEnd } from "./finished_history.ts";
import { OpError } from "./op_args.ts";
import { PreparationTurns } from "./preparation_turns.ts";

export type { FinishedJob, JobEnd } from "./finished_history.ts";

/** Finished jobs remembered for `status {job}`, of all clients (finished_history.ts shares them out). */
export const FINISHED_HISTORY = 1024;
/**
 * Jobs start one per scheduler event, at least this far apart, µs. A start faults in its
 * read-ahead's pages and makes its first load (about 170 µs for a 1.5 Mbit/s TS); run from the
 * play request's continuation, as it was, it went ahead of sends already due, and a burst of
 * plays ran several in one turn of the loop. As events they go after what is due, one at a time
 * (docs/scale.md). 1000 plays at once are all started within about half a second.
 */
const START_SPACING_US = 500;
/** A job that does not close within this on shutdown is abandoned. */
const STOP_GRACE_MS = 2_000;
/** Digits of a job id: 2^53 fits in 16, and a decimal id still reads as "job-" and a number. */
const JOB_ID_DIGITS = 16;

/** "job-" and a random number below 2^53, zero-padded to JOB_ID_DIGITS. */
function randomJobId(): string {
  const [high, low] = crypto.getRandomValues(new Uint32Array(2));
  const n = (high! & 0x1f_ffff) * 2 ** 32 + low!;
  return `job-${String(n).padStart(JOB_ID_DIGITS, "0")}`;
}

/** Adds `by` to `key`'s count, which leaves the map at 0: one entry per client with jobs, not per client ever seen. */
function countBy(counts: Map<string, number>, key: string, by: number): void {
  const n = (counts.get(key) ?? 0) + by;
  if (n === 0) counts.delete(key);
  else counts.set(key, n);
}

/** What the table runs: a pipeline Job, or a `live:` job that makes one once its channel has data. */
export interface RunningJob {
  readonly done: Promise<JobResult>;
  readonly destinations: Job["destinations"];
  readonly loops: number;
  start(): void;
  stop(): Promise<unknown>;
}

export interface NewServedJob {
  readonly job: RunningJob;
  /** The media name as requested. */
  readonly source: string;
  /** The requester's IP address. */
  readonly owner: string;
  /** The destinations as resolved (IP literals). */
  readonly outputs: readonly string[];
  /** Each output's RTP SSRC (null: not RTP), for a repeated play's reply; absent: not known. */
  readonly ssrcs?: readonly (number | null)[];
  persistent: boolean;
  /** Same requester, media and destinations: a repeated play of this job refreshes it. */
  readonly repeatKey: string;
  /** How the play asked for it (start, loop, bitrate, in words): a repeat must ask the same. */
  readonly how?: string;
}

export interface ServedJob extends NewServedJob {
  readonly id: string;
  /** The owner as a key (ipKey): which jobs a requester may see, without parsing each owner. */
  readonly ownerKey: string;
  readonly startedAtMs: number;
  /** Scheduler time (µs) the interest runs out; null for persistent jobs. */
  interestDeadlineUs: number | null;
  /** Set by stop() and expiry, so the end is reported as asked rather than as "ended". */
  endReason: JobEnd | null;
}

export interface JobTableOptions {
  readonly scheduler: Scheduler;
  readonly log: Logger;
  readonly interestTimeoutMs: number;
}

export class JobTable {
  /** Applies to every refresh from now on (a reload may change it). */
  interestTimeoutMs: number;
  /** Plays being prepared (files opening, hosts resolving), by owner key: they count as jobs (taken, takenBy). */
  readonly #startingByOwner = new Map<string, number>();
  /** Running jobs by owner key: one client's share of max_jobs is counted without a walk over the table. */
  readonly #runningByOwner = new Map<string, number>();
  /** A file play's input and outputs are opened one play at a time, as jobs then start in turn. */
  readonly preparations: PreparationTurns;
  /** Streams being started, by repeat key: a play for the same stream meanwhile waits (startingFor). */
  readonly #startingByRepeatKey = new Map<string, Promise<void>>();
  /** Set by stopAll: no job is added from then on. */
  #stopping = false;
  readonly #scheduler: Scheduler;
  readonly #log: Logger;
  readonly #running = new Map<string, ServedJob>();
  /** running() and ownedBy() as last built; null once a job has come or gone. */
  #runningList: readonly ServedJob[] | null = null;
  #byOwner: Map<string, ServedJob[]> | null = null;
  readonly #timers = new Map<string, Timer>();
  readonly #byRepeatKey = new Map<string, string>();
  readonly #finished = new FinishedHistory(FINISHED_HISTORY);
  /** Totals since start, for metrics. */
  readonly totals = { started: 0, ended: 0, failed: 0, stopped: 0, expired: 0 };
  /** What finished jobs sent, so totals over all jobs survive their removal (metrics). */
  readonly sentByFinished = { units: 0, bytes: 0, errors: {} as Record<string, number> };
  /** Jobs added and not yet started, in order, and the event that starts them in turn. */
  readonly #startQueue: ServedJob[] = [];
  readonly #startTimer: Timer;
  #lastStartAt = -Infinity;

  constructor(options: JobTableOptions) {
    this.#scheduler = options.scheduler;
    this.#startTimer = options.scheduler.timer("start", (_timer, now) => this.#startNext(now));
    this.preparations = new PreparationTurns(options.scheduler);
    this.#log = options.log;
    this.interestTimeoutMs = options.interestTimeoutMs;
  }

  get size(): number {
    return this.#running.size;
  }

  /** Jobs held against limits.max_jobs: those running (ending ones too) and plays being prepared. */
  get taken(): number {
    // One entry per client with plays being prepared: a short walk, once per play asked, rather than a second count kept in step.
    let starting = 0;
    for (const n of this.#startingByOwner.values()) starting += n;
    return this.#running.size + starting;
  }

  /** The same for one client, by its owner key (ipKey), against limits.max_jobs_per_client. */
  takenBy(ownerKey: string): number {
    return (this.#runningByOwner.get(ownerKey) ?? 0) + (this.#startingByOwner.get(ownerKey) ?? 0);
  }

  /** Runs `prepare` (a play's input and outputs opening) counted as a job of `ownerKey` until it settles. */
  async preparing<T>(ownerKey: string, prepare: () => Promise<T>): Promise<T> {
    countBy(this.#startingByOwner, ownerKey, 1);
    try {
      return await prepare();
    } finally {
      countBy(this.#startingByOwner, ownerKey, -1);
    }
  }

  get(id: string): ServedJob | undefined {
    return this.#running.get(id);
  }

  finished(id: string): FinishedJob | undefined {
    return this.#finished.get(id);
  }

  findRepeat(repeatKey: string): ServedJob | undefined {
    const id = this.#byRepeatKey.get(repeatKey);
    const served = id === undefined ? undefined : this.#running.get(id);
    // One already ending (expired, stopped, its outputs closing) is no stream to refresh: a new one starts.
    return served?.endReason === null ? served : undefined;
  }

  /**
   * Running jobs in start order. Built again only after a job comes or goes: status and /metrics
   * ask for it several times a second, and spreading a map of 1000 jobs cost 0.7 ms each time
   * (measured: code that runs that seldom is not compiled), with every stream's sends held.
   */
  running(): readonly ServedJob[] {
    this.#runningList ??= [...this.#running.values()];
    return this.#runningList;
  }

  /** Running jobs in start order whose owner is `ownerKey` (ipKey of an address). */
  ownedBy(ownerKey: string): readonly ServedJob[] {
    if (this.#byOwner === null) {
      this.#byOwner = new Map();
      for (const served of this.running()) {
        const mine = this.#byOwner.get(served.ownerKey);
        if (mine) mine.push(served);
        else this.#byOwner.set(served.ownerKey, [served]);
      }
    }
    return this.#byOwner.get(ownerKey) ?? [];
  }

  /** A job came or went: running() and ownedBy() are built again when next asked. */
  #changed(): void {
    this.#runningList = null;
    this.#byOwner = null;
  }

  /**
   * Runs `start` (a play's preparation and add) as the start of the stream `repeatKey`, so that a
   * play for the same stream meanwhile finds it through startingFor.
   */
  async startingAs<T>(repeatKey: string, start: () => Promise<T>): Promise<T> {
    const run = start();
    const settled = run.then(
      () => {},
      () => {},
    );
    this.#startingByRepeatKey.set(repeatKey, settled);
    try {
      return await run;
    } finally {
      if (this.#startingByRepeatKey.get(repeatKey) === settled) this.#startingByRepeatKey.delete(repeatKey);
    }
  }

  /**
   * Settles once the stream `repeatKey` now being started has started or failed; undefined when
   * none is. A client that asks again with a new id while its play waits its turn (pacer recv
   * does, every 500 ms) then refreshes that stream instead of preparing a second one.
   */
  startingFor(repeatKey: string): Promise<void> | undefined {
    return this.#startingByRepeatKey.get(repeatKey);
  }

  /** Registers and starts a job; non-persistent jobs get their first interest deadline now. */
  add(entry: NewServedJob): ServedJob {
    if (this.#stopping) {
      // Prepared while the server stopped: it would run on after stopAll.
      void entry.job.stop();
      throw new OpError("not_available", "the server is stopping");
    }
    const id = this.#newId();
    const served: ServedJob = { ...entry, id, ownerKey: ipKey(entry.owner), startedAtMs: Date.now(), interestDeadlineUs: null, endReason: null };
    this.#running.set(id, served);
    countBy(this.#runningByOwner, served.ownerKey, 1);
    this.#changed();
    this.#byRepeatKey.set(entry.repeatKey, id);
    if (!entry.persistent) {
      this.#timers.set(id, this.#scheduler.timer("interest", () => this.#expire(id)));
      this.refresh(id);
    }
    this.totals.started++;
    void entry.job.done.then(
      (result) => this.#finish(served, result.inputError || result.failures.length === entry.job.destinations.length ? "failed" : "ended"),
      () => this.#finish(served, "failed"),
    );
    this.#startQueue.push(served);
    if (!this.#startTimer.scheduled) this.#scheduler.schedule(this.#startTimer, Math.max(this.#scheduler.now(), this.#lastStartAt + START_SPACING_US));
    return served;
  }

  /** Starts the next job waiting to (one not already ending), and the one after START_SPACING_US later. */
  #startNext(now: number): void {
    this.#lastStartAt = now;
    let served = this.#startQueue.shift();
    // One stopped or expired while it waited is passed over without taking a turn.
    while (served !== undefined && served.endReason !== null) served = this.#startQueue.shift();
    served?.job.start();
    if (this.#startQueue.length > 0) this.#scheduler.schedule(this.#startTimer, now + START_SPACING_US);
  }

  /** Pushes the job's interest deadline one timeout ahead; returns ms left, null if persistent. */
  refresh(id: string): number | null {
    const served = this.#running.get(id);
    const timer = this.#timers.get(id);
    if (!served || !timer) return null;
    const deadline = this.#scheduler.now() + this.interestTimeoutMs * US_PER_MS;
    served.interestDeadlineUs = deadline;
    this.#scheduler.schedule(timer, deadline);
    return this.interestTimeoutMs;
  }

  /**
   * A persistent repeat of a job started without: the job runs on without interest, rather
   * than a second stream to the same destinations or the asked-for stream expiring.
   */
  makePersistent(id: string): void {
    const served = this.#running.get(id);
    if (!served || served.persistent) return;
    served.persistent = true;
    served.interestDeadlineUs = null;
    this.#cancelInterest(id);
    this.#log.info("job made persistent", { job: id, source: served.source, owner: served.owner });
  }

  /** Ms until the job's interest runs out; null for persistent jobs; 0 for one already ending, which no interest keeps. */
  expiresInMs(served: ServedJob): number | null {
    // Stopped or expired, its outputs closing: its deadline was cancelled, not cleared, and ran on as a stale count.
    if (served.endReason !== null) return 0;
    if (served.interestDeadlineUs === null) return null;
    return Math.max(0, Math.round((served.interestDeadlineUs - this.#scheduler.now()) / US_PER_MS));
  }

  /** Stops a job (a `stop` request or shutdown); resolves once its outputs are closed. */
  async stop(id: string, reason: JobEnd = "stopped"): Promise<void> {
    const served = this.#running.get(id);
    if (!served) return;
    served.endReason ??= reason;
    this.#cancelInterest(id);
    await served.job.stop();
  }

  /** Stops every job, waiting at most STOP_GRACE_MS for outputs to close. */
  async stopAll(): Promise<void> {
    // Plays still waiting to be prepared, or asked for from now on, would start jobs after these stop.
    this.#stopping = true;
    this.preparations.close(new OpError("not_available", "the server is stopping"));
    const stopping = Promise.allSettled(this.running().map((s) => this.stop(s.id)));
    await Promise.race([stopping, Bun.sleep(STOP_GRACE_MS)]);
  }

  /** A random id no running or remembered job has. */
  #newId(): string {
    for (;;) {
      const id = randomJobId();
      if (!this.#running.has(id) && !this.#finished.get(id)) return id;
    }
  }

  #expire(id: string): void {
    const served = this.#running.get(id);
    if (!served) return;
    this.#log.info("interest expired", { job: id, source: served.source, owner: served.owner });
    void this.stop(id, "expired");
  }

  #cancelInterest(id: string): void {
    const timer = this.#timers.get(id);
    if (timer) this.#scheduler.cancel(timer);
    this.#timers.delete(id);
  }

  #finish(served: ServedJob, natural: JobEnd): void {
    if (this.#running.get(served.id) !== served) return;
    const state = served.endReason ?? natural;
    this.#cancelInterest(served.id);
    this.#running.delete(served.id);
    countBy(this.#runningByOwner, served.ownerKey, -1);
    this.#changed();
    if (this.#byRepeatKey.get(served.repeatKey) === served.id) this.#byRepeatKey.delete(served.repeatKey);
    this.#finished.add(served.ownerKey, { id: served.id, source: served.source, owner: served.owner, state, endedAtMs: Date.now() });
    this.totals[state]++;
    for (const d of served.job.destinations) {
      const c = d.backend.counters;
      this.sentByFinished.units += c.units;
      this.sentByFinished.bytes += c.bytes;
      for (const [kind, n] of Object.entries(c.errors)) this.sentByFinished.errors[kind] = (this.sentByFinished.errors[kind] ?? 0) + n;
    }
    this.#log.info(`job ${state}`, { job: served.id, source: served.source });
  }
}
