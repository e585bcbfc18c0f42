/**
 * Turns an input argument into a Source and what is known about it: a
 * path (WAV, MPEG-TS, MPEG-PS, raw PCM with `--format`, other data with
 * `--bitrate`) or `-` for stdin. Everything that can be checked is checked
 * here, before anything is sent.
 */
import { extname } from "node:path";
import { PacerError, UsageError } from "../foundation/errors.ts";
import { detectContainer, probePs, probeTs } from "../protocol/mpeg_probe.ts";
import { PCR_HZ, TS_SIZE } from "../protocol/mpegts.ts";
import { type ByteClock, ConstantRateClock, ConstantRateTsClock, PcrClock, ScrClock } from "../protocol/mpeg_timing.ts";
import { bytesPerFrame, type SampleFormat } from "../protocol/sample_format.ts";
import { MAX_WAV_HEADER_BYTES, parseWavHeader, WavError } from "../protocol/wav.ts";
import { US_PER_S } from "../scheduler/clock.ts";
import { describeOpenError, fileSize, openFileSource } from "./file_source.ts";
import type { InputInfo, Source } from "./source.ts";
import { type StreamSource, streamSource } from "./stream_source.ts";
import { open } from "node:fs/promises";
import { pcrSeek, type PcrTimeline } from "./pcr_seek.ts";

export interface InputOptions {
  /** `--format`: the input is raw PCM in this format. */
  format?: SampleFormat;
  /** `--bitrate`: pace at this constant rate (bits/s). */
  bitrate?: number;
  /** `--start`: seconds into the input. */
  startSeconds?: number;
}

export interface OpenedInput {
  info: InputInfo;
  source: Source;
  byteClock?: ByteClock;
  /** Stream offset where playing starts (from --start). */
  startOffset: number;
}

/**
 * A file's head is read in two steps: FIRST_HEAD_BYTES tells the container and, up to about
 * 5 Mbit/s, holds 100 ms of PCRs to take the rate from (340 ms at 1.5 Mbit/s); only when it does
 * not is PROBE_HEAD_BYTES read. A job
 * holds its head while it starts, so with hundreds of jobs the smaller first read matters.
 */
const FIRST_HEAD_BYTES = 64 << 10;
/** Enough of a file's head to find PCRs 100 ms apart at 20 Mbit/s. */
const PROBE_HEAD_BYTES = 256 << 10;
/** A rate from less of the stream than this (one PCR interval at 20 Mbit/s is 26 ms) is read on for. */
const MIN_PROBE_SPAN_S = 0.1;
/** stdin: how much (at most) and how long to wait for two clock references. */
const STDIN_PROBE_FIRST_BYTES = 16 << 10;
const STDIN_PROBE_BYTES = PROBE_HEAD_BYTES;
const STDIN_PROBE_MS = 500;
/**
 * PCRs/SCRs a clock keeps: the job forgets those behind its read-ahead, so
 * this covers 20 s of 20 ms PCRs, the whole 256 KiB window down to ~100 kbit/s.
 */
const CLOCK_ANCHORS = 1024;

