/**
 * `rtp://HOST:PORT[?pkt=&pt=&format=&ttl=&iface=&source=&ahead=]`
 *
 * - PCM goes out as L16 (RFC 3551 section 4.5.11): 16-bit big-endian,
 *   payload type 10 (44.1 kHz stereo) or 11 (mono), else dynamic. The RTP
 *   clock is the sample rate and timestamps count frames.
 * - MPEG-TS goes out as MP2T (RFC 2250 section 2): PT 33, whole 188-byte
 *   packets, a 90 kHz timestamp taken from the scheduled send time.
 * - MPEG-PS goes out with a dynamic type, `MP2P/90000`.
 *
 * SSRC, first sequence number and timestamp base are random (RFC 3550
 * section 5.1). Each datagram is written into one reused buffer.
 */
import { PacerError, UsageError } from "../foundation/errors.ts";
import {
  MPEG_CLOCK_HZ,
  PT_DYNAMIC,
  PT_L16_MONO,
  PT_L16_STEREO,
  PT_MP2T,
  RTP_HEADER_SIZE,
  rtpSetHeader,
  rtpSetMarker,
  rtpSetSeqnum,
  rtpSetSsrc,
  rtpSetTimestamp,
} from "../protocol/rtp.ts";
import type { SdpMedia } from "../protocol/sdp.ts";
import { bytesPerFrame, parseSampleFormat, type SampleFormat } from "../protocol/sample_format.ts";
import { US_PER_MS, US_PER_S } from "../scheduler/clock.ts";
import type { Backend, BackendContext, BackendFactory, StreamInfo } from "./backend.ts";
import { openDatagramOutput, pcmUnitBytes, tsUnitBytes } from "./net/datagram_output.ts";
import { intParam, parseEndpoint } from "../foundation/net/endpoint.ts";

/** DESIGN.md defaults: whole L16 frames within 1400 bytes; PS fits a 1500-byte MTU with the header. */
export const DEFAULT_L16_PKT = 1400;
const DEFAULT_PS_PKT = 1460;
const MAX_PKT = 65_507 - RTP_HEADER_SIZE;
/** How far ahead of real time audio goes out (`ahead=`), so a receiver's jitter buffer starts full. */
export const DEFAULT_AUDIO_AHEAD_MS = 20;
const OPTIONS = ["pkt", "pt", "format", "ttl", "iface", "source", "ahead"] as const;

interface PayloadPlan {
  payloadType: number;
  unitBytes: number;
  format?: SampleFormat;
  clockRate: number;
  encoding: string;
  kind: "audio" | "video";
  ahead: number;
}

function randomU32(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0]!;
}

function planL16(target: string, stream: StreamInfo, pkt: number | undefined, pt: number | undefined, formatText: string | null): PayloadPlan {
  const input = stream.format!;
  let format: SampleFormat;
  if (pt === PT_L16_STEREO || pt === PT_L16_MONO) {
    if (formatText) throw new UsageError(`${target}: give pt=10/11 or format=, not both`);
    format = { encoding: "s16be", rate: 44_100, channels: pt === PT_L16_STEREO ? 2 : 1 };
  } else if (formatText) {
    const asked = parseSampleFormat(formatText);
    if (asked.encoding !== "s16be" && asked.encoding !== "s16le") {
      throw new UsageError(`${target}: format=${formatText}: RTP L16 carries 16-bit samples (use s16be:RATE:CHANNELS)`);
    }
    format = { encoding: "s16be", rate: asked.rate, channels: asked.channels };
  } else {
    format = { encoding: "s16be", rate: input.rate, channels: input.channels };
  }
  let payloadType = pt ?? PT_DYNAMIC;
  if (pt === undefined && format.rate === 44_100 && format.channels <= 2) {
    payloadType = format.channels === 2 ? PT_L16_STEREO : PT_L16_MONO;
  }
  if (pt !== undefined && pt < PT_DYNAMIC && pt !== PT_L16_STEREO && pt !== PT_L16_MONO) {
    throw new UsageError(`${target}: pt=${pt} is a static type that is not L16; use 10, 11 or 96-127`);
  }
  const unitBytes = pcmUnitBytes(target, format, pkt, DEFAULT_L16_PKT);
  return {
    payloadType,
    unitBytes,
    format,
    clockRate: format.rate,
    encoding: `L16/${format.rate}/${format.channels}`,
    kind: "audio",
    ahead: DEFAULT_AUDIO_AHEAD_MS * US_PER_MS,
  };
}

