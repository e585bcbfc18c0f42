/**
 * What an rtp:// output carries, decided from the input and the URL's `pt=`, `format=`, `pkt=`
 * and `ptime=` before any socket opens:
 *
 * - PCM as L16 (RFC 3551 section 4.5.11) or L24 (RFC 3190 section 4): big-endian samples,
 *   payload type 10/11 for 44.1 kHz L16 stereo/mono, else dynamic. 24-bit input, or a
 *   `format=s24be:…`, goes out as L24. The RTP clock is the sample rate.
 * - `ptime=MS` sizes audio packets by time (AES67: 1 ms, also 0.125 and 4), which must be a
 *   whole number of frames; `pkt=` sizes them by bytes.
 * - MPEG-TS as MP2T (RFC 2250, PT 33), MPEG-PS as `MP2P/90000` with a dynamic type.
 * - `compat=disorder` makes what DisOrder's playrtp expects: L16 stereo at 44.1 kHz with PT 10,
 *   at most 2048 payload bytes, and timestamps that count samples (two per stereo frame), not
 *   frames as RFC 3551 has it. The marker after a pause or idle is the same in both.
 *
 * @example
 * ```ts
 * const plan = planPayload(target, endpoint, { kind: "pcm", format: parseSampleFormat("s24le:48000:2") });
 * plan.encoding;  // "L24/48000/2"
 * ```
 */
import { UsageError } from "../../foundation/errors.ts";
import { type Endpoint, intParam } from "../../foundation/net/endpoint.ts";
import { MPEG_CLOCK_HZ, PT_DYNAMIC, PT_L16_MONO, PT_L16_STEREO, PT_MP2T, RTP_HEADER_SIZE } from "../../protocol/rtp.ts";
import { SDP_PTIME_DECIMALS, sdpPtimeText } from "../../protocol/sdp.ts";
import { bytesPerFrame, parseSampleFormat, type SampleFormat } from "../../protocol/sample_format.ts";
import { US_PER_MS } from "../../scheduler/clock.ts";
import type { StreamInfo } from "../backend.ts";
import { pcmUnitBytes, tsUnitBytes } from "../net/datagram_output.ts";

/** DESIGN.md defaults: whole L16 frames within 1400 bytes; PS fits a 1500-byte MTU with the header. */
export const DEFAULT_L16_PKT = 1400;
const DEFAULT_PS_PKT = 1460;
/** The largest UDP payload over IPv4, less the RTP header. */
export const MAX_PKT = 65_507 - RTP_HEADER_SIZE;
/** How far ahead of real time audio goes out (`ahead=`), so a receiver's jitter buffer starts full. */
export const DEFAULT_AUDIO_AHEAD_MS = 20;
/** `ptime=` bounds, ms: AES67 uses 0.125 to 4; RFC 3551 audio rarely exceeds 120. */
const MIN_PTIME_MS = 0.01;
/** DisOrder's playrtp reads datagrams into a fixed buffer: payloads of at most this many bytes. */
export const DISORDER_MAX_PAYLOAD = 2048;
const MAX_PTIME_MS = 1000;
/** How far ptime= may be from a whole number of frames: half the last decimal a=ptime writes. */
const PTIME_SLACK_MS = 0.5 * 10 ** -SDP_PTIME_DECIMALS + 1e-9;

export interface PayloadPlan {
  payloadType: number;
  /** Payload bytes per packet: whole frames or whole TS packets. */
  unitBytes: number;
  /** The PCM format on the wire (s16be for L16, s24be for L24); absent for MPEG. */
  format?: SampleFormat;
  clockRate: number;
  /** The rtpmap encoding: `L16/48000/2`, `L24/48000/2`, `MP2T/90000`, `MP2P/90000`. */
  encoding: string;
  kind: "audio" | "video";
  /** The default lead, µs. */
  ahead: number;
  /** RTP timestamp units per PCM frame: 1 (RFC 3551), or the channels under compat=disorder. */
  timestampsPerFrame: number;
}

