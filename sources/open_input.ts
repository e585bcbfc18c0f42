/**
 * Turns an input argument into a Source and what is known about it: a
 * regular file (WAV, MPEG-TS or M2TS, MPEG-PS, raw PCM with `--format`,
 * other data with `--bitrate`), `-` for stdin, or a path that is no regular
 * file (a FIFO, `<(…)`, a character device), which is read as a stream exactly
 * as stdin is: one detection (`detectInput`) for files and streams alike.
 * Everything that can be checked is checked here, before anything is sent.
 */
import { accessSync, constants, createReadStream, existsSync, statSync } from "node:fs";
import { extname } from "node:path";
import type { Readable } from "node:stream";
import { PacerError, UsageError } from "../foundation/errors.ts";
import {
  DETECT_HEAD_BYTES, DETECT_SEARCH_BYTES, detectContainer, holdsContainer, probePs, probeTs, type PsProbe, type TsProbe, tsPackingOf, tsPacingClock,
} from "../protocol/mpeg_probe.ts";
import { ATS_WRAP, M2TS_PACKING } from "../protocol/mpeg_m2ts.ts";
import { PCR_HZ, TS_PACKING, TS_SIZE, type TsPacking, tsFindSync } from "../protocol/mpegts.ts";
import {
  ArrivalClock, type ByteClock, type ClockStep, ConstantRateClock, ConstantRateTsClock, PcrClock, ScrClock,
} from "../protocol/mpeg_timing.ts";
import { bytesPerFrame, type SampleFormat } from "../protocol/sample_format.ts";
import { isRiffHead, MAX_TRAILER_BYTES, readWavFileHeader, trailerStart, WavError } from "../protocol/wav.ts";
import { compressedAudioName, DECODE_IT_FIRST } from "../protocol/audio_magic.ts";
import { US_PER_S } from "../scheduler/clock.ts";
import { openFileSource } from "./file_source.ts";
import { describeOpenError } from "../foundation/fs_error.ts";
import { firstBytes } from "./first_bytes.ts";
import { nothingArrived, somethingArrives } from "./something_arrives.ts";
import { partialFrameNote, wholeFrames } from "./whole_frames.ts";
import { trailerHeld } from "./wav_trailer.ts";
import { readWavHeaderOff } from "./wav_stream_header.ts";
import { m2tsSource } from "./m2ts_source.ts";
import { type PackedTsSource, packedTsSource } from "./packed_ts_source.ts";
import type { InputInfo, Source } from "./source.ts";
import { type StreamSource, stdinReadable, streamSource } from "./stream_source.ts";
import { type FileHandle, open } from "node:fs/promises";
import { arrivalStart, type PcrPlacement, pcrStart, scrStart } from "./pcr_seek.ts";
import { type Endpoint, parseEndpoint } from "../foundation/net/endpoint.ts";
import { PT_L16_MONO, PT_L16_STEREO } from "../protocol/rtp.ts";
import { sdpInputHint } from "../protocol/sdp.ts";
import type { LiveSource } from "./live_input.ts";
import { openRtpInput, type RtpSource } from "./rtp_input.ts";
import { type CaptureSource, openCapture } from "./capture.ts";
import { latencyHold } from "./latency_hold.ts";
import { openTcpInput } from "./tcp_input.ts";
import { openUdpInput, RECEIVE_PARAMS, receiveBufferBytes } from "./udp_input.ts";

export interface InputOptions {
  /** `--format`: the input is raw PCM in this format. */
  format?: SampleFormat;
  /** `--bitrate`: pace at this constant rate (bits/s). */
  bitrate?: number;
  /** `--start`: seconds into the input. */
  startSeconds?: number;
  /** A server's play `offset`: start where a receiver that has the stream up to there resumes it. */
  resume?: ResumeAt;
  /** Paces data that is neither PCM nor MPEG when no `bitrate` is given (a live channel's smoothed arrival rate). */
  dataClock?: ByteClock;
  /** `--latency`: a network input's buffer between arrival and pacing, ms (latency_hold.ts). */
  latencyMs?: number;
  /** The name the input goes by, where the path is not it (the server opens media as /proc/self/fd/N): its extension says the kind, and read errors name it. */
  name?: string;
}

/**
 * Where a resumed stream starts: `bytes` of the stream as sent already received (a TS file's
 * packets from its first whole one, a PS's or data's bytes, PCM's frames as they go out).
 * `wireFrameBytes` gives a PCM frame's size on the wire, whose bytes the receiver counted;
 * it throws where the wire's frames are not the input's (another rate).
 */
export interface ResumeAt {
  readonly bytes: number;
  wireFrameBytes(format: SampleFormat): number;
}

/** A network input's latency buffer when `--latency` is not given. */
export const DEFAULT_LATENCY_MS = 200;

/** What an input's bytes were found to be. */
export type InputContainer = "wav" | "raw pcm" | "mpegts" | "m2ts" | "mpegps" | "data";
/** What times an input: its sample clock, PCRs, M2TS arrival stamps, SCRs (or mux rate), or --bitrate. */
export type InputPacing = "samples" | "pcr" | "arrival" | "scr" | "bitrate";