function planMpeg(target: string, stream: StreamInfo, pkt: number | undefined, pt: number | undefined): PayloadPlan {
  if (stream.kind === "mpegts") {
    if (pt !== undefined && pt !== PT_MP2T) throw new UsageError(`${target}: MPEG-TS over RTP is payload type 33`);
    const unitBytes = tsUnitBytes(target, pkt);
    return { payloadType: PT_MP2T, unitBytes, clockRate: MPEG_CLOCK_HZ, encoding: "MP2T/90000", kind: "video", ahead: 0 };
  }
  if (pt !== undefined && pt < PT_DYNAMIC) throw new UsageError(`${target}: MPEG-PS over RTP needs a dynamic payload type (96-127)`);
  return {
    payloadType: pt ?? PT_DYNAMIC,
    unitBytes: pkt ?? DEFAULT_PS_PKT,
    clockRate: MPEG_CLOCK_HZ,
    encoding: "MP2P/90000",
    kind: "video",
    ahead: 0,
  };
}

export const rtpBackend: BackendFactory = {
  scheme: "rtp",
  summary: "rtp://HOST:PORT  RTP: L16 for PCM, MP2T for MPEG-TS, MP2P for MPEG-PS",
  async create(target: string, stream: StreamInfo, ctx: BackendContext): Promise<Backend> {
    // Validate the payload options before opening a socket.
    const endpoint = parseEndpoint(target, OPTIONS);
    const pkt = intParam(endpoint, "pkt", 1, MAX_PKT);
    const pt = intParam(endpoint, "pt", 0, 127);
    let plan: PayloadPlan;
    if (stream.kind === "pcm") plan = planL16(target, stream, pkt, pt, endpoint.params.get("format"));
    else if (stream.kind === "mpegts" || stream.kind === "mpegps") plan = planMpeg(target, stream, pkt, pt);
    else throw new UsageError(`${target}: RTP needs PCM, MPEG-TS or MPEG-PS input; send other data with udp://`);
    if (stream.kind !== "pcm" && endpoint.params.has("format")) throw new UsageError(`${target}: format= is for PCM input`);
    const ahead = intParam(endpoint, "ahead", 0, 10_000, plan.ahead / US_PER_MS) * US_PER_MS;
    const { dest, sender, counters, ttl, source } = await openDatagramOutput(target, OPTIONS, ctx);

    const packet = new Uint8Array(RTP_HEADER_SIZE + plan.unitBytes);
    const ssrc = randomU32();
    let seq = randomU32() & 0xffff;
    const timestampBase = randomU32();
    rtpSetHeader(packet, plan.payloadType);
    rtpSetSsrc(packet, ssrc);
    const isPcm = plan.format !== undefined;
    const ticksPerUs = plan.clockRate / US_PER_S;

    return {
      label: target,
      format: plan.format,
      unitBytes: plan.unitBytes,
      aheadUs: ahead,
      counters,
      send(unit, timing) {
        if (unit.length > plan.unitBytes) throw new PacerError(`${target}: unit of ${unit.length} bytes exceeds pkt`);
        rtpSetMarker(packet, timing.marker);
        rtpSetSeqnum(packet, seq);
        // L16 counts frames; MPEG counts 90 kHz ticks of the scheduled send time.
        const ticks = isPcm ? timing.frame : Math.floor(timing.sendUs * ticksPerUs);
        rtpSetTimestamp(packet, timestampBase + ticks);
        packet.set(unit, RTP_HEADER_SIZE);
        seq = (seq + 1) & 0xffff;
        const datagram = unit.length === plan.unitBytes ? packet : packet.subarray(0, RTP_HEADER_SIZE + unit.length);
        if (sender.send(datagram)) {
          counters.units++;
          counters.bytes += unit.length;
        }
        return unit.length; // a dropped datagram is lost, not retried: the schedule goes on
      },
      sdp(): SdpMedia {
        return {
          kind: plan.kind,
          address: dest.address,
          port: endpoint.port,
          payloadType: plan.payloadType,
          encoding: plan.encoding,
          ttl,
          ptimeMs: plan.format ? (plan.unitBytes / bytesPerFrame(plan.format) / plan.format.rate) * 1000 : undefined,
          sourceAddress: source?.host,
        };
      },
      async close() {
        sender.close();
      },
    };
  },
};
