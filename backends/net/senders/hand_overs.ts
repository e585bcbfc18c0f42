/**
 * What a sender thread still holds of one destination's in-place datagrams, so that its job does
 * not reuse their bytes before they are sent (pipeline/job.ts releases no lower than `heldFrom`):
 * a thread that falls behind then sends them late, as the main thread would, instead of finding
 * the bytes gone and dropping them.
 *
 * The thread writes the due time of the last datagram of the destination it has finished with
 * (sent, or dropped) into memory both sides see; it finishes them earliest due first. The main
 * thread keeps the stream offset and due time of each datagram it handed over in place, in the
 * order it handed them over, and forgets those due no later than that. One handed over after a
 * restart, due before others already finished, may be forgotten a little early; the job's time
 * hold (HAND_OVER_HOLD_S) still covers it.
 *
 * @example
 * ```ts
 * const memory = new SharedArrayBuffer(PROGRESS_BYTES);  // the thread gets it too
 * const handOvers = new HandOvers(progressView(memory, 0));
 * handOvers.add(offset, dueUs);                          // on each in-place hand-over
 * handOvers.heldFrom();                                  // Infinity once the thread is past it
 * progressView(memory, 0)[0] = dueUs;                    // the thread, after each datagram
 * ```
 */

/** Bytes of the progress word (a due time, µs, as a float64). */
export const PROGRESS_BYTES = 8;

/** The progress word at byte `at` of `memory`: aligned 8-byte stores and loads, whole on x86-64 and arm64. */
export function progressView(memory: SharedArrayBuffer, at: number): Float64Array {
  return new Float64Array(memory, at, 1);
}

/** Hand-overs the first FIFO holds; it doubles when a thread holds more (a thread far behind). */
const INITIAL_CAPACITY = 64;

export class HandOvers {
  /** Pairs of (stream offset, due time), oldest first, in a ring of `capacity` pairs. */
  private entries = new Float64Array(2 * INITIAL_CAPACITY);
  private capacity = INITIAL_CAPACITY;
  private head = 0;
  private size = 0;

  constructor(private readonly progress: Float64Array) {
    progress[0] = -Infinity;
  }

  /** A datagram at stream offset `offset`, due at `dueUs`, was handed over in place. */
  add(offset: number, dueUs: number): void {
    if (this.size === this.capacity) this.grow();
    const at = 2 * ((this.head + this.size) & (this.capacity - 1));
    this.entries[at] = offset;
    this.entries[at + 1] = dueUs;
    this.size++;
  }

  /** The lowest stream offset handed over that the thread has not finished with; Infinity when none. */
  heldFrom(): number {
    const done = this.progress[0]!;
    const entries = this.entries;
    const mask = this.capacity - 1;
    while (this.size > 0 && entries[2 * this.head + 1]! <= done) {
      this.head = (this.head + 1) & mask;
      this.size--;
    }
    return this.size > 0 ? entries[2 * this.head]! : Infinity;
  }

  /** The thread has let go of all of them (it closed the destination, or failed). */
  clear(): void {
    this.size = 0;
  }

  private grow(): void {
    const grown = new Float64Array(4 * this.capacity);
    for (let i = 0; i < this.size; i++) {
      const from = 2 * ((this.head + i) & (this.capacity - 1));
      grown[2 * i] = this.entries[from]!;
      grown[2 * i + 1] = this.entries[from + 1]!;
    }
    this.entries = grown;
    this.capacity *= 2;
    this.head = 0;
  }
}
