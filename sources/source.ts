/**
 * The input side of a job. A Source hands over bytes when a load event asks
 * for them: files answer at once (fs.readSync into the job's buffer), and
 * pipes and sockets answer from what has arrived, calling `onReadable`
 * when more comes.
 */
import type { MediaKind } from "../protocol/media_kind.ts";
import type { SampleFormat } from "../protocol/sample_format.ts";

export const SOURCE_END = -1;

export interface Source {
  /** The input as the user named it. */
  readonly label: string;
  /**
   * Reads up to `length` bytes into `target[position..]`. Returns the count,
   * 0 when nothing is available yet (then `onReadable` is called later), or
   * SOURCE_END at the end. Throws an Error with a one-line message on a read error.
   */
  read(target: Buffer, position: number, length: number): number;
  /** Set by the job; an asynchronous source calls it when `read` has data again. */
  onReadable: (() => void) | null;
  /** Goes back to the first media byte for `--loop`; false if the input cannot (stdin). */
  rewind(): boolean;
  close(): void;
  /** Several inputs back to back (sequence_source.ts): which one `read` is reading now. */
  readonly inputIndex?: number;
  /** Several inputs: stop reading this one and go on to the next (`n` on a terminal); false on the last. */
  skipInput?(): boolean;
  /**
   * How the input ended, where that is worth one warning line though nothing is wrong with what
   * was read (`the sender reset the connection`); null or absent otherwise.
   */
  readonly endNote?: string | null;
  /**
   * Several inputs: the sequence completed this input's last, cut unit with filler before the
   * next (sequence_source.ts), so a note that its partial unit was not played no longer holds.
   */
  unitCompleted?(): void;
}

/** What an input is, found before it plays: decides pacing and conversion. */
export interface InputInfo {
  readonly label: string;
  readonly kind: MediaKind;
  /** PCM inputs. */
  readonly format?: SampleFormat;
  /** Media bytes, when known (files). */
  readonly mediaBytes?: number;
  /** Duration in µs, when known. */
  readonly durationUs?: number;
}
