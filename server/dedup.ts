/**
 * The control endpoint's dedup cache (DESIGN.md, "Dedup"): a repeated request id from the same
 * source address and port within the window gets the *same reply bytes*, and the command is not
 * executed again. Time is passed in (`nowMs`), so there are no timers and tests use a manual clock.
 *
 * A signed request is also remembered by its MAC: the MAC covers the body with its `ts`, so the
 * same MAC again within the window is the same datagram sent again — by its client, or by whoever
 * captured it and resends it from another port or address. It is never executed twice, and its
 * replay says it came from elsewhere (`sameSource` false): the endpoint answers such a copy as an
 * unauthenticated one, no larger than itself, or a capture would reflect the stored reply at
 * whoever the copy's spoofed source names. A client's own retries carry a fresh `ts`, and so a new
 * MAC, and come from its one socket: they are matched by address, port and id, as the same source.
 *
 * Entries live in an LruMap ordered by the time of their last put, so the oldest is always first:
 * expiry and eviction pop from the front in O(1) amortized.
 *
 * @example
 * ```ts
 * const dedup = new DedupCache();
 * const seen = dedup.claim(rinfo.address, rinfo.port, req.id, now);
 * if (seen.kind === "replay") socket.send(seen.reply, rinfo.port, rinfo.address);
 * else if (seen.kind === "new") {
 *   const reply = await execute(req);
 *   dedup.put(rinfo.address, rinfo.port, req.id, reply, clock.nowMs());
 *   socket.send(reply, rinfo.port, rinfo.address);
 * } // "pending": the first copy is still executing; its reply will answer this retry too.
 * ```
 */

import { DEDUP_WINDOW_MS } from "../protocol/control.ts";
import { LruMap } from "./lru_map.ts";

/** Bound on remembered requests; at ~1.5 KB each, about 100 MB at worst. */
export const DEDUP_MAX_ENTRIES = 65_536;

export interface DedupOptions {
  /** How long a reply is remembered, ms; default DEDUP_WINDOW_MS (60 s). */
  readonly windowMs?: number;
  /** Oldest entries are evicted beyond this; default DEDUP_MAX_ENTRIES. */
  readonly maxEntries?: number;
}

export type DedupLookup =
  | { readonly kind: "new" }
  | { readonly kind: "pending" }
  | {
      readonly kind: "replay";
      readonly reply: Uint8Array;
      /** Found by source and id; false when only the MAC matched, a copy from another address or port. */
      readonly sameSource: boolean;
    };

interface Entry {
  /** null while the first copy of the request is still being executed. */
  reply: Uint8Array | null;
  storedAtMs: number;
}

/** The cache key. The id goes last: addresses and ports hold no space, so the key is unambiguous. */
export function dedupKey(address: string, port: number, id: string): string {
  return `${address} ${port} ${id}`;
}

/** The key of a signed datagram: no address starts with "#", so it never meets a dedupKey. */
function macKey(mac: string): string {
  return `#${mac}`;
}

export class DedupCache {
  readonly #entries: LruMap<Entry>;
  readonly #windowMs: number;

  constructor(options: DedupOptions = {}) {
    this.#windowMs = options.windowMs ?? DEDUP_WINDOW_MS;
    this.#entries = new LruMap(options.maxEntries ?? DEDUP_MAX_ENTRIES);
  }

  /** Number of remembered requests (including expired ones not yet swept). */
  get size(): number {
    return this.#entries.size;
  }

  /** The stored reply for this source and id, if still inside the window. */
  get(address: string, port: number, id: string, nowMs: number): Uint8Array | undefined {
    const entry = this.#live(dedupKey(address, port, id), nowMs);
    return entry?.reply ?? undefined;
  }

  /**
   * Looks the request up — by its source and id, and by `mac` when it was signed — and, if it is
   * new, marks it pending so a copy arriving while it still executes is not executed twice. The
   * caller of a "new" claim must `put` the reply (with the same `mac`), or `forget` it when no reply
   * is sent (a drop).
   */
  claim(address: string, port: number, id: string, nowMs: number, mac?: string): DedupLookup {
    const key = dedupKey(address, port, id);
    const fromSource = this.#live(key, nowMs);
    const entry = fromSource ?? (mac === undefined ? undefined : this.#live(macKey(mac), nowMs));
    if (entry) return entry.reply ? { kind: "replay", reply: entry.reply, sameSource: fromSource !== undefined } : { kind: "pending" };
    const pending: Entry = { reply: null, storedAtMs: nowMs };
    this.#insert(key, pending, nowMs);
    if (mac !== undefined) this.#insert(macKey(mac), pending, nowMs);
    return { kind: "new" };
  }

  /** Stores the exact reply bytes sent for this request (and its `mac`, if signed), for the next window. */
  put(address: string, port: number, id: string, reply: Uint8Array, nowMs: number, mac?: string): void {
    const entry: Entry = { reply, storedAtMs: nowMs };
    this.#insert(dedupKey(address, port, id), entry, nowMs);
    if (mac !== undefined) this.#insert(macKey(mac), entry, nowMs);
  }

  /** Forgets a request, so a retry is executed afresh. */
  forget(address: string, port: number, id: string): void {
    this.#entries.delete(dedupKey(address, port, id));
  }

  /** Drops expired entries from the front; called on every insert, callable from a housekeeping tick. */
  sweep(nowMs: number): void {
    for (let oldest = this.#entries.oldest(); oldest; oldest = this.#entries.oldest()) {
      if (!this.#expired(oldest[1], nowMs)) break;
      this.#entries.shift();
    }
  }

  #expired(entry: Entry, nowMs: number): boolean {
    return nowMs - entry.storedAtMs >= this.#windowMs;
  }

  #live(key: string, nowMs: number): Entry | undefined {
    const entry = this.#entries.get(key);
    if (entry && this.#expired(entry, nowMs)) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry;
  }

  #insert(key: string, entry: Entry, nowMs: number): void {
    this.#entries.set(key, entry);
    this.sweep(nowMs);
  }
}
