/**
 * Paces a live channel's bytes that carry no clock of their own (neither PCM nor MPEG) by the
 * rate they arrive at, smoothed: the rate is read from the channel as bytes are loaded, and
 * a new segment starts only when it has moved by more than RATE_STEP, so pacing stays even while
 * following a source that changes its rate. Time is piecewise linear, so it never goes backwards.
 *
 * @example
 * ```ts
 * const clock = new ArrivalRateClock(() => channel.byteRate());
 * clock.observe(chunk, 0);
 * clock.timeAt(65536); // µs
 * ```
 */
import type { ByteClock } from "../../protocol/mpeg_timing.ts";
import { US_PER_S } from "../../scheduler/clock.ts";

/** A rate change smaller than this (relative) keeps the current segment. */
const RATE_STEP = 0.02;
/** Segments kept; a job asks only about bytes in its read-ahead. */
const SEGMENTS = 64;
/** Until the channel has measured anything: 1 Mbit/s. */
const UNKNOWN_RATE_BYTES_PER_S = 125_000;

export class ArrivalRateClock implements ByteClock {
  readonly #offsets = new Float64Array(SEGMENTS);
  readonly #times = new Float64Array(SEGMENTS);
  readonly #rates = new Float64Array(SEGMENTS);
  #first = 0;
  #count = 0;

  constructor(private readonly measuredRate: () => number) {}

  observe(_chunk: Uint8Array, offset: number): void {
    const rate = this.measuredRate() || UNKNOWN_RATE_BYTES_PER_S;
    if (this.#count > 0) {
      const last = (this.#first + this.#count - 1) % SEGMENTS;
      if (Math.abs(rate - this.#rates[last]!) <= RATE_STEP * this.#rates[last]! || offset <= this.#offsets[last]!) return;
    }
    const at = this.#count > 0 ? this.timeAt(offset) : 0;
    if (this.#count === SEGMENTS) {
      this.#first = (this.#first + 1) % SEGMENTS;
      this.#count--;
    }
    const k = (this.#first + this.#count) % SEGMENTS;
    this.#offsets[k] = this.#count > 0 ? offset : 0;
    this.#times[k] = at;
    this.#rates[k] = rate;
    this.#count++;
  }

  timeAt(offset: number): number {
    if (this.#count === 0) return (offset / UNKNOWN_RATE_BYTES_PER_S) * US_PER_S;
    let k = (this.#first + this.#count - 1) % SEGMENTS;
    for (let i = this.#count - 1; i > 0 && this.#offsets[k]! > offset; i--) k = (k + SEGMENTS - 1) % SEGMENTS;
    return this.#times[k]! + ((offset - this.#offsets[k]!) / this.#rates[k]!) * US_PER_S;
  }

  byteRate(): number {
    return this.#count === 0 ? 0 : this.#rates[(this.#first + this.#count - 1) % SEGMENTS]!;
  }

  discontinuities(): number {
    return 0;
  }

  forget(belowOffset: number): void {
    while (this.#count > 1 && this.#offsets[(this.#first + 1) % SEGMENTS]! <= belowOffset) {
      this.#first = (this.#first + 1) % SEGMENTS;
      this.#count--;
    }
  }
}
