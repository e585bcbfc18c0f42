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
import { PacerError } from "../foundation/errors.ts";
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
  /** The one format every track is converted to before it is needed (the first, with `follow`). */
  readonly format: SampleFormat;
  /**
   * Play each track in its own format (bit-perfect): the outputs are reopened where the format
   * changes, with a short gap there only. Set by `alsa:DEVICE?follow=1` (see splitFollow).
   */
  readonly follow?: boolean;
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

/**
 * Takes `follow=` off the speaker's outputs: it is the speaker's to act on (the device is opened
 * in each track's format), not the backend's. Throws PacerError for a value other than 0 or 1.
 * Other schemes are left alone (a cmd: line may hold a "?" of its own).
 *
 * @example
 * ```ts
 * splitFollow(["alsa:hw:0?follow=1&buffer=100"]); // { follow: true, outputs: ["alsa:hw:0?buffer=100"] }
 * ```
 */
export function splitFollow(outputs: readonly string[]): { follow: boolean; outputs: string[] } {
  let follow = false;
  const stripped = outputs.map((output) => {
    const question = output.indexOf("?");
    if (question < 0 || !output.startsWith("alsa:")) return output;
    const params = new URLSearchParams(output.slice(question + 1));
    const value = params.get("follow");
    if (value === null) return output;
    if (value !== "0" && value !== "1") throw new PacerError(`${output}: follow=${value}: expected 0 or 1`);
    follow ||= value === "1";
    params.delete("follow");
    const rest = params.toString();
    return rest === "" ? output.slice(0, question) : `${output.slice(0, question)}?${rest}`;
  });
  return { follow, outputs: stripped };
}