/** Plans the payload of `target` for `stream`; a UsageError names what does not fit. */
export function planPayload(target: string, endpoint: Endpoint, stream: StreamInfo): PayloadPlan {
  const pkt = intParam(endpoint, "pkt", 1, MAX_PKT);
  const pt = intParam(endpoint, "pt", 0, 127);
  const ptimeMs = ptimeParam(endpoint);
  const compat = endpoint.params.get("compat");
  if (compat !== null) return planDisorder(target, endpoint, stream, compat, pkt, pt, ptimeMs);
  if (stream.kind === "pcm") return planPcm(target, stream, pkt, pt, endpoint.params.get("format"), ptimeMs);
  if (stream.kind !== "mpegts" && stream.kind !== "mpegps") {
    throw new UsageError(`${target}: RTP needs PCM, MPEG-TS or MPEG-PS input; send other data with udp://`);
  }
  if (endpoint.params.has("format")) throw new UsageError(`${target}: format= is for PCM input`);
  if (ptimeMs !== undefined) throw new UsageError(`${target}: ptime= is for PCM input; size MPEG packets with pkt=`);
  return planMpeg(target, stream, pkt, pt);
}

/** `compat=disorder`: L16 stereo 44.1 kHz, PT 10, payloads of at most 2048 bytes, timestamps counting samples. */
function planDisorder(
  target: string,
  endpoint: Endpoint,
  stream: StreamInfo,
  compat: string,
  pkt: number | undefined,
  pt: number | undefined,
  ptimeMs: number | undefined,
): PayloadPlan {
  if (compat !== "disorder") throw new UsageError(`${target}: compat=${compat}: the only one is compat=disorder`);
  if (stream.kind !== "pcm") throw new UsageError(`${target}: compat=disorder is for audio (PCM) input`);
  if (pt !== undefined && pt !== PT_L16_STEREO) throw new UsageError(`${target}: compat=disorder sends pt=10 (L16 stereo at 44.1 kHz); drop pt=${pt}`);
  if (endpoint.params.has("format")) throw new UsageError(`${target}: compat=disorder sends s16be:44100:2; drop format=`);
  if (pkt !== undefined && pkt > DISORDER_MAX_PAYLOAD) throw new UsageError(`${target}: compat=disorder carries at most ${DISORDER_MAX_PAYLOAD} payload bytes; pkt=${pkt} is more`);
  const plan = planPcm(target, stream, pkt, PT_L16_STEREO, null, ptimeMs);
  if (plan.unitBytes > DISORDER_MAX_PAYLOAD) {
    throw new UsageError(`${target}: compat=disorder carries at most ${DISORDER_MAX_PAYLOAD} payload bytes; ptime=${ptimeMs} makes ${plan.unitBytes}`);
  }
  return { ...plan, timestampsPerFrame: plan.format!.channels };
}

/** `ptime=MS`: a positive decimal number of milliseconds. */
function ptimeParam(endpoint: Endpoint): number | undefined {
  const raw = endpoint.params.get("ptime");
  if (raw === null) return undefined;
  const value = Number(raw);
  if (!/^\d+(\.\d+)?$/.test(raw) || value < MIN_PTIME_MS || value > MAX_PTIME_MS) {
    throw new UsageError(`rtp:// option ptime=${raw}: must be a packet time in ms from ${MIN_PTIME_MS} to ${MAX_PTIME_MS}, like 1 or 0.125`);
  }
  return value;
}

function is24Bit(format: SampleFormat): boolean {
  return format.encoding === "s24le" || format.encoding === "s24be";
}

function wireFormat(target: string, input: SampleFormat, pt: number | undefined, formatText: string | null): SampleFormat {
  if (pt === PT_L16_STEREO || pt === PT_L16_MONO) {
    if (formatText) throw new UsageError(`${target}: give pt=10/11 or format=, not both`);
    return { encoding: "s16be", rate: 44_100, channels: pt === PT_L16_STEREO ? 2 : 1 };
  }
  if (formatText) {
    const asked = parseSampleFormat(formatText);
    if (asked.encoding === "s16be" || asked.encoding === "s16le") return { ...asked, encoding: "s16be" };
    if (is24Bit(asked)) return { ...asked, encoding: "s24be" };
    throw new UsageError(
      `${target}: format=${formatText}: RTP carries 16-bit L16 or 24-bit L24 samples (use s16be:RATE:CHANNELS or s24be:RATE:CHANNELS)`,
    );
  }
  return { encoding: is24Bit(input) ? "s24be" : "s16be", rate: input.rate, channels: input.channels };
}

