/**
 * What a speaker is built from: the `[speaker]` table of the serve config,
 * already validated (server/config.ts parses it). Decoders come only from
 * here, never from a request.
 *
 * @example
 * ```ts
 * const options: SpeakerOptions = {
 *   outputs: ["cmd:aplay -t raw -f S16_LE -r 44100 -c 2"],
 *   format: parseSampleFormat("s16le:44100:2"),
 *   bufferSeconds: 5, idleCloseS: 10, idle: "nothing",
 *   decoders: new Map([["flac", { command: "flac -dcs --force-raw-format --endian=little --sign=signed {path}", format: parseSampleFormat("s16le:44100:2") }]]),
 * };
 * ```
 */
import type { SampleFormat } from "../protocol/sample_format.ts";

/** A command that writes a file's audio to stdout as raw PCM in `format`; `{path}` is replaced by the quoted path. */
export interface DecoderSpec {
  readonly command: string;
  readonly format: SampleFormat;
}

/** `"nothing"`: send nothing while the queue is empty; `"silence"`: keep the outputs fed with silence. */
export type IdleMode = "nothing" | "silence";

export interface SpeakerOptions {
  /** Destination URLs, one destination (with its own send events) each. */
  readonly outputs: readonly string[];
  /** The one format every track is converted to before it is needed. */
  readonly format: SampleFormat;
  /** How far ahead of the output tracks are opened, decoded and converted, s. */
  readonly bufferSeconds: number;
  /** How long after the queue empties the outputs are released, s. */
  readonly idleCloseS: number;
  readonly idle: IdleMode;
  /** Shell commands run (never waited for) as a track starts and ends playing. */
  readonly onStart?: string;
  readonly onFinish?: string;
  /** By lower-case file extension, without the dot. WAV needs none. */
  readonly decoders: ReadonlyMap<string, DecoderSpec>;
  /** Fixed dither seed for repeatable output (tests); random otherwise. */
  readonly ditherSeed?: number;
}

export const DEFAULT_SPEAKER_FORMAT = "s16le:44100:2";
export const DEFAULT_BUFFER_SECONDS = 5;
export const DEFAULT_IDLE_CLOSE_S = 10;
