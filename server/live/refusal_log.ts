/**
 * The log lines of a channel's refused sources, at most one per reason every REFUSAL_LOG_MS: the
 * first refusal of a kind is a line of its own, the ones after it within the window one line at
 * its end with their count. Anyone who can reach the port can be refused, and a client reconnecting
 * in a loop was refused (and logged) 2,000 times a second: 47,000 warning lines in 25 s.
 *
 * @example
 * ```ts
 * const refusals = new RefusalLog(log, `live "cam1"`);
 * refusals.refused("busy", "10.0.0.9:40112"); // a line now; more "busy" within 10 s, one line later
 * refusals.close();
 * ```
 */
import type { Logger } from "../../foundation/log.ts";

/** One line per reason at most this often. */
export const REFUSAL_LOG_MS = 10_000;

interface Window {
  /** Refusals since the line that opened the window. */
  more: number;
  lastFrom: string;
  timer: ReturnType<typeof setTimeout>;
}

export class RefusalLog {
  /** Open windows, by reason. */
  readonly #windows = new Map<string, Window>();

  constructor(
    private readonly log: Logger,
    /** Who refused, as lines begin: `live "cam1"`. */
    private readonly who: string,
  ) {}

  refused(why: string, from: string): void {
    const window = this.#windows.get(why);
    if (window) {
      window.more++;
      window.lastFrom = from;
      return;
    }
    this.log.warn(`${this.who}: source refused: ${why}`, { from });
    this.#open(why, from);
  }

  close(): void {
    for (const window of this.#windows.values()) clearTimeout(window.timer);
    this.#windows.clear();
  }

  #open(why: string, from: string): void {
    const timer = setTimeout(() => this.#end(why), REFUSAL_LOG_MS);
    timer.unref();
    this.#windows.set(why, { more: 0, lastFrom: from, timer });
  }

  /** The window's count as one line; a window with any keeps the next one open, so a storm is a line per window. */
  #end(why: string): void {
    const window = this.#windows.get(why)!;
    this.#windows.delete(why);
    if (window.more === 0) return;
    this.log.warn(`${this.who}: ${window.more} more source${window.more === 1 ? "" : "s"} refused in ${REFUSAL_LOG_MS / 1000} s: ${why}`, { last_from: window.lastFrom });
    this.#open(why, window.lastFrom);
  }
}
