/**
 * A WAV header at the front of a stream (stdin, a FIFO, a socket), read off it: what `play -`
 * plays a WAV on stdin by, and what `pacer acquire -` sends `arecord -t wav`'s samples by.
 *
 * @example
 * ```ts
 * if (isRiffHead(await stream.peek(4))) { // protocol/wav.ts: RIFF or RF64
 *   const { format, dataBytes } = await readWavHeaderOff(stream, "stdin"); // the stream is at the first sample
 * }
 * ```
 */
import { PacerError } from "../foundation/errors.ts";
import type { SampleFormat } from "../protocol/sample_format.ts";
import { parseWavHeader, WavError } from "../protocol/wav.ts";
import type { StreamSource } from "./stream_source.ts";

/** Bytes first asked for: the header of almost every WAV (acquire's is 44, ffmpeg's 78). */
const FIRST_HEAD_BYTES = 64;

/**
 * Reads the WAV header off the front of `stream`, leaving it at the first sample. Throws a
 * PacerError (one line, naming `label`) for a WAV pacer cannot take or a stream that ends inside
 * its header.
 */
export async function readWavHeaderOff(stream: StreamSource, label: string): Promise<{ format: SampleFormat; dataBytes: number | null; partialFrameBytes: number }> {
  for (let want = FIRST_HEAD_BYTES; ; want *= 2) {
    const head = await stream.peek(want);
    let header;
    try {
      header = parseWavHeader(head, label);
    } catch (error) {
      if (error instanceof WavError) throw new PacerError(error.message);
      throw error;
    }
    if (header.status === "ok") {
      stream.read(Buffer.alloc(header.dataOffset), 0, header.dataOffset);
      return { format: header.format, dataBytes: header.dataBytes, partialFrameBytes: header.partialFrameBytes };
    }
    if (head.length < want) throw new PacerError(`${label}: truncated: the input ends inside the WAV header`);
  }
}