/** Reads the head asynchronously: in `serve`, a 1 MiB synchronous read per request would stall every stream. */
async function readHead(path: string, bytes: number): Promise<Uint8Array> {
  let handle;
  try {
    handle = await open(path, "r");
  } catch (error) {
    throw new PacerError(describeOpenError(path, error as NodeJS.ErrnoException));
  }
  try {
    const head = Buffer.alloc(bytes);
    const { bytesRead } = await handle.read(head, 0, bytes, 0);
    return head.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

function kindFromExtension(path: string): "wav" | "mpegts" | "mpegps" | null {
  switch (extname(path).toLowerCase()) {
    case ".wav":
    case ".wave":
      return "wav";
    case ".ts":
    case ".m2ts":
    case ".mts":
      return "mpegts";
    case ".mpg":
    case ".mpeg":
    case ".vob":
      return "mpegps";
  }
  return null;
}

function isRiff(head: Uint8Array): boolean {
  return head.length >= 4 && head[0] === 0x52 && head[1] === 0x49 && head[2] === 0x46 && head[3] === 0x46;
}

/**
 * `probedBitrate` (from the file's head) paces the bytes before the clock has
 * two PCRs: without it they would all be due at time 0 and go out in one
 * burst (measured: the first 128 KiB of a 20 Mbit/s TS with PCRs 100 ms apart).
 */
function mpegClock(kind: "mpegts" | "mpegps", options: InputOptions, probedBitrate?: number): ByteClock {
  if (options.bitrate) return kind === "mpegts" ? new ConstantRateTsClock(options.bitrate) : new ConstantRateClock(options.bitrate);
  const fallback = { fallbackBitsPerSecond: probedBitrate, capacity: CLOCK_ANCHORS };
  return kind === "mpegts" ? new PcrClock(fallback) : new ScrClock(fallback);
}

/** Opens `spec` ("-" for stdin, or a path). */
export async function openInput(spec: string, options: InputOptions = {}): Promise<OpenedInput> {
  if (/^(udp|rtp|tcp|alsa):/i.test(spec)) {
    throw new PacerError(`input "${spec}": network and capture inputs are not yet available in play`);
  }
  if (spec === "-") return openStdin(options);
  return openFile(spec, options);
}

async function openFile(path: string, options: InputOptions): Promise<OpenedInput> {
  const size = fileSize(path);
  let head = await readHead(path, Math.min(size, FIRST_HEAD_BYTES));
  if (options.format) return rawPcm(path, 0, size, options.format, options);
  const byExtension = kindFromExtension(path);
  if (byExtension === "wav" || isRiff(head)) {
    let header = wavHeader(head, path, size);
    if (header.status !== "ok" && head.length < Math.min(size, MAX_WAV_HEADER_BYTES)) {
      head = await readHead(path, Math.min(size, MAX_WAV_HEADER_BYTES));
      header = wavHeader(head, path, size);
    }
    if (header.status !== "ok") throw new PacerError(`${path}: no data chunk in the first ${MAX_WAV_HEADER_BYTES} bytes`);
    const end = header.dataOffset + (header.dataBytes ?? size - header.dataOffset);
    return rawPcm(path, header.dataOffset, end, header.format, options);
  }
  const container = byExtension ?? detectContainer(head);
  if (container === "mpegts" || container === "mpegps") {
    let probe = probeMpeg(head, container);
    if (!options.bitrate && clockSpanSeconds(probe) < MIN_PROBE_SPAN_S && head.length < Math.min(size, PROBE_HEAD_BYTES)) {
      probe = probeMpeg(await readHead(path, Math.min(size, PROBE_HEAD_BYTES)), container);
    }
    return mpegFile(path, size, probe, container, options);
  }
  if (!options.bitrate) {
    throw new UsageError(`${path}: not WAV, MPEG-TS or MPEG-PS; give --format for raw PCM or --bitrate for other data`);
  }
  return dataFile(path, size, options.bitrate, options);
}

function rawPcm(path: string, start: number, end: number, format: SampleFormat, options: InputOptions): OpenedInput {
  const frame = bytesPerFrame(format);
  const mediaBytes = end - start - ((end - start) % frame);
  const startFrames = Math.floor((options.startSeconds ?? 0) * format.rate);
  const startOffset = Math.min(mediaBytes, startFrames * frame);
  const source = openFileSource(path, start, start + mediaBytes);
  source.seek(startOffset);
  return {
    info: { label: path, kind: "pcm", format, mediaBytes, durationUs: (mediaBytes / frame / format.rate) * US_PER_S },
    source,
    startOffset,
  };
}

function probeMpeg(head: Uint8Array, kind: "mpegts" | "mpegps") {
  return kind === "mpegts" ? probeTs(head) : probePs(head);
}

/** Seconds between the first and last clock reference a probe saw (0 with fewer than two). */
function clockSpanSeconds(probe: ReturnType<typeof probeMpeg>): number {
  const [first, last] = probe.container === "mpegts" ? [probe.firstPcr, probe.lastPcr] : [probe.firstScr, probe.lastScr];
  return first === null || last === null ? 0 : (last - first) / PCR_HZ;
}

/** The WAV header in `head`, a WavError becoming a one-line PacerError. */
function wavHeader(head: Uint8Array, path: string, size?: number) {
  try {
    return parseWavHeader(head, path, size);
  } catch (error) {
    if (error instanceof WavError) throw new PacerError(error.message);
    throw error;
  }
}

async function mpegFile(path: string, size: number, probe: ReturnType<typeof probeMpeg>, kind: "mpegts" | "mpegps", options: InputOptions): Promise<OpenedInput> {
  if (kind === "mpegts" && probe.container === "mpegts" && probe.packets === 0) {
    throw new PacerError(`${path}: no MPEG-TS packets found (no 0x47 sync every 188 bytes)`);
  }
  const bitrate = options.bitrate ?? probe.bitrate;
  if (!bitrate) {
    throw new PacerError(`${path}: no ${kind === "mpegts" ? "PCR" : "SCR or mux rate"} to pace by in the first ${PROBE_HEAD_BYTES >> 10} KiB; give --bitrate`);
  }
  const byteRate = bitrate / 8;
  const seconds = options.startSeconds ?? 0;
  let startOffset = Math.floor(seconds * byteRate);
  if (kind === "mpegts") startOffset -= startOffset % TS_SIZE;
  startOffset = Math.min(startOffset, size);
  if (seconds > 0 && kind === "mpegts" && !options.bitrate && probe.container === "mpegts" && probe.pcrPid !== null && probe.firstPcr !== null) {
    // Placed by the PCRs where they allow it: the average rate misplaces it in a variable-rate stream.
    startOffset = (await seekByPcr(path, size, { pcrPid: probe.pcrPid, firstPcr: probe.firstPcr, byteRate }, seconds)) ?? startOffset;
  }
  const source = openFileSource(path, 0, size);
  source.seek(startOffset);
  return {
    info: { label: path, kind, mediaBytes: size, durationUs: (size / byteRate) * US_PER_S },
    source,
    byteClock: mpegClock(kind, options, bitrate),
    startOffset,
  };
}

async function seekByPcr(path: string, size: number, timeline: PcrTimeline, seconds: number): Promise<number | null> {
  const file = await open(path, "r");
  try {
    return await pcrSeek(file, size, timeline, seconds);
  } finally {
    await file.close();
  }
}

function dataFile(path: string, size: number, bitrate: number, options: InputOptions): OpenedInput {
  const byteRate = bitrate / 8;
  const startOffset = Math.min(size, Math.floor((options.startSeconds ?? 0) * byteRate));
  const source = openFileSource(path, 0, size);
  source.seek(startOffset);
  return {
    info: { label: path, kind: "data", mediaBytes: size, durationUs: (size / byteRate) * US_PER_S },
    source,
    byteClock: new ConstantRateClock(bitrate),
    startOffset,
  };
}

/**
 * The bit rate of MPEG on stdin, from its first PCRs or SCRs, so the bytes before the clock has
 * two of its own are paced rather than sent in one burst (as with a file's head). Waits for more
 * input only up to STDIN_PROBE_BYTES and STDIN_PROBE_MS: a live stream must not be held back long.
 */
async function probeStdinRate(source: StreamSource, container: "mpegts" | "mpegps"): Promise<number | undefined> {
  // One deadline for every peek; an aborted peek returns what it has and leaves nothing waiting.
  const timeUp = AbortSignal.timeout(STDIN_PROBE_MS);
  for (let want = STDIN_PROBE_FIRST_BYTES; want <= STDIN_PROBE_BYTES && !timeUp.aborted; want *= 2) {
    const head = await source.peek(want, timeUp);
    const probe = probeMpeg(head, container);
    if (probe.bitrate) return probe.bitrate;
    if (head.length < want) return undefined; // the input ended first, or time is up
  }
  return undefined;
}

async function openStdin(options: InputOptions): Promise<OpenedInput> {
  const source = streamSource("stdin", process.stdin);
  if (options.startSeconds) throw new UsageError("--start needs a file input; stdin cannot seek");
  if (options.format) {
    return { info: { label: "stdin", kind: "pcm", format: options.format }, source, startOffset: 0 };
  }
  let head = await source.peek(12);
  if (isRiff(head)) {
    for (let want = 64; ; want *= 2) {
      head = await source.peek(want);
      const header = wavHeader(head, "stdin");
      if (header.status === "ok") {
        // Drop the header bytes: the job reads samples only.
        const skip = Buffer.alloc(header.dataOffset);
        source.read(skip, 0, header.dataOffset);
        return { info: { label: "stdin", kind: "pcm", format: header.format }, source, startOffset: 0 };
      }
      if (head.length < want) throw new PacerError("stdin: truncated: the input ends inside the WAV header");
    }
  }
  head = await source.peek(3 * TS_SIZE + 1);
  const container = detectContainer(head);
  if (container) {
    const bitrate = options.bitrate ? undefined : await probeStdinRate(source, container);
    return { info: { label: "stdin", kind: container }, source, byteClock: mpegClock(container, options, bitrate), startOffset: 0 };
  }
  if (!options.bitrate) throw new UsageError("stdin: not WAV or MPEG; give --format for raw PCM or --bitrate for other data");
  return { info: { label: "stdin", kind: "data" }, source, byteClock: new ConstantRateClock(options.bitrate), startOffset: 0 };
}
