/**
 * The size of a stream backend's PCM unit (cmd:, file:): whole frames lasting about `unitUs`,
 * never more than `maxBytes` (a high rate), and never less than one frame (a rate so low that one
 * frame lasts longer). Bounded by time, not bytes alone: the job converts a unit's time of input
 * at once, so a byte-sized unit at 1 Hz asked for 65536 s of input in one buffer.
 *
 * @example
 * ```ts
 * pcmUnitBytes(parseSampleFormat("s16le:44100:2"), 20_000); // 3528: 882 frames of 4 bytes
 * ```
 */
import { bytesPerFrame, type SampleFormat } from "../protocol/sample_format.ts";
import { US_PER_S } from "../scheduler/clock.ts";

export function pcmUnitBytes(format: SampleFormat, unitUs: number, maxBytes = Infinity): number {
  const frameBytes = bytesPerFrame(format);
  const frames = Math.min(Math.round((format.rate * unitUs) / US_PER_S), Math.floor(maxBytes / frameBytes));
  return Math.max(1, frames) * frameBytes;
}
