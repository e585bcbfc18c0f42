/**
 * A hashed timer wheel: every timed event in pacer lives here.
 *
 * Deadlines are absolute integer microseconds (scheduler/clock.ts). The wheel
 * has 4096 slots of 256 µs (about one second per turn); each slot holds an
 * intrusive doubly linked list kept sorted by deadline, so events fire in
 * deadline order, and cancelling is an O(1) unlink. Periodic senders append
 * near the tail, so insertion is O(1) in the common case. An occupancy
 * bitmap makes finding the next deadline a scan of 128 words at most.
 *
 * @example
 * ```ts
 * const wheel = new TimerWheel();
 * const t = new Timer("send", (timer, now) => console.log("fired at", now));
 * wheel.schedule(t, 1000);
 * wheel.peek()?.deadline; // 1000
 * wheel.cancel(t);
 * ```
 */
import type { LatenessHistogram } from "./lateness.ts";

const SLOT_SHIFT = 8; // 256 µs per slot
const SLOT_BITS = 12;
const SLOTS = 1 << SLOT_BITS;
const SLOT_MASK = SLOTS - 1;
const WORDS = SLOTS >> 5;

export type TimerCallback = (timer: Timer, now: number) => void;

/** One timed event. Reused across firings: periodic senders reschedule the same Timer. */
export class Timer {
  deadline = 0;
  /** Which slot list holds it, or -1 when not scheduled. */
  slot = -1;
  prev: Timer | null = null;
  next: Timer | null = null;
  /** Where this event's lateness is recorded (set by the Scheduler). */
  stats: LatenessHistogram | null = null;

  constructor(
    /** The event kind, for lateness statistics: "send", "load", "interest"... */
    readonly kind: string,
    public callback: TimerCallback,
    /**
     * Whose event it is, for a callback that many timers share: a thousand destinations' send
     * events then call one function, not a closure each that is one more cold object to touch.
     */
    readonly owner: unknown = null,
  ) {}

  get scheduled(): boolean {
    return this.slot >= 0;
  }
}

function tickOf(deadline: number): number {
  return Math.floor(deadline / (1 << SLOT_SHIFT));
}

export class TimerWheel {
  private readonly heads: (Timer | null)[] = new Array(SLOTS).fill(null);
  private readonly tails: (Timer | null)[] = new Array(SLOTS).fill(null);
  private readonly occupied = new Uint32Array(WORDS);
  /** No pending timer has a tick below this (those scheduled in the past are clamped to it). */
  private cursorTick = 0;
  size = 0;

  schedule(timer: Timer, deadline: number): void {
    if (timer.slot >= 0) this.cancel(timer);
    timer.deadline = deadline;
    const tick = Math.max(tickOf(deadline), this.cursorTick);
    const slot = tick & SLOT_MASK;
    // Walk back from the tail: equal deadlines keep FIFO order.
    let after: Timer | null = this.tails[slot]!;
    while (after !== null && after.deadline > deadline) after = after.prev;
    if (after === null) {
      timer.prev = null;
      timer.next = this.heads[slot]!;
      if (timer.next) timer.next.prev = timer;
      else this.tails[slot] = timer;
      this.heads[slot] = timer;
    } else {
      timer.prev = after;
      timer.next = after.next;
      if (after.next) after.next.prev = timer;
      else this.tails[slot] = timer;
      after.next = timer;
    }
    timer.slot = slot;
    this.occupied[slot >> 5]! |= 1 << (slot & 31);
    this.size++;
  }

  cancel(timer: Timer): void {
    const slot = timer.slot;
    if (slot < 0) return;
    if (timer.prev) timer.prev.next = timer.next;
    else this.heads[slot] = timer.next;
    if (timer.next) timer.next.prev = timer.prev;
    else this.tails[slot] = timer.prev;
    if (this.heads[slot] === null) this.occupied[slot >> 5]! &= ~(1 << (slot & 31));
    timer.prev = timer.next = null;
    timer.slot = -1;
    this.size--;
  }

  /** The pending timer with the earliest deadline, or null. */
  peek(): Timer | null {
    if (this.size === 0) return null;
    const startSlot = this.cursorTick & SLOT_MASK;
    // First pass: the first occupied slot (in ring order from the cursor) whose
    // head belongs to this turn of the wheel holds the global minimum.
    for (let i = 0; i < SLOTS; ) {
      const slot = (startSlot + i) & SLOT_MASK;
      const word = this.occupied[slot >> 5]! >>> (slot & 31);
      if (word === 0) {
        i += 32 - (slot & 31); // skip the rest of this word
        continue;
      }
      const skip = 31 - Math.clz32(word & -word); // trailing zeros
      if (skip > 0) {
        i += skip;
        continue;
      }
      const head = this.heads[slot]!;
      if (Math.max(tickOf(head.deadline), this.cursorTick) - this.cursorTick < SLOTS) return head;
      i++;
    }
    // Only timers more than one turn ahead: the minimum of the heads.
    let best: Timer | null = null;
    for (let slot = 0; slot < SLOTS; slot++) {
      const head = this.heads[slot]!;
      if (head && (best === null || head.deadline < best.deadline)) best = head;
    }
    return best;
  }

  /**
   * Removes and returns the earliest timer if it is due at `now`, or, when it is of kind
   * `earlyKind`, within `earlyUs` after `now` (batched sends: scheduler.ts).
   */
  popDue(now: number, earlyUs = 0, earlyKind = ""): Timer | null {
    const head = this.peek();
    if (head === null || head.deadline > (head.kind === earlyKind ? now + earlyUs : now)) return null;
    this.cancel(head);
    const tick = tickOf(head.deadline);
    if (tick > this.cursorTick) this.cursorTick = tick;
    return head;
  }

  /** Records that everything due up to `now` has fired, so the scan starts there. */
  settle(now: number): void {
    const tick = tickOf(now);
    const head = this.peek();
    // Never move the cursor past a pending timer.
    const limit = head ? Math.min(tick, tickOf(head.deadline)) : tick;
    if (limit > this.cursorTick) this.cursorTick = limit;
  }
}
