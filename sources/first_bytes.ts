/**
 * The first `bytes` of a source, then its end: a WAV on a stream whose
 * header gives its data size ends there, as a WAV file does. Without it the
 * chunks after the data (a LIST of tags, a second WAV piped in after the
 * first) were played as samples. A stream that ends before them says so
 * (`endNote`): its header promised more, and the rest never came.
 */
import { SOURCE_END, type Source } from "./source.ts";

export function firstBytes(source: Source, bytes: number): Source {
  let left = bytes;
  let endedShort = false;
  const bounded: Source = {
    label: source.label,
    onReadable: null,
    get endNote() {
      return endedShort ? `ended ${left} bytes short of the ${bytes} bytes of data its WAV header gives (a truncated stream)` : null;
    },
    read(target, position, length) {
      if (left === 0) return SOURCE_END;
      const n = source.read(target, position, Math.min(length, left));
      if (n > 0) left -= n;
      if (n === SOURCE_END) endedShort = true;
      return n;
    },
    rewind: () => false,
    close: () => source.close(),
  };
  source.onReadable = () => bounded.onReadable?.();
  return bounded;
}
