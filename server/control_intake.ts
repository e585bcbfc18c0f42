/**
 * The control intake: control datagrams wait here between the socket and the endpoint, and are
 * handled in short slices on the scheduler, so media keeps its schedule however fast requests
 * come. pacer serve is one thread; a request (receive, HMAC, JSON, the op, the reply) costs ~30 µs,
 * and handled straight from the socket a flood of them delays every send behind it (measured with
 * `npm run bench -- --only control`: 14,000 requests/s pushed p99 send lateness from 0.9 to 176 ms
 * and cut 500 streams to 65 % of their rate). Datagrams wait here only once admitted: within the
 * source's rate limit, at most MAX_DATAGRAM bytes, and on a keyed server with a valid MAC.
 *
 * A slice is a "control" event in the scheduler, so sends already due go first. It handles queued
 * datagrams until it has used its budget (`sliceUs`) or another event falls due, whichever comes
 * first, but always at least one. The next slice comes `periodUs` after the previous one started,
 * or, when nothing else is due within a period (the loop is idle), after a pause as long as the
 * slice just taken; an idle loop also takes a new request at once. Under a flood, control thus gets about sliceUs / periodUs of a busy loop, or one request
 * per period where requests are slower than the budget; less when media keeps the loop busy (with
 * 500 streams a send falls due every ~16 µs, so a slice handles one or two); and half of an idle
 * loop. A send waits behind at most one request, and an idle server answers at once. When the queue is full, datagrams are
 * dropped on arrival (counted as `overloaded`); clients resend, and dedup makes that safe.
 *
 * An op that waits (play opens files) finishes in the background; only its synchronous part counts
 * against the slice. A file play's preparation (its input opened and probed, its job made) takes
 * turns of its own (preparation_turns.ts), so a burst of plays cannot run many in one turn of the loop.
 *
 * The intake only queues and paces; what a datagram is, and how it is answered, is the control
 * endpoint's (control_server.ts), which owns its intake.
 *
 * @example
 * ```ts
 * const intake = new ControlIntake<Admitted>(scheduler, (d) => answer(d), (e) => log.error(String(e)));
 * if (!intake.offer({ body, address, port, source: sourceKey(address) })) counters.overloaded++;
 * ```
 */
import type { Scheduler, Timer } from "../scheduler/scheduler.ts";

/** What the intake needs of a datagram: who sent it, for the per-source share. */
export interface FromSource {
  /** policy.ts sourceKey of the sender's address: an IPv4 host, a global IPv6 /64. */
  readonly source: string;
}

export interface IntakeShape {
  /** Datagrams that may wait; 256 of at most 1400 bytes (larger ones never queue) bound it to ~350 KiB. */
  readonly capacity: number;
  /** Datagrams one source (policy.ts sourceKey: an IPv4 host, a global IPv6 /64) may have waiting, so a few busy sources cannot fill the queue. */
  readonly perSource: number;
  /** Time a slice may spend handling requests before it yields, µs. */
  readonly sliceUs: number;
  /** Slices start at least this far apart, µs. */
  readonly periodUs: number;
}

/**
 * 50 µs of every ms, and only while no send is due. Measured with `npm run bench -- --only
 * control` on the 2-CPU bench host with 500 streams using ~72 % of the loop: a closed-loop flood
 * was answered at ~1,000 requests/s (with a send due every ~16 µs, most slices handle one) and
 * p99 send lateness moved by 0.08 ms (15 s windows; 0.16 ms in 5 s ones). Without the yield to due
 * sends, 50 µs slices answered ~1,800/s and moved p99 by 0.3–0.7 ms; 150 µs slices ~5,800/s and ~2 ms.
 */
export const DEFAULT_INTAKE: IntakeShape = { capacity: 256, perSource: 16, sliceUs: 50, periodUs: 1_000 };

/** A slice firing later than this finds the loop behind its sends (a slow host, a GC pause)… */
const BEHIND_US = 500;
/** …and control then takes one request per this many periods until the loop catches up. */
const BEHIND_PERIODS = 4;

