/**
 * The key handshakes a listen channel holds at once (MAX_HANDSHAKES), and which one a newcomer
 * takes the slot of when all are taken.
 *
 * A newcomer takes the oldest slot of the address (policy.ts sourceKey) that holds the most, never
 * one of its own address, and never one younger than HANDSHAKE_GRACE_MS. Taking merely the oldest
 * slot of another address let two addresses of silent clients, each back the moment it was closed,
 * crowd out the real source when it had come: four of their reconnects in its round trip were
 * enough, and a loaded host gave them that (CI: `acquire` had to try again). Now, while another
 * address holds two slots, the source's one is never the choice; and a source that has a slot has
 * the grace to answer in, however many addresses churn the others.
 *
 * @example
 * ```ts
 * const slots = new HandshakeSlots<Pending>();
 * if (slots.full) {
 *   const victim = slots.victimFor(key, performance.now());
 *   if (!victim) return refuseBusy();
 *   victim.crowdedOut(); // it leaves the slots (slots.delete) as it is refused
 * }
 * slots.add({ key, since: performance.now(), crowdedOut });
 * ```
 */

/** Connections in the handshake at once. */
export const MAX_HANDSHAKES = 4;
/**
 * A handshake this young keeps its slot: a source answers within a round trip (its HMAC is
 * microseconds), and half a second covers a round trip across the world and a busy host.
 */
export const HANDSHAKE_GRACE_MS = 500;

export interface HandshakeSlot {
  /** The peer's address key (an IPv6 /64 is one address). */
  readonly key: string;
  /** When it connected, in performance.now() milliseconds. */
  readonly since: number;
}

export class HandshakeSlots<Slot extends HandshakeSlot> {
  /** Oldest first (a Set keeps insertion order). */
  readonly #slots = new Set<Slot>();

  get full(): boolean {
    return this.#slots.size >= MAX_HANDSHAKES;
  }

  add(slot: Slot): void {
    this.#slots.add(slot);
  }

  delete(slot: Slot): void {
    this.#slots.delete(slot);
  }

  /** Whose slot a newcomer from `key` may take at `now`, or null: it is told busy. */
  victimFor(key: string, now: number): Slot | null {
    const held = new Map<string, number>();
    for (const slot of this.#slots) held.set(slot.key, (held.get(slot.key) ?? 0) + 1);
    let victim: Slot | null = null;
    let victimHeld = 0;
    // Oldest first, so of the addresses holding as many, the one whose oldest slot is oldest.
    for (const slot of this.#slots) {
      if (slot.key === key || now - slot.since < HANDSHAKE_GRACE_MS) continue;
      const count = held.get(slot.key)!;
      if (count > victimHeld) {
        victim = slot;
        victimHeld = count;
      }
    }
    return victim;
  }
}
