/**
 * A WAV on a stream whose header leaves the data size open plays to the end of the stream; but
 * GStreamer's wavenc, which cannot seek back on a pipe, ends that stream with a LIST chunk of its
 * tags, and it was played as 3 frames of noise. Here the last bytes that could be the start of
 * such a chunk (protocol/wav.ts trailerStart) are held back, and given on as soon as more bytes
 * show they are samples; a chunk that ends the stream exactly is dropped. The hold is what a
 * chunk id and a size in the samples would need, which silence and almost all audio never show.
 *
 * @example
 * ```ts
 * const source = trailerHeld(stream, 4); // stdin's samples, without a LIST that ends it
 * ```
 */
import { MAX_TRAILER_BYTES, trailerStart } from "../protocol/wav.ts";
import { SOURCE_END, type Source } from "./source.ts";

export function trailerHeld(source: Source, frameBytes: number): Source {
  // One longer than the longest trailer: full, it always shows that its first byte is a sample.
  const tail = Buffer.alloc(MAX_TRAILER_BYTES + 1);
  let tailBytes = 0;
  /** Data offset of tail[0]: trailers begin at whole frames. */
  let given = 0;
  let ended = false;

  /** Reads on into the tail, then gives what it has shown to be samples; drops a trailer at the end. */
  const fromTail = (target: Buffer, at: number, length: number): number => {
    if (!ended && tailBytes < tail.length) {
      const n = source.read(tail, tailBytes, tail.length - tailBytes);
      if (n === SOURCE_END) ended = true;
      else tailBytes += n;
    }
    const samples = trailerStart(tail, 0, tailBytes, given, frameBytes, ended);
    if (samples === 0) {
      if (!ended) return 0; // the source calls onReadable when more comes, or at its end
      tailBytes = 0;
      return SOURCE_END;
    }
    const n = Math.min(length, samples);
    tail.copy(target, at, 0, n);
    tail.copyWithin(0, n, tailBytes);
    tailBytes -= n;
    given += n;
    return n;
  };

  const held: Source = {
    label: source.label,
    onReadable: null,
    get endNote() {
      return source.endNote ?? null;
    },
    read(target, at, length) {
      if (tailBytes > 0) return fromTail(target, at, length);
      if (ended) return SOURCE_END;
      const n = source.read(target, at, length);
      if (n <= 0) {
        if (n === SOURCE_END) ended = true;
        return n;
      }
      const keep = trailerStart(target, at, at + n, given, frameBytes, false);
      target.copy(tail, 0, keep, at + n);
      tailBytes = at + n - keep;
      given += keep - at;
      return keep > at ? keep - at : fromTail(target, at, length);
    },
    rewind: () => false,
    close: () => source.close(),
  };
  source.onReadable = () => held.onReadable?.();
  return held;
}
