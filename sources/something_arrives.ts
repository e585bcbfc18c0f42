/**
 * A stream that must give something: one that ends before its first byte (`producer | pacer play -`
 * whose producer failed, `</dev/null`) is an input that failed, said in the same words whether its
 * kind was found from its first bytes or given (`--format`, read from the first byte as it comes).
 * With --format it had played nothing and exited 0, saying nothing, where without it the same empty
 * stdin was `stdin: nothing arrived`, exit 1.
 *
 * @example
 * ```ts
 * const source = somethingArrives(stream); // read() throws `stdin: nothing arrived` at an empty end
 * ```
 */
import { PacerError } from "../foundation/errors.ts";
import { SOURCE_END, type Source } from "./source.ts";

/** The error for an input that ended before its first byte, naming how it ended where that is known. */
export function nothingArrived(label: string, endNote: string | null | undefined): PacerError {
  return new PacerError(`${label}: ${endNote ? `${endNote} before sending anything` : "nothing arrived"}`);
}

/** `nothing`: the error where a stream's kind says more than that nothing came (a WAV header and no samples). */
export function somethingArrives(source: Source, nothing = () => nothingArrived(source.label, source.endNote)): Source {
  let arrived = false;
  const guarded: Source = {
    label: source.label,
    onReadable: null,
    // How the input ended (a WAV stream short of the size its header gives) is still said.
    get endNote() {
      return source.endNote ?? null;
    },
    read(target, position, length) {
      const n = source.read(target, position, length);
      if (n > 0) arrived = true;
      else if (n === SOURCE_END && !arrived) throw nothing();
      return n;
    },
    rewind: () => false,
    close: () => source.close(),
  };
  source.onReadable = () => guarded.onReadable?.();
  return guarded;
}
