/**
 * An MPEG file's duration along the clock that paces it (PCRs, SCRs, M2TS arrival stamps), as
 * `pacer probe` gives it: from its head and its tail, read without the rest. A file opened for
 * play knows only its head's rate (sources/open_input.ts), which in a variable-rate file can be
 * far off: an ffmpeg encode busier at its start read 4.396 s against the clock's 4.020 s.
 *
 * @example
 * ```ts
 * const opened = await openInput("news.ts");
 * await clockDurationUs(opened, "news.ts"); // 4_020_000, or the head's figure
 * ```
 */
import { open, stat } from "node:fs/promises";
import { probePs, probeTs, type TsProbe } from "../protocol/mpeg_probe.ts";
import { TS_PACKING } from "../protocol/mpegts.ts";
import type { InputPacing, OpenedInput } from "./open_input.ts";

/** Bytes of an MPEG file to time: the whole file, or its head and tail joined at `seamAt`. */
export interface FileSample {
  bytes: Uint8Array;
  seamAt?: number;
  /** Bytes left out between head and tail. */
  cutBytes?: number;
}

/** How much of a file is read: whole up to `wholeLimit`, else `edgeBytes` of head and of tail. */
export interface SampleSize {
  wholeLimit: number;
  edgeBytes: number;
}

/**
 * For `list` and play's progress line: a head and a tail of 1 MiB each hold the first and last
 * clock references of any stream (ISO/IEC 13818-1 has them at most 100 ms apart: 1 MiB is that
 * at 80 Mbit/s), so the figure is probe's, at two reads of 1 MiB a file.
 */
export const EDGES_ONLY: SampleSize = { wholeLimit: 2 << 20, edgeBytes: 1 << 20 };

/**
 * The file's bytes to time, read without loading the rest; asynchronously, so a server's thread
 * (`list`) never waits on a cold disk for them.
 */
export async function fileSample(path: string, size: number, { wholeLimit, edgeBytes }: SampleSize): Promise<FileSample> {
  const whole = size <= wholeLimit;
  const out = Buffer.alloc(whole ? size : 2 * edgeBytes);
  const file = await open(path, "r");
  try {
    // A regular file's read gives all it is asked for, up to its end.
    if (whole) return { bytes: out.subarray(0, (await file.read(out, 0, size, 0)).bytesRead) };
    await file.read(out, 0, edgeBytes, 0);
    await file.read(out, edgeBytes, edgeBytes, size - edgeBytes);
  } finally {
    await file.close();
  }
  return { bytes: out, seamAt: edgeBytes, cutBytes: size - 2 * edgeBytes };
}

export interface ClockTiming {
  bitrate: number | null;
  durationUs: number | null;
}

/** The timing of the clock play paces a TS by: M2TS's arrival stamps where they pace it. */
export function tsClockTiming(p: TsProbe, pacing: InputPacing): ClockTiming {
  return pacing === "arrival" && p.arrival ? p.arrival : p;
}

/**
 * `opened`'s duration along its clock, read from the file at `path` (`size` bytes, by default
 * its size now); its own figure (the head's rate) for anything else: PCM, --bitrate, a stream, a
 * network input, a clock that gives none, or a file that cannot be read again.
 */
export async function clockDurationUs(opened: OpenedInput, path: string, size?: number, sampleSize: SampleSize = EDGES_ONLY): Promise<number | undefined> {
  const { info, pacing } = opened;
  if (opened.stream || pacing === "bitrate" || info.mediaBytes === undefined || (info.kind !== "mpegts" && info.kind !== "mpegps")) return info.durationUs;
  let sample: FileSample;
  try {
    sample = await fileSample(path, size ?? (await stat(path)).size, sampleSize);
  } catch {
    return info.durationUs;
  }
  const timed =
    info.kind === "mpegts"
      ? tsClockTiming(probeTs(sample.bytes, { packing: opened.packing ?? TS_PACKING, seamAt: sample.seamAt, cutBytes: sample.cutBytes }), pacing).durationUs
      : probePs(sample.bytes, sample).durationUs;
  return timed ?? info.durationUs;
}
