/**
 * How finished jobs ended, for `status {job}` (jobs.ts), bounded like everything fed by the
 * network, and shared fairly: once full, the client with the most entries gives up its oldest.
 * With one least-recently-finished order for all, a client that started and ended jobs fast
 * pushed every other client's out, and `pacer recv` asking how its stream ended was told the
 * server no longer knew the job: it asked for the stream again instead of exiting 0.
 *
 * @example
 * ```ts
 * const history = new FinishedHistory(1024);
 * history.add(ipKey("10.0.0.5"), { id: "job-1", source: "a.ts", owner: "10.0.0.5", state: "ended", endedAtMs: Date.now() });
 * history.get("job-1")?.state; // "ended"
 * ```
 */
import { LruMap } from "./lru_map.ts";

/** How a job ended, as `status` reports it. */
export type JobEnd = "ended" | "failed" | "stopped" | "expired";

export interface FinishedJob {
  readonly id: string;
  readonly source: string;
  /** The requester's IP address, as while it ran: only the owner may ask after it. */
  readonly owner: string;
  readonly state: JobEnd;
  readonly endedAtMs: number;
}

export class FinishedHistory {
  /** Each owner's (ipKey) finished jobs, oldest first; an owner with none has no entry. */
  readonly #byOwner = new Map<string, LruMap<FinishedJob>>();
  /** Each remembered job's owner key, to find it by id. */
  readonly #ownerOf = new Map<string, string>();
  readonly #maxEntries: number;

  constructor(maxEntries: number) {
    this.#maxEntries = maxEntries;
  }

  get size(): number {
    return this.#ownerOf.size;
  }

  get(id: string): FinishedJob | undefined {
    const owner = this.#ownerOf.get(id);
    return owner === undefined ? undefined : this.#byOwner.get(owner)?.get(id);
  }

  add(ownerKey: string, job: FinishedJob): void {
    let mine = this.#byOwner.get(ownerKey);
    // One more than the whole history holds, so it never evicts on its own: #evictFromLargest does.
    if (!mine) this.#byOwner.set(ownerKey, (mine = new LruMap(this.#maxEntries + 1)));
    mine.set(job.id, job);
    this.#ownerOf.set(job.id, ownerKey);
    if (this.#ownerOf.size > this.#maxEntries) this.#evictFromLargest();
  }

  /** The oldest entry of the owner holding the most (a walk over owners: once per finished job, never per packet). */
  #evictFromLargest(): void {
    let largest: [string, LruMap<FinishedJob>] | undefined;
    for (const entry of this.#byOwner) if (!largest || entry[1].size > largest[1].size) largest = entry;
    if (!largest) return;
    const [ownerKey, jobs] = largest;
    const oldest = jobs.oldest();
    if (!oldest) return;
    jobs.shift();
    this.#ownerOf.delete(oldest[0]);
    if (jobs.size === 0) this.#byOwner.delete(ownerKey);
  }
}
