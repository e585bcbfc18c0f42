/**
 * The connections a listen channel holds that are not its source (in the key handshake, or being
 * refused), counted by the peer's address: one address holds at most MAX_PENDING_PER_ADDRESS of
 * them, and at most MAX_PENDING are held in all. Six clients from one address reconnecting in a
 * loop held every handshake slot and the port's connection limit, and kept the real source, from
 * another address, out for as long as they went on. A flood from many addresses is a firewall's job.
 *
 * @example
 * ```ts
 * const pending = new PendingSources();
 * if (pending.take(socket.remoteAddress) !== null) return socket.destroy(); // that address holds its share
 * socket.once("close", () => pending.give(socket.remoteAddress));
 * ```
 */

/** A source needs one connection at a time; two leave room for its retry while the last one closes. */
export const MAX_PENDING_PER_ADDRESS = 2;
/** Held in all, from every address: past this a connection is closed unread (a bound on sockets). */
export const MAX_PENDING = 32;

export class PendingSources {
  readonly #byAddress = new Map<string, number>();
  #total = 0;

  /** Counts one more connection from `address`: null, or why it may not have one (nothing counted). */
  take(address: string): string | null {
    const held = this.#byAddress.get(address) ?? 0;
    if (held >= MAX_PENDING_PER_ADDRESS) return "too many connections from one address";
    if (this.#total >= MAX_PENDING) return "too many connections";
    this.#byAddress.set(address, held + 1);
    this.#total++;
    return null;
  }

  /** The connection `take` counted is gone, or became the source. */
  give(address: string): void {
    const held = this.#byAddress.get(address) ?? 0;
    if (held <= 1) this.#byAddress.delete(address);
    else this.#byAddress.set(address, held - 1);
    this.#total--;
  }
}
