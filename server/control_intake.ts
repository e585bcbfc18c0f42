/**
 * The control intake: control datagrams wait here between the socket and the endpoint, and are
 * handled in short slices on the scheduler, so media keeps its schedule however fast requests
 * come. pacer serve is one thread; a request (receive, HMAC, JSON, the op, the reply) costs ~30 µs,
 * and handled straight from the socket a flood of them delays every send behind it (measured with
 * `npm run bench -- --only control`: 14,000 requests/s pushed p99 send lateness from 0.9 to 176 ms
 * and cut 500 streams to 65 % of their rate).
 *
 * A slice is a "control" event in the scheduler, so sends already due go first. It handles queued
 * datagrams until it has used its budget (`sliceUs`) or another event falls due, whichever comes
 * first, but always at least one; the next slice comes `periodUs` after the previous one started.
 * Control thus gets at most sliceUs / periodUs of the loop under a flood (less when media keeps
 * the loop busy: with 500 streams a send falls due every ~16 µs, so a slice handles one or two
 * requests), a send waits behind at most one request, and an idle server answers at once. When the queue is full, datagrams are
 * dropped on arrival (counted as `overloaded`); clients resend, and dedup makes that safe.
 *
 * An op that waits (play opens files) finishes in the background; only its synchronous part counts
 * against the slice.
 *
 * @example
 * ```ts
 * const intake = new ControlIntake(scheduler, (d) => endpoint.handle(d.bytes, d.address, d.port, d.send));
 * if (!intake.offer({ bytes, address, port, send })) counters.overloaded++;
 * ```
 */
import type { Scheduler, Timer } from "../scheduler/scheduler.ts";

/** One datagram as it arrived, with the way to answer its source. */
export interface QueuedDatagram {
  readonly bytes: Uint8Array;
  readonly address: string;
  readonly port: number;
  readonly send: (reply: Uint8Array) => void;
}

export interface IntakeShape {
  /** Datagrams that may wait; 256 of at most 1400 bytes bound the queue to ~350 KiB. */
  readonly capacity: number;
  /** Time a slice may spend handling requests before it yields, µs. */
  readonly sliceUs: number;
  /** Slices start at least this far apart, µs. */
  readonly periodUs: number;
}

/**
 * 50 µs of every ms. Receiving, replying and collecting garbage cost about as much again outside
 * the slice, so a flood takes ~10 % of the loop: on the 2-CPU bench host, with 500 streams using
 * ~78 % of it, that answered ~1,800 requests/s and moved p99 send lateness by 0.33–0.43 ms.
 * A 150 µs slice answered ~5,800/s but saturated the loop and moved p99 by ~2 ms.
 */
export const DEFAULT_INTAKE: IntakeShape = { capacity: 256, sliceUs: 50, periodUs: 1_000 };

export class ControlIntake {
  readonly #scheduler: Scheduler;
  readonly #handle: (datagram: QueuedDatagram) => unknown;
  readonly #shape: IntakeShape;
  /** A ring of queued datagrams. */
  readonly #ring: (QueuedDatagram | undefined)[];
  #head = 0;
  #size = 0;
  readonly #slice: Timer;
  #armed = false;
  #lastSliceAt = -Infinity;

  constructor(scheduler: Scheduler, handle: (datagram: QueuedDatagram) => unknown, shape: IntakeShape = DEFAULT_INTAKE) {
    this.#scheduler = scheduler;
    this.#handle = handle;
    this.#shape = shape;
    this.#ring = new Array(shape.capacity);
    this.#slice = scheduler.timer("control", (_t, now) => this.#runSlice(now));
  }

  /** Datagrams waiting now. */
  get queued(): number {
    return this.#size;
  }

  /** Queues a datagram; false when the queue is full (the caller counts the drop). */
  offer(datagram: QueuedDatagram): boolean {
    if (this.#size === this.#shape.capacity) return false;
    this.#ring[(this.#head + this.#size) % this.#shape.capacity] = datagram;
    this.#size++;
    if (!this.#armed) {
      this.#armed = true;
      this.#scheduler.schedule(this.#slice, Math.max(this.#scheduler.now(), this.#lastSliceAt + this.#shape.periodUs));
    }
    return true;
  }

  /** Forgets what is queued (shutdown). */
  clear(): void {
    this.#ring.fill(undefined);
    this.#head = 0;
    this.#size = 0;
    if (this.#armed) this.#scheduler.cancel(this.#slice);
    this.#armed = false;
  }

  #runSlice(startedAt: number): void {
    this.#lastSliceAt = startedAt;
    const clock = this.#scheduler.clock;
    const stopAt = startedAt + this.#shape.sliceUs;
    try {
      // At least one per slice, so a request slower than the slice still makes progress.
      do {
        const datagram = this.#ring[this.#head]!;
        this.#ring[this.#head] = undefined;
        this.#head = (this.#head + 1) % this.#shape.capacity;
        this.#size--;
        this.#handle(datagram);
      } while (this.#size > 0 && clock.now() < stopAt && this.#scheduler.nextDeadline() > clock.now());
    } finally {
      // Handlers are not meant to throw; if one does, the queue must still not stall.
      if (this.#size > 0) this.#scheduler.schedule(this.#slice, startedAt + this.#shape.periodUs);
      else this.#armed = false;
    }
  }
}
