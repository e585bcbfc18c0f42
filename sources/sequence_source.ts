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
 *
 * An input that ends inside a unit (a stream cut 1 byte into a PCM frame, a TS file cut inside a
 * packet) has that unit completed with filler before the next input begins: otherwise every
 * frame after it is read a few bytes off (a hostile try heard the next input as loud noise:
 * `pacer play <(head -c 100001 a.raw) b.raw --format …` shifted b.raw by one byte).
 */
import { PacerError } from "../foundation/errors.ts";
import { bytesPerFrame } from "../protocol/sample_format.ts";
import { TS_SIZE } from "../protocol/mpegts.ts";
import { isM2tsSource } from "./m2ts_source.ts";
import { type InputInfo, SOURCE_END, type Source } from "./source.ts";

/** The whole unit an input is made of, and the byte that completes a cut one. */
export interface InputUnit {
  readonly bytes: number;
  readonly fill: number;
  /** Words for the warning: "frame" and "silence", "packet" and "stuffing". */
  readonly name: string;
  readonly filler: string;
  /** Bytes before the input's first whole unit (a TS cut at its start): its units are counted from there. */
  readonly phase: number;
}

/**
 * PCM: a frame, completed with silence (0x80 is unsigned 8-bit's); MPEG-TS: a packet, with stuffing,
 * counted from `phase` (garbage before its first packet: counted from byte 0, a whole last packet
 * was "completed" with stuffing, and a cut one lost); else a byte.
 */
export function inputUnit(info: InputInfo, phase = 0): InputUnit {
  if (info.format) return { bytes: bytesPerFrame(info.format), fill: info.format.encoding === "u8" ? 0x80 : 0, name: "frame", filler: "silence", phase: 0 };
  if (info.kind === "mpegts") return { bytes: TS_SIZE, fill: 0xff, name: "packet", filler: "stuffing", phase };
  return { bytes: 1, fill: 0, name: "byte", filler: "", phase: 0 };
}

export interface SequenceOptions {
  /** Each input's unit, in order; without them no input is completed. */
  units?: readonly InputUnit[];
  /** Called when an input that ended inside a unit has `filled` bytes added to complete it. */
  onCompleted?: (label: string, filled: number, unit: InputUnit) => void;
}

export function sequenceSource(sources: Source[], options: SequenceOptions = {}): Source {
  if (sources.length === 1) return sources[0]!;
  shareArrivalClock(sources);
  const { units, onCompleted } = options;
  let current = 0;
  /** Bytes handed over from the current input, and filler still owed to complete its last unit. */
  let intoCurrent = 0;
  let owed = 0;
  const sequence: Source = {
    label: sources.map((s) => s.label).join(" + "),
    onReadable: null,
    get inputIndex() {
      return current;
    },
    skipInput() {
      if (current === sources.length - 1) return false;
      current++;
      intoCurrent = 0;
      owed = 0;
      return true;
    },
    read(target, position, length) {
      for (;;) {
        if (owed > 0) {
          // Filler belongs to the input that ended: handed over alone, the next read moves on.
          const n = Math.min(owed, length);
          target.fill(units![current]!.fill, position, position + n);
          owed -= n;
          return n;
        }
        const n = sources[current]!.read(target, position, length);
        if (n !== SOURCE_END) {
          intoCurrent += n;
          return n;
        }
        if (current === sources.length - 1) return n;
        const unit = units?.[current];
        const partial = unit && intoCurrent > unit.phase ? (intoCurrent - unit.phase) % unit.bytes : 0;
        if (partial > 0) {
          owed = unit!.bytes - partial;
          intoCurrent += owed;
          sources[current]!.unitCompleted?.();
          onCompleted?.(sources[current]!.label, owed, unit!);
          continue;
        }
        current++;
        intoCurrent = 0;
      }
    },
    rewind() {
      if (!sources.every((s) => s.rewind())) return false;
      current = 0;
      intoCurrent = 0;
      owed = 0;
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
