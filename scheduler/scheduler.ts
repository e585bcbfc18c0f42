/**
 * The scheduler: one timer wheel, one clock, and the loop that fires events
 * on time. Every timed event in pacer (send, load, write, interest, retry)
 * goes through here.
 *
 * Waiting on the real clock: Bun's timers take whole milliseconds, a
 * zero-delay `setTimeout` sleeps about 1 ms, and wake-ups come late by up to
 * several ms under load (measured on these machines). So the loop sleeps with
 * `setTimeout` until SLEEP_MARGIN_US before the deadline, then hops once
 * through `setImmediate` (pending socket and pipe I/O runs there) and
 * sleeps the last stretch with clock_nanosleep to the absolute deadline
 * (scheduler/precise_sleep.ts). Without libc it polls with setImmediate.
 *
 * @example
 * ```ts
 * const clock = new ManualClock();
 * const scheduler = new Scheduler(clock);
 * const tick = new Timer("send", (t, now) => scheduler.schedule(t, t.deadline + 8000));
 * scheduler.schedule(tick, 8000);
 * scheduler.runUntil(40_000); // fires at 8000, 16000, ... 40000
 * ```
 */
import { type Clock, ManualClock, realClock, US_PER_MS } from "./clock.ts";
import { LatenessHistogram } from "./lateness.ts";
import { Timer, TimerWheel } from "./timer_wheel.ts";
import { preciseSleeper, type PreciseSleeper } from "./precise_sleep.ts";

/** setTimeout must leave this much before the deadline: it wakes up to a few ms late under load. */
const SLEEP_MARGIN_US = 2_000;

export class Scheduler {
  private readonly wheel = new TimerWheel();
  private readonly latenessByKind = new Map<string, LatenessHistogram>();
  private sleeping: ReturnType<typeof setTimeout> | null = null;
  private sleepingUntil = Infinity;
  private polling = false;
  private firing = false;
  private readonly onWake = () => this.wake();
  private readonly onTimeout = () => {
    this.sleeping = null;
    this.sleepingUntil = Infinity;
    this.wake();
  };

  private readonly sleeper: PreciseSleeper | null;
  /** A manual clock moves only when told; nothing waits on it in real time. */
  private readonly manual: boolean;

  constructor(readonly clock: Clock = realClock) {
    this.manual = clock instanceof ManualClock;
    this.sleeper = this.manual ? null : preciseSleeper();
  }

  now(): number {
    return this.clock.now();
  }

  /** The lateness histogram for an event kind (created on first use). */
  lateness(kind: string): LatenessHistogram {
    let h = this.latenessByKind.get(kind);
    if (!h) {
      h = new LatenessHistogram();
      this.latenessByKind.set(kind, h);
    }
    return h;
  }

  latenessKinds(): ReadonlyMap<string, LatenessHistogram> {
    return this.latenessByKind;
  }

  /** Creates a timer whose lateness is recorded under `kind`. */
  timer(kind: string, callback: (timer: Timer, now: number) => void): Timer {
    const t = new Timer(kind, callback);
    t.stats = this.lateness(kind);
    return t;
  }

  /** Schedules (or reschedules) `timer` at absolute time `deadline`. */
  schedule(timer: Timer, deadline: number): void {
    this.wheel.schedule(timer, Math.round(deadline));
    if (!this.firing && !this.manual) this.arm();
  }

  cancel(timer: Timer): void {
    this.wheel.cancel(timer);
  }

  /** The earliest pending deadline, or Infinity when nothing is scheduled. */
  nextDeadline(): number {
    return this.wheel.peek()?.deadline ?? Infinity;
  }

  get pending(): number {
    return this.wheel.size;
  }

  /** Fires every event due at the clock's current time, in deadline order. */
  fireDue(): number {
    let fired = 0;
    this.firing = true;
    try {
      for (;;) {
        const now = this.clock.now();
        const timer = this.wheel.popDue(now);
        if (timer === null) break;
        timer.stats?.record(now - timer.deadline);
        fired++;
        timer.callback(timer, now);
      }
      this.wheel.settle(this.clock.now());
    } finally {
      this.firing = false;
    }
    return fired;
  }

  /**
   * Manual clock only: moves time forward to `until`, stopping at each
   * deadline on the way so every event sees now === its deadline.
   */
  runUntil(until: number): void {
    const clock = this.clock;
    if (!(clock instanceof ManualClock)) throw new Error("runUntil needs a ManualClock");
    for (;;) {
      const next = this.wheel.peek();
      if (next === null || next.deadline > until) break;
      if (next.deadline > clock.now()) clock.set(next.deadline);
      this.fireDue();
    }
    if (until > clock.now()) clock.set(until);
  }

  /** Arms the real-time wake-up for the earliest pending deadline. */
  private arm(): void {
    const next = this.wheel.peek();
    if (next === null) return;
    if (this.polling) return; // a setImmediate poll is already coming
    const sleepMs = this.sleepMsBefore(next.deadline);
    if (sleepMs <= 0) {
      if (this.sleeping) {
        clearTimeout(this.sleeping);
        this.sleeping = null;
        this.sleepingUntil = Infinity;
      }
      this.polling = true;
      setImmediate(this.onWake);
      return;
    }
    const wakeAt = this.clock.now() + sleepMs * US_PER_MS;
    if (this.sleeping && this.sleepingUntil <= wakeAt) return;
    if (this.sleeping) clearTimeout(this.sleeping);
    this.sleepingUntil = wakeAt;
    this.sleeping = setTimeout(this.onTimeout, sleepMs);
  }

  /** Whole ms setTimeout may sleep and still wake SLEEP_MARGIN_US before `deadline`. */
  private sleepMsBefore(deadline: number): number {
    return Math.floor((deadline - SLEEP_MARGIN_US - this.clock.now()) / US_PER_MS);
  }

  private wake(): void {
    this.polling = false;
    if (this.sleeper) {
      // Close enough that a precise sleep beats another trip round the event loop.
      const next = this.wheel.peek();
      if (next !== null && next.deadline > this.clock.now() && this.sleepMsBefore(next.deadline) <= 0) {
        this.sleeper.sleepUntil(next.deadline);
      }
    }
    try {
      this.fireDue();
    } finally {
      // A callback that throws must not leave every other timer without a wake-up.
      this.arm();
    }
  }
}

export { Timer };
