/**
 * Several inputs played back to back with no gap, as one Source: when one
 * ends the next begins within the same load event. `--loop` rewinds them all.
 */
import { SOURCE_END, type Source } from "./source.ts";

export function sequenceSource(sources: Source[]): Source {
  if (sources.length === 1) return sources[0]!;
  let current = 0;
  const sequence: Source = {
    label: sources.map((s) => s.label).join(" + "),
    onReadable: null,
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
