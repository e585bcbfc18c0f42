/**
 * The sender thread's queue of ring slots by due time. Datagrams arrive in the order the main
 * thread's send events fired, which is the order they are due (every one a lead ahead), so most
 * go to a FIFO: constant time per datagram. The few that come due earlier than the FIFO's last
 * (a stream's start or the first after a gap, due at once; an RTCP packet) go to a short list
 * kept sorted. The next slot out is the earlier of the two heads; on a tie the FIFO's, which was
 * handed over first.
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
  /** Slots due before the FIFO's last when they came, earliest first. */
  private readonly early: Int32Array;
  private earlyCount = 0;

  constructor(
    capacity: number,
    private readonly dueOf: (slot: number) => number,
  ) {
    this.fifo = new Int32Array(capacity);
    this.early = new Int32Array(capacity);
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
    // After every early slot due no later: those came first.
    const early = this.early;
    let i = this.earlyCount++;
    while (i > 0 && this.dueOf(early[i - 1]!) > due) {
      early[i] = early[i - 1]!;
      i--;
    }
    early[i] = slot;
  }

  /** The due time of the next slot out; Infinity when empty. */
  nextDue(): number {
    const fifoDue = this.count > 0 ? this.dueOf(this.fifo[this.head]!) : Infinity;
    const earlyDue = this.earlyCount > 0 ? this.dueOf(this.early[0]!) : Infinity;
    return Math.min(fifoDue, earlyDue);
  }

  /** Removes and returns the next slot out (the queue must not be empty). */
  take(): number {
    const fifoDue = this.count > 0 ? this.dueOf(this.fifo[this.head]!) : Infinity;
    if (this.earlyCount > 0 && this.dueOf(this.early[0]!) < fifoDue) {
      const slot = this.early[0]!;
      this.early.copyWithin(0, 1, this.earlyCount--);
      return slot;
    }
    const slot = this.fifo[this.head]!;
    this.head = (this.head + 1) % this.fifo.length;
    if (--this.count === 0) this.lastFifoDue = -Infinity;
    return slot;
  }
}
