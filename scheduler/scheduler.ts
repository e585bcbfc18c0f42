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
/** The event kind whose timers may fire early to share a batch (pipeline/destination.ts's send events). */
const BATCHED_KIND = "send";
/**
 * A pass that has fired events for this long, µs, gives the event loop a turn before it goes on
 * with what is still due. A loop behind its sends otherwise keeps firing what falls due while it
 * fires (measured: a first pass of 188 ms at 1000 streams), and no socket is read meanwhile: not
 * control, not a live input, whose kernel buffer overflows. The hop (setImmediate) costs about
 * 1 µs (measured, idle loop): nothing against 5 ms of events.
 */
const PASS_BUDGET_US = 5_000;
/**
 * Passes close together (many streams) give the event loop a turn at least this often, µs, and
 * sleep for the next pass in between (wake): a control request or a live input's datagram waits
 * for at most this much more, well inside what their sockets' buffers hold.
 */
const LOOP_TURN_US = 1_000;

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

  /** Batched sends (batchSends): how early a send event may fire, µs, and what sends the batch. */
  private batchWindowUs = 0;
  private batchFlush: (() => void) | null = null;
  /** When the last pass began (the clock's µs): send events wait for the next window after it. */
  private lastPassAt = -Infinity;

  private readonly sleeper: PreciseSleeper | null;
  /** A manual clock moves only when told; nothing waits on it in real time. */
  private readonly manual: boolean;

  constructor(readonly clock: Clock = realClock) {
    this.manual = clock instanceof ManualClock;
    this.sleeper = this.manual ? null : preciseSleeper(clock);
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

  /**
   * Batched sends (backends/net/send_batcher.ts): send events may fire up to `windowUs` before
   * their deadline, so that one pass gathers every send due within the window, and `flush` sends
   * what they staged. It is called at the end of each pass, before any event of another kind (a
   * slow load never holds staged datagrams back), and whenever the pass has gathered for
   * `windowUs`, so no datagram waits in a batch longer than the window either. A manual clock
   * fires nothing early. One batcher per scheduler; `flush` null removes it.
   */
  batchSends(windowUs: number, flush: (() => void) | null): void {
    this.batchFlush = flush;
    this.batchWindowUs = flush && !this.manual ? windowUs : 0;
  }

  /** True while due events are being fired (a sender staging outside a pass flushes at once). */
  get inPass(): boolean {
    return this.firing;
  }

  /** Creates a timer whose lateness is recorded under `kind`; `owner` is there for a shared `callback` (Timer.owner). */
  timer(kind: string, callback: (timer: Timer, now: number) => void, owner: unknown = null): Timer {
    const t = new Timer(kind, callback, owner);
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
    this.lastPassAt = this.clock.now();
    try {
      const flush = this.batchFlush;
      const window = this.batchWindowUs;
      let gatheringSince = -1;
      const passStart = this.lastPassAt;
      for (;;) {
        const now = this.clock.now();
        // The rest stays due: arm() finds it so and comes back after one turn of the loop.
        if (now - passStart >= PASS_BUDGET_US && !this.manual) break;
        const timer = this.wheel.popDue(now, window, BATCHED_KIND);
        if (timer === null) break;
        if (flush !== null) {
          if (timer.kind !== BATCHED_KIND) {
            flush();
            gatheringSince = -1;
          } else if (gatheringSince < 0) {
            gatheringSince = now;
          } else if (now - gatheringSince >= window) {
            flush();
            gatheringSince = now;
          }
        }
        // A batched send may fire before its deadline (by the window at most): that is not late.
        const late = now - timer.deadline;
        timer.stats?.record(late > 0 ? late : 0);
        fired++;
        timer.callback(timer, now);
      }
      this.wheel.settle(this.clock.now());
    } finally {
      this.firing = false;
      this.batchFlush?.();
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
    const sleepMs = this.sleepMsBefore(this.wakeAt(next));
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

  /**
   * A pass over batched sends made inside an event (a sender thread sleeps for its next datagrams
   * in its send event): the next wake-up keeps a window after it, as after one of this scheduler's.
   */
  notePass(at: number): void {
    if (at > this.lastPassAt) this.lastPassAt = at;
  }

  /** When `timer` may fire: its deadline, or up to the batch window before it for a send event (see batchedWakeAt). */
  private wakeAt(timer: Timer): number {
    return timer.kind === BATCHED_KIND ? batchedWakeAt(timer.deadline, this.batchWindowUs, this.lastPassAt) : timer.deadline;
  }

  /** Whole ms setTimeout may sleep and still wake SLEEP_MARGIN_US before `deadline`. */
  private sleepMsBefore(deadline: number): number {
    return Math.floor((deadline - SLEEP_MARGIN_US - this.clock.now()) / US_PER_MS);
  }

  private wake(): void {
    this.polling = false;
    const turnAt = this.clock.now();
    try {
      for (;;) {
        if (this.sleeper) {
          // Close enough that a precise sleep beats another trip round the event loop.
          const next = this.wheel.peek();
          const at = next === null ? Infinity : this.wakeAt(next);
          if (next !== null && at > this.clock.now() && this.sleepMsBefore(at) <= 0) {
            this.sleeper.sleepUntil(at);
          }
        }
        this.fireDue();
        if (!this.passAgainNow(turnAt)) break;
      }
    } finally {
      // A callback that throws must not leave every other timer without a wake-up.
      this.arm();
    }
  }

  /**
   * Whether the next pass is close enough to sleep for here, rather than after a turn of the
   * event loop: while the loop had its turn (sockets, pipes, control) less than LOOP_TURN_US ago.
   * A turn costs a `setImmediate`, an object for the collector each time: a thousand streams pass
   * about 5000 times a second (docs/scale.md).
   */
  private passAgainNow(turnAt: number): boolean {
    if (this.sleeper === null) return false;
    const next = this.wheel.peek();
    return next !== null && this.clock.now() - turnAt < LOOP_TURN_US && this.sleepMsBefore(this.wakeAt(next)) <= 0;
  }
}

/**
 * When a send event due at `deadline` wakes the thread, with batching window `windowUs` and the
 * last pass begun at `lastPassAt`: at `deadline - windowUs` (a pass then sends everything due
 * within the window), but not before the window after the last pass, unless that is past the
 * deadline itself. Without that floor, destinations whose phases are spread evenly (one job's
 * outputs start one by one) each wake the thread just a window ahead of their own deadline: at
 * 500 streams, measured, 30,000 to 38,000 passes a second of two datagrams each, whatever the
 * window. With it, passes come at most once a window and each takes what falls due in the next.
 * No send waits past its deadline for the grid; none leaves more than the window early.
 */
export function batchedWakeAt(deadline: number, windowUs: number, lastPassAt: number): number {
  return Math.max(deadline - windowUs, Math.min(deadline, lastPassAt + windowUs));
}

/** Resolves `us` from now on `scheduler`'s clock (a manual clock's too, when it gets there). */
export function sleepOn(scheduler: Scheduler, us: number): Promise<void> {
  return new Promise((resolve) => scheduler.schedule(scheduler.timer("retry", () => resolve()), scheduler.now() + us));
}

export { Timer };