export class ControlIntake<T extends FromSource> {
  readonly #scheduler: Scheduler;
  readonly #handle: (datagram: T) => unknown;
  readonly #shape: IntakeShape;
  /** A ring of queued datagrams. */
  readonly #ring: (T | undefined)[];
  #head = 0;
  #size = 0;
  readonly #slice: Timer;
  #armed = false;
  #lastSliceAt = -Infinity;

  /** Queued datagrams per source (sourceKey). */
  readonly #bySource = new Map<string, number>();
  readonly #onError: (error: unknown) => void;

  /**
   * `handle` runs one datagram; it is not meant to throw, but if it does, `onError` hears of it
   * and the slice goes on (a throw must never reach the scheduler, which runs every send).
   */
  constructor(
    scheduler: Scheduler,
    handle: (datagram: T) => unknown,
    onError: (error: unknown) => void,
    shape: IntakeShape = DEFAULT_INTAKE,
  ) {
    this.#scheduler = scheduler;
    this.#handle = handle;
    this.#onError = onError;
    this.#shape = shape;
    this.#ring = new Array(shape.capacity);
    this.#slice = scheduler.timer("control", (t, now) => this.#runSlice(now, now - t.deadline > BEHIND_US));
  }

  /** Datagrams waiting now. */
  get queued(): number {
    return this.#size;
  }

  /** Queues a datagram; false when the queue, or its source's share of it, is full (the caller counts the drop). */
  offer(datagram: T): boolean {
    if (this.#size === this.#shape.capacity) return false;
    const fromSource = this.#bySource.get(datagram.source) ?? 0;
    if (fromSource >= this.#shape.perSource) return false;
    this.#bySource.set(datagram.source, fromSource + 1);
    this.#ring[(this.#head + this.#size) % this.#shape.capacity] = datagram;
    this.#size++;
    if (!this.#armed) {
      this.#armed = true;
      const now = this.#scheduler.now();
      // An idle loop answers at once; a busy one keeps its slices a period apart.
      this.#scheduler.schedule(this.#slice, this.#idle(now) ? now : Math.max(now, this.#lastSliceAt + this.#shape.periodUs));
    }
    return true;
  }

  /** Forgets what is queued (shutdown). */
  clear(): void {
    this.#ring.fill(undefined);
    this.#bySource.clear();
    this.#head = 0;
    this.#size = 0;
    if (this.#armed) this.#scheduler.cancel(this.#slice);
    this.#armed = false;
  }

  /** Nothing but control is due within a period. */
  #idle(now: number): boolean {
    return this.#scheduler.nextDeadline() - now > this.#shape.periodUs;
  }

  /** `behind`: the slice itself fired late, so the loop is behind its sends: take one request and back off. */
  #runSlice(startedAt: number, behind: boolean): void {
    this.#lastSliceAt = startedAt;
    const clock = this.#scheduler.clock;
    const stopAt = startedAt + this.#shape.sliceUs;
    // At least one per slice, so a request slower than the slice still makes progress.
    do {
      const datagram = this.#ring[this.#head]!;
      this.#ring[this.#head] = undefined;
      this.#head = (this.#head + 1) % this.#shape.capacity;
      this.#size--;
      const left = this.#bySource.get(datagram.source)! - 1;
      if (left === 0) this.#bySource.delete(datagram.source);
      else this.#bySource.set(datagram.source, left);
      try {
        this.#handle(datagram);
      } catch (error) {
        this.#onError(error);
      }
    } while (!behind && this.#size > 0 && clock.now() < stopAt && this.#scheduler.nextDeadline() > clock.now());
    if (this.#size === 0) {
      this.#armed = false;
      return;
    }
    // With nothing else due for a period, the loop is idle: control may have half of it (a pause as
    // long as the slice just taken, however much a slow request made it overrun).
    const now = clock.now();
    const pause = Math.max(this.#shape.sliceUs, now - startedAt);
    const period = behind ? BEHIND_PERIODS * this.#shape.periodUs : this.#shape.periodUs;
    this.#scheduler.schedule(this.#slice, this.#idle(now) ? now + pause : startedAt + period);
  }
}
