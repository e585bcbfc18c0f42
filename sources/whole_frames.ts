/**
 * PCM plays in whole frames, so an input that ends partway into one leaves those bytes unplayed.
 * That is nearly always a --format that does not fit the input (mono read as stereo, 24-bit read
 * as 16-bit), or a cut WAV; it was dropped without a word. It is said once, at the end, as
 * other notes on how an input ended are (Source.endNote). The wrapped source's own note, where it
 * has one, comes first: how it ended (a truncated WAV, a reset) explains a cut frame.
 *
 * @example
 * ```ts
 * const source = wholeFrames(stream, 4); // endNote "ended 3 bytes into a 4-byte frame; …" at such an end
 * ```
 */
import { SOURCE_END, type Source } from "./source.ts";

/** The note for an input whose last `bytes` were less than a frame of `frameBytes`. */
export function partialFrameNote(bytes: number, frameBytes: number): string {
  return `ended ${bytes} byte${bytes === 1 ? "" : "s"} into a ${frameBytes}-byte frame, which was not played (does the format fit the input?)`;
}

/** `source` counted: its endNote is the source's own, else partialFrameNote where it ended partway into a frame. */
export function wholeFrames(source: Source, frameBytes: number): Source {
  let bytes = 0;
  let ended = false;
  /** The next input followed: the sequence completed the frame with silence, and said so. */
  let completed = false;
  const counted: Source = {
    label: source.label,
    onReadable: null,
    get endNote() {
      if (source.endNote) return source.endNote;
      const partial = bytes % frameBytes;
      return ended && partial > 0 && !completed ? partialFrameNote(partial, frameBytes) : null;
    },
    unitCompleted() {
      completed = true;
    },
    read(target, position, length) {
      const n = source.read(target, position, length);
      if (n > 0) bytes += n;
      else if (n === SOURCE_END) ended = true;
      return n;
    },
    rewind: () => false,
    close: () => source.close(),
  };
  source.onReadable = () => counted.onReadable?.();
  return counted;
}
