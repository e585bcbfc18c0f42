/** Records tolerated beyond twice the live entries before compacting, so small maps do not churn. */
const COMPACT_SLACK = 1024;

/**
 * A string-keyed map that remembers the order of `set`s and evicts the least recently set entry
 * beyond `maxEntries`. Why not a plain Map's insertion order: JavaScriptCore keeps deleted entries
 * as tombstones that every new iterator walks past, so "delete the first key" is O(n) and a full
 * cache goes quadratic (measured: 200k evictions took 4.5 s). Here a queue of (key, sequence)
 * records keeps the order; records made stale by a later `set` or `delete` are skipped and
 * compacted away. Shared by the dedup cache, the rate limiter, the job history and the catalogue.
 */
export class LruMap<V> {
  readonly #map = new Map<string, { value: V; seq: number }>();
  #order: { key: string; seq: number }[] = [];
  #head = 0;
  #seq = 0;
  readonly #maxEntries: number;

  constructor(maxEntries: number) {
    this.#maxEntries = Math.max(1, maxEntries);
  }

  get size(): number {
    return this.#map.size;
  }

  get(key: string): V | undefined {
    return this.#map.get(key)?.value;
  }

  /** Stores `value` as the most recent entry, evicting the oldest beyond maxEntries. */
  set(key: string, value: V): void {
    const seq = ++this.#seq;
    this.#map.set(key, { value, seq });
    this.#order.push({ key, seq });
    while (this.#map.size > this.#maxEntries) this.shift();
    this.#compact();
  }

  delete(key: string): void {
    this.#map.delete(key);
  }

  /** The least recently set entry. */
  oldest(): [string, V] | undefined {
    while (this.#head < this.#order.length) {
      const record = this.#order[this.#head]!;
      const entry = this.#map.get(record.key);
      if (entry && entry.seq === record.seq) return [record.key, entry.value];
      this.#head++; // stale: the key was set again later, or deleted
    }
    return undefined;
  }

  /** Removes the least recently set entry. */
  shift(): void {
    const oldest = this.oldest();
    if (oldest) {
      this.#map.delete(oldest[0]);
      this.#head++;
    }
  }

  /** Drops consumed and stale records once they outnumber the live ones; amortized O(1). */
  #compact(): void {
    const pending = this.#order.length - this.#head;
    const mostlyStale = pending > 2 * this.#map.size + COMPACT_SLACK;
    const mostlyConsumed = this.#head > COMPACT_SLACK && this.#head * 2 > this.#order.length;
    if (!mostlyStale && !mostlyConsumed) return;
    this.#order = this.#order.slice(this.#head).filter((r) => this.#map.get(r.key)?.seq === r.seq);
    this.#head = 0;
  }
}
