/**
 * Several inputs played back to back with no gap, as one Source: when one
 * ends the next begins within the same load event. `--loop` rewinds them all.
 *
 * The first input's clock paces the whole sequence (the job has one). When
 * that is an M2TS's arrival clock, every input must bring arrival stamps, so
 * each later M2TS hands its stamps to that clock; other inputs' PCRs pace
 * later M2TS inputs as plain TS.
 *
 * `inputIndex` says which input `read` is in, so the job can note where each begins in its
 * buffer; `skipInput` leaves the rest of the current one unread (a listener's "next").
 */
import { PacerError } from "../foundation/errors.ts";
import { isM2tsSource } from "./m2ts_source.ts";
import { SOURCE_END, type Source } from "./source.ts";

export function sequenceSource(sources: Source[]): Source {
  if (sources.length === 1) return sources[0]!;
  shareArrivalClock(sources);
  let current = 0;
  const sequence: Source = {
    label: sources.map((s) => s.label).join(" + "),
    onReadable: null,
    get inputIndex() {
      return current;
    },
    skipInput() {
      if (current === sources.length - 1) return false;
      current++;
      return true;
    },
    read(target, position, length) {
      for (;;) {
        const n = sources[current]!.read(target, position, length);
        if (n !== SOURCE_END || current === sources.length - 1) return n;
        current++;
      }
    },
    rewind() {
      if (!sources.every((s) => s.rewind())) return false;
      current = 0;
      return true;
    },
    close() {
      for (const s of sources) s.close();
    },
  };
  for (const s of sources) s.onReadable = () => sequence.onReadable?.();
  return sequence;
}

/** Routes every M2TS input's arrival stamps to the clock of the first input, if stamps pace it. */
function shareArrivalClock(sources: Source[]): void {
  const first = sources[0]!;
  const clock = isM2tsSource(first) ? first.arrivals : null;
  for (const s of sources.slice(1)) {
    if (isM2tsSource(s)) {
      s.arrivals = clock;
    } else if (clock) {
      throw new PacerError(`${s.label} has no arrival time stamps, but ${first.label} is paced by its own: play M2TS and other inputs in separate runs`);
    }
  }
}