export interface OpenedInput {
  info: InputInfo;
  source: Source;
  byteClock?: ByteClock;
  /** Stream offset where playing starts (from --start). */
  startOffset: number;
  container: InputContainer;
  pacing: InputPacing;
  /** Stdin, a FIFO or a device: its bytes as they come (before M2TS unwrapping), for `pacer probe`. */
  stream?: StreamSource;
  /** MPEG-TS: how its packets lie in its bytes (M2TS's units, trailers), before the source unwraps them. */
  packing?: TsPacking;
  /**
   * Bytes the source gives before its first whole unit (a TS cut at its start: garbage before
   * its first packet), so a sequence tells where its last unit was cut (sequence_source.ts).
   */
  unitPhase?: number;
}

/** Bytes before a TS head's first packet (what was cut off of the one before it), 0 if none is found. */
function leadingGarbage(head: Uint8Array): number {
  return Math.max(0, tsFindSync(head, 0, head.length));
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
/**
 * An input whose clock gives no rate in PROBE_HEAD_BYTES is read this far before it is refused:
 * 100 ms at 160 Mbit/s. ffmpeg puts a TS's PCRs 80 ms apart; at 60 Mbit/s that is 600 KB, and such
 * a file or pipe was refused ("only one PCR in the first 256 KiB").
 */
const CLOCK_PROBE_MAX_BYTES = 2 << 20;
/** A rate from less of the stream than this (one PCR interval at 20 Mbit/s is 26 ms) is read on for. */
const MIN_PROBE_SPAN_S = 0.1;
/** Streams: how much (at most) and how long to wait for two clock references. */
const STREAM_PROBE_FIRST_BYTES = 16 << 10;
const STREAM_PROBE_BYTES = CLOCK_PROBE_MAX_BYTES;
const STREAM_PROBE_MS = 500;
/** Bytes that tell a RIFF/WAVE header. */
const RIFF_ID_BYTES = 12;
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
    throw new PacerError(describeOpenError(path, error), { cause: error });
  }
  try {
    const head = Buffer.alloc(bytes);
    const { bytesRead } = await handle.read(head, 0, bytes, 0);
    return head.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** Where the samples of a WAV file's open-ended data `[start, end)` end: before a chunk that ends the file (protocol/wav.ts trailerStart). */
async function trailerAtEnd(path: string, start: number, end: number, frameBytes: number): Promise<number> {
  const from = Math.max(start, end - MAX_TRAILER_BYTES);
  const handle = await open(path, "r");
  try {
    const last = Buffer.alloc(end - from);
    const { bytesRead } = await handle.read(last, 0, last.length, from);
    return bytesRead < last.length ? end : from + trailerStart(last, 0, last.length, from - start, frameBytes, true);
  } finally {
    await handle.close();
  }
}

type InputKind = "wav" | "mpegts" | "mpegps";

function kindFromExtension(path: string): InputKind | null {
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

/**
 * Whether a file given `--format` is a WAV or MPEG by its content (not its name): those keep
 * their own format. Played as raw PCM, a WAV's header was a click and its rate was --format's, and
 * `pacer play a.wav b.raw --format s16le:48000:2` played a.wav at 48 kHz with no word said.
 * (A stream with --format is raw PCM from its first byte: stdin's samples may come only after
 * the SDP is written and the outputs are open, so nothing waits for them to look.)
 */
function containerInside(head: Uint8Array): boolean {
  return isRiffHead(head) || detectContainer(head.subarray(0, DETECT_HEAD_BYTES)) !== null || compressedAudioName(head) !== null || sdpInputHint(head) !== null;
}

/**
 * What an input holds, from its path (null for stdin) and first bytes: the one detection for files
 * and streams. `head` is at least RIFF_ID_BYTES, and DETECT_HEAD_BYTES unless it is WAV (or the
 * input is shorter).
 */
function detectInput(head: Uint8Array, path: string | null): InputKind | null {
  const byExtension = path === null ? null : kindFromExtension(path);
  if (byExtension === "wav" || isRiffHead(head)) return "wav";
  const detectHead = head.subarray(0, DETECT_HEAD_BYTES);
  const byContent = detectContainer(detectHead);
  // An MPEG name says which MPEG unless its kind is not found and the other is: a TS named .mpg
  // (as some recorders name theirs) was probed as PS and refused for want of SCRs, and with
  // --bitrate went out cut at 1472 bytes, across its packets.
  if (byExtension !== null && byContent !== null && byContent !== byExtension && !holdsContainer(detectHead, byExtension)) return byContent;
  return byExtension ?? byContent;
}

/** Opens `spec` ("-" for stdin, a path, or a network input URL). */
export async function openInput(spec: string, options: InputOptions = {}): Promise<OpenedInput> {
  if (isLiveSpec(spec)) {
    // Play paces what comes: a hole it starved through is not filled (rtp_input.ts).
    const live = await openLiveInput(spec, { format: options.format, latencyMs: options.latencyMs ?? DEFAULT_LATENCY_MS });
    // A sound card may run at another rate than asked: its own format is the input's.
    if ("format" in live) options = { ...options, format: (live as CaptureSource).format };
    return openLiveStream(live, options);
  }
  if (spec === "-") return openStream("stdin", null, stdinReadable(), options);
  refuseUnknownScheme(spec);
  const size = regularFileSize(spec);
  if (size === null) return openStream(spec, spec, createReadStream(spec), options);
  return startWithin(await openFile(spec, size, options), options);
}

/**
 * A file opened at `--start` (`start` of a server's play) at or past its end would play nothing:
 * that is the caller's mistake, said in one line, not a stream that ends at once.
 */
function startWithin(opened: OpenedInput, options: InputOptions): OpenedInput {
  const { durationUs, label, mediaBytes } = opened.info;
  if (options.resume && mediaBytes !== undefined && opened.startOffset >= mediaBytes) {
    opened.source.close();
    throw new PacerError(`offset ${options.resume.bytes}: ${label} has no more to send from there, so nothing would play`);
  }
  const startSeconds = options.startSeconds;
  if (startSeconds === undefined || durationUs === undefined || startSeconds * US_PER_S < durationUs) return opened;
  opened.source.close();
  const seconds = (us: number) => Number((us / US_PER_S).toFixed(3));
  throw new PacerError(`start ${startSeconds} s: ${label} is only ${seconds(durationUs)} s long, so nothing would play`);
}

/**
 * The size of a regular file, or null for a path to read as a stream (a FIFO, `<(…)`, a
 * character device: their size says nothing, and opening a FIFO would wait for a writer).
 */
function regularFileSize(path: string): number | null {
  try {
    const st = statSync(path);
    if (st.isDirectory()) throw new PacerError(`${path}: is a directory`);
    accessSync(path, constants.R_OK);
    return st.isFile() ? st.size : null;
  } catch (error) {
    if (error instanceof PacerError) throw error;
    throw new PacerError(describeOpenError(path, error), { cause: error });
  }
}

async function openFile(path: string, size: number, options: InputOptions): Promise<OpenedInput> {
  // Its kind given, an empty file would play nothing and exit 0, where an empty stdin is an input that failed.
  if (size === 0 && (options.format || options.bitrate)) throw new PacerError(`${path}: the file is empty: nothing to play`);
  const head = await readHead(path, Math.min(size, FIRST_HEAD_BYTES));
  if (options.format && !containerInside(head)) return rawPcm(path, 0, size, options.format, options, "raw pcm");
  const kind = detectInput(head, options.name ?? path);
  if (kind === "wav") {
    // A file's header is read from disk as far as its chunks need.
    const header = await wavHeader(() => readWavFileHeader((bytes) => readHead(path, bytes), size, path, head));
    // Data that is no whole number of frames ends in bytes rawPcm leaves unplayed, and says so.
    let end = header.dataOffset + (header.dataBytes ?? size - header.dataOffset) + header.partialFrameBytes;
    // Saved from a pipe, data that runs to the end may end in a chunk of tags (GStreamer's wavenc), which is not played.
    if (header.dataToEnd) end = await trailerAtEnd(path, header.dataOffset, end, bytesPerFrame(header.format));
    if (end - header.dataOffset < bytesPerFrame(header.format)) throw noAudioInWav(path);
    return rawPcm(path, header.dataOffset, end, header.format, options, "wav");
  }
  if (kind === "mpegts" || kind === "mpegps") {
    const packing = kind === "mpegts" ? tsPackingOf(head.subarray(0, DETECT_HEAD_BYTES)) : TS_PACKING;
    let probe = probeMpeg(head, kind, packing);
    if (!options.bitrate && clockSpanSeconds(probe) < MIN_PROBE_SPAN_S && head.length < Math.min(size, PROBE_HEAD_BYTES)) {
      probe = probeMpeg(await readHead(path, Math.min(size, PROBE_HEAD_BYTES)), kind, packing);
    }
    if (!options.bitrate && !clockRate(probe) && size > PROBE_HEAD_BYTES) {
      probe = probeMpeg(await readHead(path, Math.min(size, CLOCK_PROBE_MAX_BYTES)), kind, packing);
    }
    const phase = packing === TS_PACKING ? leadingGarbage(head) : 0;
    return mpegFile(path, size, probe, packing, options, lookedAt(size, true), phase);
  }
  if (!options.bitrate) throw notDetected(path, head);
  return dataFile(path, size, options.bitrate, options);
}

/** `head`: the input's first bytes, by which compressed audio is named (--format would play it as noise). */
function notDetected(label: string, head: Uint8Array): UsageError {
  // An SDP describes a stream; it is none (with --bitrate its text would be sent as data).
  const sdp = sdpInputHint(head);
  if (sdp) return new UsageError(`${label}: an SDP file, which pacer does not read as an input; receive the stream it describes as ${sdp}`);
  const compressed = compressedAudioName(head);
  if (compressed) {
    return new UsageError(`${label}: ${compressed}, which pacer does not decode; ${DECODE_IT_FIRST}, or give --bitrate to send it as data`);
  }
  return new UsageError(`${label}: not WAV, MPEG-TS or MPEG-PS; give --format for raw PCM or --bitrate for other data`);
}

function rawPcm(path: string, start: number, end: number, format: SampleFormat, options: InputOptions, container: "wav" | "raw pcm"): OpenedInput {
  const frame = bytesPerFrame(format);
  const partial = (end - start) % frame;
  const mediaBytes = end - start - partial;
  const startFrames = options.resume ? resumedFrames(options.resume, format) : Math.floor((options.startSeconds ?? 0) * format.rate);
  const startOffset = Math.min(mediaBytes, startFrames * frame);
  const source = openFileSource(path, start, start + mediaBytes, options.name, partial > 0 ? partialFrameNote(partial, frame) : null);
  source.seek(startOffset);
  return {
    info: { label: path, kind: "pcm", format, mediaBytes, durationUs: (mediaBytes / frame / format.rate) * US_PER_S },
    source,
    startOffset,
    container,
    pacing: "samples",
  };
}

/** The frames a PCM receiver resuming at `resume.bytes` has had. */
function resumedFrames(resume: ResumeAt, format: SampleFormat): number {
  const wireFrame = resume.wireFrameBytes(format);
  if (resume.bytes % wireFrame !== 0) throw new UsageError(`offset ${resume.bytes} is not on a frame of the stream as sent (${wireFrame} bytes each)`);
  return resume.bytes / wireFrame;
}

/** The stream offset a resumed MPEG or data file starts at: after a TS's leading garbage, which is not sent, and on a packet. */
function resumedOffset(resume: ResumeAt, isTs: boolean, phase: number): number {
  if (isTs && resume.bytes % TS_SIZE !== 0) throw new UsageError(`offset ${resume.bytes} is not on a ${TS_SIZE}-byte packet of the stream as sent`);
  return (isTs ? phase : 0) + resume.bytes;
}

type MpegProbe = TsProbe | PsProbe;

function probeMpeg(head: Uint8Array, kind: "mpegts" | "mpegps", packing: TsPacking): MpegProbe {
  return kind === "mpegts" ? probeTs(head, { packing }) : probePs(head);
}

/** The clock that paces a probed input without --bitrate, or null when it has none. */
function pacingOf(probe: MpegProbe): "pcr" | "arrival" | "scr" | null {
  if (probe.container === "mpegps") return probe.bitrate ? "scr" : null;
  return tsPacingClock(probe);
}

/** Bits/s of what is sent, by the clock that paces it; undefined when unknown. */
function probedBitrate(probe: MpegProbe): number | undefined {
  const rate = pacingOf(probe) === "arrival" ? (probe as TsProbe).arrival!.bitrate : probe.bitrate;
  return rate ?? undefined;
}

/**
 * The rate the head's own clock references give (two or more), undefined without: a PS probe
 * otherwise takes its first pack's program_mux_rate, which GStreamer's mpegpsmux writes as 409600
 * bit/s whatever the stream's rate (its SCRs 0.44 s apart, the second past 256 KiB at 3.2 Mbit/s:
 * the head went at an eighth of its rate and a 4 s file played 3.6 s late).
 */
function clockRate(probe: MpegProbe): number | undefined {
  return clockSpanSeconds(probe) > 0 ? probedBitrate(probe) : undefined;
}

/** Seconds between the first and last clock reference a probe saw (0 with fewer than two). */
function clockSpanSeconds(probe: MpegProbe): number {
  if (probe.container === "mpegps") return probe.firstScr === null || probe.lastScr === null ? 0 : (probe.lastScr - probe.firstScr) / PCR_HZ;
  if (probe.arrival?.usable) return (((probe.arrival.lastAts - probe.arrival.firstAts) % ATS_WRAP) + ATS_WRAP) % ATS_WRAP / PCR_HZ;
  return probe.firstPcr === null || probe.lastPcr === null ? 0 : (probe.lastPcr - probe.firstPcr) / PCR_HZ;
}

/** What `read` gives (a WAV header), a WavError becoming a one-line PacerError. */
async function wavHeader<T>(read: () => T | Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    if (error instanceof WavError) throw new PacerError(error.message);
    throw error;
  }
}

/** How much of an input's head its clock was looked for in, for messages. */
interface LookedAt {
  bytes: number;
  /** The input ended within them: all of it was looked at. */
  whole: boolean;
}

/**
 * What of an input was looked at, given the bytes there were to read (a file's size, a stream's
 * bytes before it ended or the deadline came) and whether they were all of it: up to
 * PROBE_HEAD_BYTES, and past it up to CLOCK_PROBE_MAX_BYTES only when the input went on past it.
 * A 367 KiB file without PCRs was said to have none "in the first 2048 KiB".
 */
function lookedAt(bytes: number, ended: boolean): LookedAt {
  const window = bytes > PROBE_HEAD_BYTES ? CLOCK_PROBE_MAX_BYTES : PROBE_HEAD_BYTES;
  return { bytes: Math.min(bytes, window), whole: ended && bytes <= window };
}

/** The refusal when nothing in the head can pace the input: the same for a file and a stream. */
function noClockError(label: string, probe: MpegProbe, looked: LookedAt): PacerError {
  const kib = Math.round(looked.bytes / 1024);
  const head = looked.whole ? `all ${kib} KiB of it` : `the first ${kib} KiB`;
  // PCRs there that give no rate are not "no PCR": say what is wrong with them (a TS whose PCRs
  // come 1.2 s apart had been told it had none).
  if (probe.container === "mpegts" && probe.arrival === null && probe.pcrCount > 0) {
    const seen = probe.pcrCount === 1
      ? `only one PCR in ${head}`
      : `the ${probe.pcrCount} PCRs in ${head} give no rate: each is more than 1 s after the one before, behind it, or marked a discontinuity (the standard has them at most 100 ms apart)`;
    return new PacerError(`${label}: ${seen}, nothing to pace by; give --bitrate`);
  }
  const what = probe.container === "mpegps" ? "SCR or mux rate" : probe.arrival ? "arrival time stamp or PCR" : "PCR";
  return new PacerError(`${label}: no ${what} to pace by in ${head}; give --bitrate`);
}

function noPacketsError(label: string): PacerError {
  return new PacerError(`${label}: no MPEG-TS packets found (no 0x47 sync every 188 bytes)`);
}

/**
 * The clock for an MPEG input. `bitrate` (probed from the head) paces the bytes before the clock
 * has two references of its own: without it they would all be due at time 0 and go out in one
 * burst (measured: the first 128 KiB of a 20 Mbit/s TS with PCRs 100 ms apart).
 */
function mpegClock(pacing: InputPacing, options: InputOptions, isTs: boolean, bitrate?: number, lead?: ClockStep): ByteClock {
  if (options.bitrate) return isTs ? new ConstantRateTsClock(options.bitrate) : new ConstantRateClock(options.bitrate);
  if (pacing === "arrival") return new ArrivalClock({ fallbackBitsPerSecond: bitrate });
  const clock = pacing === "scr"
    ? new ScrClock({ fallbackBitsPerSecond: bitrate, capacity: CLOCK_ANCHORS })
    : new PcrClock({ fallbackBitsPerSecond: bitrate, capacity: CLOCK_ANCHORS });
  if (lead) clock.seed(lead);
  return clock;
}

/**
 * The first two clock references the probe read, for the clock to start from where the job starts
 * at or before the first: then the bytes up to the second go at the rate they give, not at the
 * head's average (a GStreamer PS whose first 0.7 s was the busier left 210 ms late). A PS's SCRs
 * and a TS's PCRs, in whatever units it lies (the probe gives the offsets as sent); not M2TS
 * arrival stamps, which time every packet from the first.
 */
function leadStep(probe: MpegProbe, pacing: InputPacing, startOffset: number): ClockStep | undefined {
  if (pacing !== "scr" && pacing !== "pcr") return undefined;
  const step = probe.firstStep;
  return step && startOffset <= step.offset ? step : undefined;
}

/** What paces an MPEG input, given the probe; throws when nothing can. */
function mpegPacing(label: string, probe: MpegProbe, options: InputOptions, looked: LookedAt): InputPacing {
  if (options.bitrate) return "bitrate";
  const pacing = pacingOf(probe);
  if (!pacing) throw noClockError(label, probe, looked);
  return pacing;
}

/** M2TS unwrapped, its stamps going to the clock when they pace it; TS with trailers unwrapped; plain TS and PS as they are. */
function unwrapped<S extends Source>(raw: S, packing: TsPacking, clock: ByteClock): S | PackedTsSource {
  if (packing === TS_PACKING) return raw;
  if (packing === M2TS_PACKING) return m2tsSource(raw, clock instanceof ArrivalClock ? clock : null);
  return packedTsSource(raw, packing);
}

/** `looked`: how much of its head `probe` was given to read. */
async function mpegFile(path: string, size: number, probe: MpegProbe, packing: TsPacking, options: InputOptions, looked: LookedAt, phase: number): Promise<OpenedInput> {
  const isTs = probe.container === "mpegts";
  if (probe.container === "mpegts" && probe.packets === 0) throw noPacketsError(path);
  const pacing = mpegPacing(path, probe, options, looked);
  // Offsets and sizes are of the stream as sent: 192-byte units lose 4 bytes each.
  const mediaBytes = packing === TS_PACKING ? size : Math.floor(size / packing.size) * TS_SIZE;
  const bitrate = options.bitrate ?? probedBitrate(probe)!;
  const byteRate = bitrate / 8;
  const seconds = options.startSeconds ?? 0;
  let startOffset = Math.floor(seconds * byteRate);
  // On a packet of the file, whose first may come after garbage.
  if (isTs) startOffset = startOffset < phase ? 0 : startOffset - ((startOffset - phase) % TS_SIZE);
  if (options.resume) startOffset = resumedOffset(options.resume, isTs, phase);
  startOffset = Math.min(startOffset, mediaBytes);
  // By the head's rate, which is all there is without reading the file through.
  let durationUs = (mediaBytes / byteRate) * US_PER_S;
  if (seconds > 0) {
    // Placed by the clock that paces it where it allows: the average rate misplaces it in a variable-rate stream.
    const placed = await placeByClock(path, size, probe, pacing, packing, byteRate, seconds);
    if (placed.offset !== null) {
      startOffset = placed.offset;
      // The start is that far along the clock; startWithin refuses it only past the clock's end.
      durationUs = placed.endUs ?? seconds * US_PER_S + ((mediaBytes - startOffset) / byteRate) * US_PER_S;
    }
  }
  const byteClock = mpegClock(pacing, options, isTs, bitrate, leadStep(probe, pacing, startOffset));
  const source = unwrapped(openFileSource(path, 0, size, options.name), packing, byteClock);
  source.seek(startOffset);
  return {
    info: { label: path, kind: probe.container, mediaBytes, durationUs },
    source,
    byteClock,
    startOffset,
    container: packing === M2TS_PACKING ? "m2ts" : probe.container,
    pacing,
    packing: isTs ? packing : undefined,
    unitPhase: startOffset === 0 ? phase : 0,
  };
}

/** Where `seconds` is along the clock that paces the file: a TS's PCRs, an M2TS's arrival stamps, a PS's SCRs; offset null where none can place it. */
async function placeByClock(path: string, size: number, probe: MpegProbe, pacing: InputPacing, packing: TsPacking, byteRate: number, seconds: number): Promise<PcrPlacement> {
  let place: ((file: FileHandle) => Promise<PcrPlacement>) | null = null;
  // Rates in the file's bytes: 192-byte units (M2TS, trailers) are scanned as they lie.
  const fileByteRate = (byteRate * packing.size) / TS_SIZE;
  if (pacing === "scr" && probe.container === "mpegps") place = (file) => scrStart(file, size, byteRate, seconds);
  if (pacing === "arrival") place = (file) => arrivalStart(file, size, fileByteRate, seconds);
  if (pacing === "pcr" && probe.container === "mpegts" && probe.pcrPid !== null && probe.firstPcr !== null) {
    const timeline = { pcrPid: probe.pcrPid, firstPcr: probe.firstPcr, byteRate: fileByteRate, packing };
    place = (file) => pcrStart(file, size, timeline, seconds);
  }
  if (!place) return { offset: null };
  const file = await open(path, "r");
  let placed: PcrPlacement;
  try {
    placed = await place(file);
  } finally {
    await file.close();
  }
  // Offsets as sent: a unit's packet where units are 192 bytes.
  if (placed.offset === null || packing.size === TS_SIZE || probe.container !== "mpegts") return placed;
  return { ...placed, offset: Math.floor(placed.offset / packing.size) * TS_SIZE };
}

function dataFile(path: string, size: number, bitrate: number, options: InputOptions): OpenedInput {
  const byteRate = bitrate / 8;
  const startOffset = Math.min(size, options.resume ? options.resume.bytes : Math.floor((options.startSeconds ?? 0) * byteRate));
  const source = openFileSource(path, 0, size, options.name);
  source.seek(startOffset);
  return {
    info: { label: path, kind: "data", mediaBytes: size, durationUs: (size / byteRate) * US_PER_S },
    source,
    byteClock: new ConstantRateClock(bitrate),
    startOffset,
    container: "data",
    pacing: "bitrate",
  };
}

/**
 * The head of MPEG on a stream, probed for its clock, so the bytes before the clock has two
 * references of its own are paced rather than sent in one burst (as with a file's head). Waits for
 * more input only up to STREAM_PROBE_BYTES and STREAM_PROBE_MS: a live stream must not be held
 * back long. `timedOut`: time ran out while the stream was still coming.
 */
async function probeStreamHead(stream: StreamSource, kind: "mpegts" | "mpegps", packing: TsPacking): Promise<{ probe: MpegProbe; timedOut: boolean; ended: boolean; bytes: number }> {
  // One deadline for every peek; an aborted peek returns what it has and leaves nothing waiting.
  const timeUp = AbortSignal.timeout(STREAM_PROBE_MS);
  for (let want = STREAM_PROBE_FIRST_BYTES; ; want *= 2) {
    const head = await stream.peek(want, timeUp);
    const probe = probeMpeg(head, kind, packing);
    if (clockRate(probe) || head.length < want || want >= STREAM_PROBE_BYTES) {
      const short = head.length < want;
      return { probe, timedOut: short && timeUp.aborted, ended: short && !timeUp.aborted, bytes: head.length };
    }
  }
}

/** Whether a probe saw any clock reference at all (one PCR, a pack, M2TS stamps). */
function clockSeen(probe: MpegProbe): boolean {
  return probe.container === "mpegps" ? probe.packs > 0 : probe.pcrCount > 0 || probe.arrival !== null;
}

/**
 * A URL of a kind pacer does not read (http://, srt://) is a usage error naming what it reads, not
 * a file "not found" (a file of that name, however unlikely, is still a file).
 */
export function refuseUnknownScheme(spec: string): void {
  if (isLiveSpec(spec) || !/^[a-z][a-z0-9+.-]*:\/\//i.test(spec) || existsSync(spec)) return;
  throw new UsageError(`unknown input "${spec}": a network input is udp://@…, rtp://@… or tcp://…, a sound card alsa:…; anything else is a file or -`);
}

/** True for the network and capture input URLs. */
export function isLiveSpec(spec: string): boolean {
  return /^(udp|rtp|tcp|alsa):/i.test(spec);
}

/**
 * A network input as its bytes come, for `pacer record` (which keeps them as they are) and for
 * play's detection: `udp://@…`, `rtp://@…` (RTP stripped and reordered), `tcp://:PORT` (listen)
 * or `tcp://HOST:PORT` (connect). `latencyMs`: the latency a reader paces it with (play), so
 * RTP does not fill with silence a hole that reader has already waited through.
 */
export async function openLiveInput(spec: string, options: { format?: SampleFormat; latencyMs?: number } = {}): Promise<StreamSource | LiveSource> {
  if (/^alsa:/i.test(spec)) return openCapture(spec, options.format);
  const endpoint = networkInputEndpoint(spec);
  if (endpoint.scheme === "tcp") return openTcpInput(spec, endpoint);
  return endpoint.scheme === "udp" ? openUdpInput(spec, endpoint) : openRtpInput(spec, endpoint, options.format, options.latencyMs);
}

/**
 * A network input URL (`udp://@…`, `rtp://@…`, `tcp://…`) parsed and every option checked,
 * opening nothing: a UsageError says what is wrong. A config's inputs are checked with it when
 * it loads, not when their first run comes.
 */
export function networkInputEndpoint(spec: string): Endpoint {
  // `tcp://:PORT` is the listen form; the endpoint parser spells it with @.
  const endpoint = parseEndpoint(spec.replace(/^tcp:\/\/:/i, "tcp://@:"), [...RECEIVE_PARAMS]);
  if (endpoint.scheme === "tcp") {
    if (endpoint.params.size > 0) throw new UsageError(`"${spec}": tcp:// inputs take no options`);
    return endpoint;
  }
  if (endpoint.scheme !== "udp" && endpoint.scheme !== "rtp") {
    throw new UsageError(`"${spec}": unknown input scheme ${endpoint.scheme}:// (udp://@, rtp://@, tcp://)`);
  }
  if (!endpoint.listen) {
    throw new UsageError(`"${spec}": to receive, write ${endpoint.scheme}://@${spec.slice(endpoint.scheme.length + 3)} (or @:PORT for every address)`);
  }
  receiveBufferBytes(endpoint);
  return endpoint;
}

/**
 * A network input for play, detected as stdin is. RTP with the static L16 payload types
 * (10, 11: 44.1 kHz stereo, mono) is PCM without --format; its samples are big-endian.
 */
async function openLiveStream(stream: StreamSource | LiveSource, options: InputOptions): Promise<OpenedInput> {
  try {
    if (!options.format && "payloadType" in stream) {
      await stream.peek(1);
      const pt = (stream as RtpSource).payloadType;
      if (pt === PT_L16_STEREO || pt === PT_L16_MONO) options = { ...options, format: { encoding: "s16be", rate: 44_100, channels: pt === PT_L16_STEREO ? 2 : 1 } };
    }
    // Detection reads through; pacing then starts (and restarts after a stall) with the latency in hand.
    const held = latencyHold(stream, options.latencyMs ?? DEFAULT_LATENCY_MS);
    const opened = await openedStream(stream.label, null, held, options);
    held.hold();
    return opened;
  } catch (error) {
    stream.close();
    throw error;
  }
}

/**
 * Any StreamSource detected as stdin is (a live channel's reader, for a `live:` job). Nothing is
 * closed on failure: the caller owns the stream.
 */
export function openStreamInput(stream: StreamSource, options: InputOptions = {}): Promise<OpenedInput> {
  return openedStream(stream.label, null, stream, options);
}

/** Stdin, a FIFO or a device: detected as a file is, from its first bytes, which stay queued to be played. */
async function openStream(label: string, path: string | null, readable: Readable, options: InputOptions): Promise<OpenedInput> {
  const stream = streamSource(label, readable);
  try {
    return await openedStream(label, path, stream, options);
  } catch (error) {
    stream.close();
    throw error;
  }
}

async function openedStream(label: string, path: string | null, stream: StreamSource, options: InputOptions): Promise<OpenedInput> {
  if (options.startSeconds || options.resume) throw new UsageError(`${options.resume ? "offset" : "--start"} needs a file input; ${label} cannot seek`);
  if (options.format) {
    return { info: { label, kind: "pcm", format: options.format }, source: wholeFrames(somethingArrives(stream), bytesPerFrame(options.format)), startOffset: 0, container: "raw pcm", pacing: "samples", stream };
  }
  let head = await stream.peek(RIFF_ID_BYTES);
  // Nothing is not some unknown format: say that nothing came, and how the input ended.
  if (head.length === 0) throw nothingArrived(label, stream.endNote);
  if (detectInput(head, path) !== "wav") head = await stream.peek(DETECT_HEAD_BYTES);
  let kind = detectInput(head, path);
  let tsAt = 0;
  if (kind === null && "live" in stream && !options.bitrate && !options.dataClock) {
    tsAt = await tsPastJunk(stream);
    if (tsAt > 0) {
      kind = "mpegts";
      head = await stream.peek(tsAt + DETECT_HEAD_BYTES);
    }
  }
  if (kind === "wav") return wavStream(label, stream);
  if (kind === "mpegts" || kind === "mpegps") {
    const packing = kind === "mpegts" ? tsPackingOf(head.subarray(tsAt)) : TS_PACKING;
    const { pacing, bitrate, lead } = options.bitrate
      ? { pacing: "bitrate" as const, bitrate: undefined, lead: undefined }
      : await streamPacing(label, stream, kind, packing);
    const byteClock = mpegClock(pacing, options, kind === "mpegts", bitrate, lead);
    return {
      info: { label, kind },
      source: unwrapped(stream, packing, byteClock),
      byteClock,
      startOffset: 0,
      container: packing === M2TS_PACKING ? "m2ts" : kind,
      pacing,
      stream,
      packing: kind === "mpegts" ? packing : undefined,
      unitPhase: packing === TS_PACKING ? leadingGarbage(head) : 0,
    };
  }
  if (!options.bitrate && !options.dataClock) throw notDetected(label, head);
  const byteClock = options.bitrate ? new ConstantRateClock(options.bitrate) : options.dataClock!;
  return { info: { label, kind: "data" }, source: stream, byteClock, startOffset: 0, container: "data", pacing: "bitrate", stream };
}

/**
 * Where MPEG-TS starts in a network input whose first bytes are none (a stray sender's datagrams,
 * another stream's tail on the group), looked for up to PROBE_HEAD_BYTES in; 0 if not found. The
 * job skips the bytes before it, with its warning. Looked for only in the first 4 KiB, one stray
 * datagram of 5 KB before the stream had the gateway refuse it as no MPEG (exit 2).
 */
async function tsPastJunk(stream: StreamSource): Promise<number> {
  for (let at = DETECT_SEARCH_BYTES; at < PROBE_HEAD_BYTES; at += DETECT_SEARCH_BYTES) {
    const head = await stream.peek(at + DETECT_HEAD_BYTES);
    if (head.length <= at) return 0;
    if (detectContainer(head.subarray(at)) === "mpegts") return at;
  }
  return 0;
}

/**
 * What paces MPEG on a stream, and its rate from the head. As with a file, a head without a clock
 * is refused (10 s of PCR-less TS piped in would otherwise leave in one burst); only a live stream
 * cut short by the deadline after showing a clock reference goes on to learn its rate as it plays.
 */
async function streamPacing(label: string, stream: StreamSource, kind: "mpegts" | "mpegps", packing: TsPacking): Promise<{ pacing: InputPacing; bitrate?: number; lead?: ClockStep }> {
  const { probe, timedOut, ended, bytes } = await probeStreamHead(stream, kind, packing);
  if (probe.container === "mpegts" && probe.packets === 0) throw noPacketsError(label);
  const found = pacingOf(probe);
  if (found) return { pacing: found, bitrate: probedBitrate(probe), lead: leadStep(probe, found, 0) };
  if (!timedOut || !clockSeen(probe)) throw noClockError(label, probe, lookedAt(bytes, ended));
  if (probe.container === "mpegps") return { pacing: "scr" };
  return { pacing: probe.pcrCount > 0 ? "pcr" : "arrival" };
}

/** A WAV whose header is all there is: it played nothing and exited 0, where an empty input is exit 1. */
function noAudioInWav(label: string): PacerError {
  return new PacerError(`${label}: no audio in it (a WAV header and no data): nothing to play`);
}

/** WAV on a stream: the header is read off (the job reads samples only); its data size, when given, is the duration and the end. */
async function wavStream(label: string, stream: StreamSource): Promise<OpenedInput> {
  const { format, dataBytes, partialFrameBytes } = await readWavHeaderOff(stream, label);
  const durationUs = dataBytes === null ? undefined : (dataBytes / bytesPerFrame(format) / format.rate) * US_PER_S;
  // A header that gives the size ends short of it (a truncated stream), which firstBytes says; either may end in a frame.
  // One that runs to the end may end in a chunk of tags (GStreamer's wavenc on a pipe), which is not played.
  const frame = bytesPerFrame(format);
  const samples = dataBytes === null ? trailerHeld(stream, frame) : firstBytes(stream, dataBytes + partialFrameBytes);
  // Not a frame of it is an input that failed, as an empty stdin is; it played nothing and exited 0.
  const source = wholeFrames(somethingArrives(samples, () => noAudioInWav(label)), frame);
  return { info: { label, kind: "pcm", format, durationUs }, source, startOffset: 0, container: "wav", pacing: "samples", stream };
}
