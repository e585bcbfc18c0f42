/**
 * The first bytes of a live channel's current source, kept so that a `live:` job started while a
 * WAV stream is under way can still read its header: `pacer acquire` sends PCM as one WAV stream
 * of unknown length, and a job that found no header took what it read for data (paced by arrival,
 * refused by rtp://). Such a job is given the header, then the samples from the next whole frame
 * at the live edge (live_job.ts). A reader at a source's first byte finds its header with
 * {@link wavStartOf}, from the ring: it may be sources behind the one kept here.
 *
 * @example
 * ```ts
 * const head = new SourceHead();
 * head.began(ring.written);        // a source connects
 * head.arrived(chunk);             // its bytes, as they are written to the ring
 * head.wavJoin(ring.written);      // { header, from } while a WAV stream runs, else null
 * ```
 */
import { bytesPerFrame, type SampleFormat } from "../../protocol/sample_format.ts";
import { declareDataBytes, parseWavHeader, type WavHeaderResult } from "../../protocol/wav.ts";

/** Bytes kept: a WAV header with the usual chunks before its data (acquire's is 44; ffmpeg's and sox's under 100). */
export const HEAD_BYTES = 4096;

export interface WavJoin {
  /** The source's WAV header, up to its first sample (empty: read it from the source, `from` is its first byte). */
  readonly header: Uint8Array;
  /** Null while the header is still arriving. */
  readonly format: SampleFormat | null;
  /** The stream offset of the next whole frame at the live edge. */
  readonly from: number;
}

/** A source's WAV header found: its samples' format, and where its first sample is from the source's first byte. */
export interface WavStart {
  readonly format: SampleFormat;
  readonly dataOffset: number;
}

/**
 * The WAV header in a source's first bytes (up to HEAD_BYTES of them): "wait" while more of it
 * may come, null when the source is no WAV or `ended` (a later source began) with no whole header.
 */
export function wavStartOf(first: Uint8Array, ended: boolean): WavStart | "wait" | null {
  const parsed = parseHead(first.subarray(0, HEAD_BYTES));
  if (parsed === null) return null;
  if (parsed.status !== "ok") return !ended && first.length < HEAD_BYTES ? "wait" : null;
  return { format: parsed.format, dataOffset: parsed.dataOffset };
}

/** `bytes` as a WAV header; null when they are no WAV. */
function parseHead(bytes: Uint8Array): WavHeaderResult | null {
  try {
    return parseWavHeader(bytes);
  } catch {
    return null; // not a WAV: readers take the bytes as they come, as before
  }
}

export class SourceHead {
  readonly #bytes = new Uint8Array(HEAD_BYTES);
  #length = 0;
  /** The stream offset of the source's first byte; -1 before any source. */
  #at = -1;

  /** A new source's first byte will be at stream offset `offset`. */
  began(offset: number): void {
    this.#at = offset;
    this.#length = 0;
  }

  /** The source's next bytes (the first HEAD_BYTES are kept). */
  arrived(chunk: Uint8Array): void {
    if (this.#at < 0 || this.#length === HEAD_BYTES) return;
    const n = Math.min(chunk.length, HEAD_BYTES - this.#length);
    this.#bytes.set(n === chunk.length ? chunk : chunk.subarray(0, n), this.#length);
    this.#length += n;
  }

  /**
   * Where a job joining at stream offset `edge` reads a WAV stream from: the header, then the
   * frame boundary at or before `edge`; or, while the header is still arriving, the source's first
   * byte (all it sent is in hand). Null when the source did not begin with a WAV header, or its
   * data (a size it declared) has ended by `edge`.
   */
  wavJoin(edge: number): WavJoin | null {
    const parsed = this.#parse();
    if (parsed === null) return null;
    if (parsed.status !== "ok") {
      return this.#length < HEAD_BYTES && edge - this.#at === this.#length ? { header: new Uint8Array(0), format: null, from: this.#at } : null;
    }
    const dataAt = this.#at + parsed.dataOffset;
    if (edge < dataAt || (parsed.dataBytes !== null && edge >= dataAt + parsed.dataBytes)) return null;
    const frame = bytesPerFrame(parsed.format);
    const from = dataAt + Math.floor((edge - dataAt) / frame) * frame;
    const header = this.#bytes.slice(0, parsed.dataOffset);
    // A size it declared counts from its first sample: the joiner's copy says what is left from `from`.
    if (parsed.dataBytes !== null) declareDataBytes(header, parsed.dataOffset, dataAt + parsed.dataBytes - from);
    return { header, format: parsed.format, from };
  }

  /** The kept bytes as a WAV header; null before any source, or when they are no WAV. */
  #parse(): WavHeaderResult | null {
    return this.#at < 0 ? null : parseHead(this.#bytes.subarray(0, this.#length));
  }
}
