/**
 * Closes the server's TCP listeners (HTTP, `[[live]]`) while it is short of descriptors, and opens
 * them again once it has some. At its descriptor limit, a connection waiting on a listener cannot
 * be accepted (EMFILE) and stays ready: Bun's loop tried again at once, for good, and one such
 * connection held the server at a whole core until a descriptor freed. Bun gives a listener no
 * hook for the usual spare-descriptor trick, so the listener goes instead, as nginx stops
 * accepting for a while: connections are refused meanwhile, those already open go on. The
 * control port is UDP and takes no descriptor per client; it stays.
 *
 * A look every WATCH_MS; closed below PAUSE_BELOW free, opened at RESUME_AT (apart, so a server
 * at the edge does not flap). A listener that cannot be opened again (its port taken meanwhile,
 * or a port below 1024 after root was dropped) is said once and tried at each look.
 *
 * @example
 * ```ts
 * const watch = new DescriptorWatch([http, ...liveChannels], log);
 * watch.start();
 * watch.stop();
 * ```
 */
import { type DescriptorRoom, descriptorRoom } from "../foundation/descriptor_room.ts";
import type { Logger } from "../foundation/log.ts";

/** How often the watch looks; a listener spins at most this long at the limit. */
const WATCH_MS = 500;
/** Fewer free than this closes the listeners: before the last, so they seldom spin at all. */
export const PAUSE_BELOW = 8;
/** Free descriptors from which they open again. */
export const RESUME_AT = 16;

/** A listener the watch can close and open again on the port it had. */
export interface PausableListener {
  /** For the log: `HTTP 127.0.0.1:9090`, `live "cam1" 0.0.0.0:5000`. */
  readonly label: string;
  /** Stops accepting; connections already open go on. */
  pause(): void;
  /** Listens again; throws as the first listen did. */
  resume(): Promise<void> | void;
}

export class DescriptorWatch {
  #paused = new Set<PausableListener>();
  #unresumable = new Set<PausableListener>();
  #timer: ReturnType<typeof setInterval> | null = null;
  /** A look under way (a resume awaits a listen): the next waits for the one after it. */
  #looking = false;

  constructor(
    private readonly listeners: readonly PausableListener[],
    private readonly log: Logger,
    /** The room now: /proc's, or a test's. */
    private readonly room: () => DescriptorRoom = descriptorRoom,
  ) {}

  get paused(): boolean {
    return this.#paused.size > 0;
  }

  start(): void {
    if (this.listeners.length === 0) return;
    this.room(); // reads the limit while there is room to, for the line said when there is none
    this.#timer = setInterval(() => {
      if (this.#looking) return;
      this.#looking = true;
      void this.look().finally(() => (this.#looking = false));
    }, WATCH_MS);
    this.#timer.unref?.();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** One look: closes or opens the listeners as the room says. */
  async look(): Promise<void> {
    const { free, limit } = this.room();
    if (free < PAUSE_BELOW) {
      // Those open: all of them, or one that listened again while another could not.
      const open = this.listeners.filter((listener) => !this.#paused.has(listener));
      if (open.length === 0) return;
      for (const listener of open) {
        listener.pause();
        this.#paused.add(listener);
      }
      this.log.warn(
        `${free} descriptors free${Number.isFinite(limit) ? ` of ${limit}` : ""} (LimitNOFILE, ulimit -n): listeners closed (${open.map((l) => l.label).join(", ")}) ` +
          `until ${RESUME_AT} are, so that a connection the server cannot accept does not spin it; new connections are refused meanwhile`,
      );
      return;
    }
    if (!this.paused || free < RESUME_AT) return;
    for (const listener of [...this.#paused]) {
      try {
        await listener.resume();
        this.#paused.delete(listener);
        this.#unresumable.delete(listener);
      } catch (error) {
        if (!this.#unresumable.has(listener)) this.log.error(`${listener.label}: cannot listen again (${(error as Error).message}); trying again every ${WATCH_MS} ms`);
        this.#unresumable.add(listener);
      }
    }
    if (!this.paused) this.log.info(`${free} descriptors free again: listeners open`);
  }
}