function planPcm(
  target: string,
  stream: StreamInfo,
  pkt: number | undefined,
  pt: number | undefined,
  formatText: string | null,
  ptimeMs: number | undefined,
): PayloadPlan {
  const format = wireFormat(target, stream.format!, pt, formatText);
  const l24 = format.encoding === "s24be";
  let payloadType = pt ?? PT_DYNAMIC;
  if (l24) {
    if (pt !== undefined && pt < PT_DYNAMIC) throw new UsageError(`${target}: L24 has no static payload type; use pt=96-127`);
  } else {
    if (pt === undefined && format.rate === 44_100 && format.channels <= 2) {
      payloadType = format.channels === 2 ? PT_L16_STEREO : PT_L16_MONO;
    }
    if (pt !== undefined && pt < PT_DYNAMIC && pt !== PT_L16_STEREO && pt !== PT_L16_MONO) {
      throw new UsageError(`${target}: pt=${pt} is a static type that is not L16; use 10, 11 or 96-127`);
    }
  }
  let unitBytes: number;
  if (ptimeMs !== undefined) {
    if (pkt !== undefined) throw new UsageError(`${target}: give pkt= (bytes) or ptime= (ms), not both`);
    const frames = (format.rate * ptimeMs) / 1000;
    const whole = Math.round(frames);
    // A time as SDPs write it names its whole frames: 0.333 is AES67's 16 frames at 48 kHz.
    if (whole === 0 || Math.abs((whole * 1000) / format.rate - ptimeMs) > PTIME_SLACK_MS) {
      const near = [Math.floor(frames), Math.ceil(frames)].filter((n) => n > 0).map((n) => sdpPtimeText((n * 1000) / format.rate));
      throw new UsageError(
        `${target}: ptime=${ptimeMs} is ${Number(frames.toFixed(4))} frames at ${format.rate} Hz; choose a whole number of frames (${near.join(" or ")})`,
      );
    }
    unitBytes = whole * bytesPerFrame(format);
    if (unitBytes > MAX_PKT) throw new UsageError(`${target}: ptime=${ptimeMs} makes ${unitBytes}-byte packets, more than UDP carries`);
  } else {
    unitBytes = pcmUnitBytes(target, format, pkt, DEFAULT_L16_PKT);
  }
  return {
    payloadType,
    unitBytes,
    format,
    clockRate: format.rate,
    encoding: `${l24 ? "L24" : "L16"}/${format.rate}/${format.channels}`,
    kind: "audio",
    ahead: DEFAULT_AUDIO_AHEAD_MS * US_PER_MS,
    timestampsPerFrame: 1,
  };
}

function planMpeg(target: string, stream: StreamInfo, pkt: number | undefined, pt: number | undefined): PayloadPlan {
  if (stream.kind === "mpegts") {
    if (pt !== undefined && pt !== PT_MP2T) throw new UsageError(`${target}: MPEG-TS over RTP is payload type 33`);
    const unitBytes = tsUnitBytes(target, pkt);
    return { payloadType: PT_MP2T, unitBytes, clockRate: MPEG_CLOCK_HZ, encoding: "MP2T/90000", kind: "video", ahead: 0, timestampsPerFrame: 1 };
  }
  if (pt !== undefined && pt < PT_DYNAMIC) throw new UsageError(`${target}: MPEG-PS over RTP needs a dynamic payload type (96-127)`);
  return {
    payloadType: pt ?? PT_DYNAMIC,
    unitBytes: pkt ?? DEFAULT_PS_PKT,
    clockRate: MPEG_CLOCK_HZ,
    encoding: "MP2P/90000",
    kind: "video",
    ahead: 0,
    timestampsPerFrame: 1,
  };
}
