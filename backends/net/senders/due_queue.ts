/**
 * The sender thread's queue of ring slots by due time. Datagrams arrive in the order the main
 * thread's send events fired, which is the order they are due (every one a lead ahead), so most
 * go to a FIFO: constant time per datagram. Those that come due earlier than the FIFO's last (a
 * stream's start or the first after a gap, due at once; an RTCP packet; every destination's
 * catch-up after the thread fell behind, thousands at once) go to a heap by due time, then by the
 * order they came: log time each. The next slot out is the earlier of the two heads; on a tie
 * the FIFO's, which was handed over first (anything added to the FIFO after an early slot is due
 * later than it).
 *
 * @example
 * ```ts
 * const queue = new DueQueue(4096, (slot) => ring.due(slot));
 * queue.add(slot);
 * while (queue.size > 0 && queue.nextDue() <= until) send(queue.take());
 * ```
 */
export class DueQueue {
  private readonly fifo: Int32Array;
  private head = 0;
  private count = 0;
  private lastFifoDue = -Infinity;
  /** Slots due before the FIFO's last when they came: a binary heap, with each one's due time and arrival count. */
  private readonly early: Int32Array;
  private readonly earlyDue: Float64Array;
  private readonly earlyOrder: Float64Array;
  private earlyCount = 0;
  private arrivals = 0;

  constructor(
    capacity: number,
    private readonly dueOf: (slot: number) => number,
  ) {
    this.fifo = new Int32Array(capacity);
    this.early = new Int32Array(capacity);
    this.earlyDue = new Float64Array(capacity);
    this.earlyOrder = new Float64Array(capacity);
  }

  get size(): number {
    return this.count + this.earlyCount;
  }

  add(slot: number): void {
    const due = this.dueOf(slot);
    if (due >= this.lastFifoDue || this.count === 0) {
      this.fifo[(this.head + this.count++) % this.fifo.length] = slot;
      this.lastFifoDue = due;
      return;
    }
    let i = this.earlyCount++;
    const order = this.arrivals++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!earlier(due, order, this.earlyDue[parent]!, this.earlyOrder[parent]!)) break;
      this.place(i, parent);
      i = parent;
    }
    this.early[i] = slot;
    this.earlyDue[i] = due;
    this.earlyOrder[i] = order;
  }

  /** The due time of the next slot out; Infinity when empty. */
  nextDue(): number {
    const fifoDue = this.count > 0 ? this.dueOf(this.fifo[this.head]!) : Infinity;
    const earlyDue = this.earlyCount > 0 ? this.earlyDue[0]! : Infinity;
    return Math.min(fifoDue, earlyDue);
  }

  /** Removes and returns the next slot out (the queue must not be empty). */
  take(): number {
    const fifoDue = this.count > 0 ? this.dueOf(this.fifo[this.head]!) : Infinity;
    if (this.earlyCount > 0 && this.earlyDue[0]! < fifoDue) return this.takeEarly();
    const slot = this.fifo[this.head]!;
    this.head = (this.head + 1) % this.fifo.length;
    if (--this.count === 0) this.lastFifoDue = -Infinity;
    return slot;
  }

  private takeEarly(): number {
    const slot = this.early[0]!;
    const last = --this.earlyCount;
    const moving = this.early[last]!;
    const due = this.earlyDue[last]!;
    const order = this.earlyOrder[last]!;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= last) break;
      if (child + 1 < last && earlier(this.earlyDue[child + 1]!, this.earlyOrder[child + 1]!, this.earlyDue[child]!, this.earlyOrder[child]!)) child++;
      if (!earlier(this.earlyDue[child]!, this.earlyOrder[child]!, due, order)) break;
      this.place(i, child);
      i = child;
    }
    this.early[i] = moving;
    this.earlyDue[i] = due;
    this.earlyOrder[i] = order;
    return slot;
  }

  /** Moves the heap entry at `from` to `to`. */
  private place(to: number, from: number): void {
    this.early[to] = this.early[from]!;
    this.earlyDue[to] = this.earlyDue[from]!;
    this.earlyOrder[to] = this.earlyOrder[from]!;
  }
}

/** Whether an early slot (due, order) goes before another: earlier due, or due together and came first. */
function earlier(due: number, order: number, otherDue: number, otherOrder: number): boolean {
  return due < otherDue || (due === otherDue && order < otherOrder);
}
