/**
 * `rtp://HOST:PORT[?pkt=&ptime=&pt=&format=&compat=&ttl=&iface=&source=&ahead=&rtcp=&sap=&sap-interval=]`
 *
 * - PCM goes out as L16 or L24 (payload_plan.ts), with RTP timestamps that count frames from the
 *   wall clock (RFC 7273 `a=mediaclk:direct=0` against the sender's own clock, `a=ts-refclk:
 *   localmac=…` or `local`), as AES67 and SMPTE ST 2110-30 receivers expect.
 * - MPEG-TS goes out as MP2T (RFC 2250 section 2): PT 33, whole 188-byte packets, a 90 kHz
 *   timestamp taken from the scheduled send time, from a random base. MPEG-PS as `MP2P/90000`.
 * - RTCP (rtcp_sender.ts): sender reports and a BYE at the end, on port + 1 by default,
 *   `rtcp=PORT` elsewhere, `rtcp=mux` on the RTP port itself (RFC 5761), `rtcp=off` for none.
 * - SAP (sap_announcer.ts, `sap=1`): the output's SDP announced to the SAP group of its scope,
 *   every `sap-interval=` seconds (default 5), and deleted when the stream stops.
 *
 * SSRC and first sequence number are random (RFC 3550 section 5.1); the SSRC may be chosen by
 * whoever opens the output (BackendContext.ssrc: the server names it in its play reply, so that
 * `pacer recv` knows its stream from the first packet). Each datagram is written into
 * one reused buffer; an RTCP report rides on the send of a data packet (see rtcp_sender.ts), so
 * the send path allocates nothing.
 */
import { PacerError, UsageError } from "../../foundation/errors.ts";
import { isMulticast } from "../../foundation/net/address.ts";
import { parseEndpoint } from "../../foundation/net/endpoint.ts";
import { RTP_HEADER_SIZE, rtpSetHeader, rtpSetMarker, rtpSetSeqnum, rtpSetSsrc, rtpSetTimestamp } from "../../protocol/rtp.ts";
import { SAP_DEFAULT_INTERVAL_S } from "../../protocol/sap.ts";
import { buildSdp, sdpOrigin, type SdpMedia } from "../../protocol/sdp.ts";
import { bytesPerFrame } from "../../protocol/sample_format.ts";
import { RealClock, US_PER_MS, US_PER_S } from "../../scheduler/clock.ts";
import { sleepOn } from "../../scheduler/scheduler.ts";
import type { Backend, BackendContext, BackendFactory, StreamInfo, UnitTiming } from "../backend.ts";
import { intParam } from "../../foundation/net/endpoint.ts";
import { checkDatagramEndpoint, openDatagramOutput } from "../net/datagram_output.ts";
import { localAddressFor, macOf } from "../net/local_address.ts";
import { newCounters } from "../backend.ts";
import { openUdpSender, type UdpSender } from "../net/udp_sender.ts";
import { planPayload } from "./payload_plan.ts";
import { RtcpSender } from "./rtcp_sender.ts";
import { openSapAnnouncer, type SapAnnouncer } from "./sap_announcer.ts";
import { fixedWallClock, realtimeWallClock, type WallClock } from "./wall_clock.ts";

export { DEFAULT_AUDIO_AHEAD_MS, DEFAULT_L16_PKT } from "./payload_plan.ts";

const OPTIONS = ["pkt", "ptime", "pt", "format", "compat", "ttl", "iface", "source", "ahead", "rtcp", "sap", "sap-interval"] as const;
const MAX_SAP_INTERVAL_S = 3600;
/** A BYE on a port of its own goes this long after the stream's last media instant, µs (close says why). */
const BYE_GAP_US = 50_000;

function randomU32(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0]!;
}

/** A random SSRC (RFC 3550 section 5.1), for an RTP output to be opened with (BackendContext.ssrc). */
export const newSsrc = randomU32;

export type RtcpChoice = { kind: "off" } | { kind: "mux" } | { kind: "port"; port: number };

/** `rtcp=`: absent or `on` → port + 1; `off`/`0` → none; `mux`; or a port number. */
export function rtcpChoice(target: string, raw: string | null, rtpPort: number): RtcpChoice {
  if (raw === null || raw === "on" || raw === "1") {
    if (rtpPort === 65_535) return { kind: "off" };
    return { kind: "port", port: rtpPort + 1 };
  }
  if (raw === "off" || raw === "0") return { kind: "off" };
  if (raw === "mux") return { kind: "mux" };
  const port = Number(raw);
  if (!/^\d+$/.test(raw) || port < 1 || port > 65_535 || port === rtpPort) {
    throw new UsageError(`${target}: rtcp=${raw}: give a port (not the RTP port), mux, or off`);
  }
  return { kind: "port", port };
}

export function flagParam(target: string, raw: string | null, name: string): boolean {
  if (raw === null || raw === "0" || raw === "off") return false;
  if (raw === "1" || raw === "on") return true;
  throw new UsageError(`${target}: ${name}=${raw}: must be 1 or 0`);
}

function secondsParam(target: string, raw: string | null, name: string, fallback: number, max: number): number {
  if (raw === null) return fallback;
  const value = Number(raw);
  if (!/^\d+(\.\d+)?$/.test(raw) || value < 0.1 || value > max) {
    throw new UsageError(`${target}: ${name}=${raw}: must be seconds from 0.1 to ${max}`);
  }
  return value;
}

/** The wall clock for this scheduler: the real one, or a fixed offset from a manual clock in tests. */
function wallClockFor(ctx: BackendContext): WallClock {
  return ctx.scheduler.clock instanceof RealClock ? realtimeWallClock() : fixedWallClock(Date.now() * 1000 - ctx.scheduler.now());
}

/** RTCP's and SAP's options: judged alike where the config is checked and before a socket opens. */
function sideChannels(target: string, endpoint: ReturnType<typeof parseEndpoint>) {
  const rtcpMode = rtcpChoice(target, endpoint.params.get("rtcp"), endpoint.port);
  const sapOn = flagParam(target, endpoint.params.get("sap"), "sap");
  const sapIntervalS = secondsParam(target, endpoint.params.get("sap-interval"), "sap-interval", SAP_DEFAULT_INTERVAL_S, MAX_SAP_INTERVAL_S);
  if (endpoint.params.has("sap-interval") && !sapOn) throw new UsageError(`${target}: sap-interval= needs sap=1`);
  return { rtcpMode, sapOn, sapIntervalS };
}

export const rtpBackend: BackendFactory = {
  scheme: "rtp",
  summary: "rtp://HOST:PORT  RTP: L16/L24 for PCM, MP2T for MPEG-TS, MP2P for MPEG-PS; RTCP, SAP",
  check(target: string): void {
    // What needs no stream: the payload options (pkt, pt, format, compat) are judged against it in create.
    const endpoint = parseEndpoint(target, OPTIONS);
    checkDatagramEndpoint(target, endpoint);
    intParam(endpoint, "ahead", 0, 10_000);
    sideChannels(target, endpoint);
  },
  async create(target: string, stream: StreamInfo, ctx: BackendContext): Promise<Backend> {
    // Validate the payload options before opening a socket.
    const endpoint = parseEndpoint(target, OPTIONS);
    const plan = planPayload(target, endpoint, stream);
    const ahead = intParam(endpoint, "ahead", 0, 10_000, plan.ahead / US_PER_MS) * US_PER_MS;
    const { rtcpMode, sapOn, sapIntervalS } = sideChannels(target, endpoint);
    const { dest, sender, counters, ttl, source } = await openDatagramOutput(target, OPTIONS, ctx, () => plan.unitBytes, RTP_HEADER_SIZE);
    const iface = endpoint.params.get("iface") ?? undefined;
    const scheduler = ctx.scheduler;
    const wall = wallClockFor(ctx);

    let rtcpOut: UdpSender | null = null;
    let sap: SapAnnouncer | null = null;
    const closeSideChannels = () => {
      rtcpOut?.close();
      sap?.stop();
    };
    try {
      if (rtcpMode.kind === "port") {
        // RTCP leaves from the RTP source port + 1 where one is fixed (RFC 3550 section 11).
        const rtcpSource = source && { host: source.host, port: source.port === 0 ? 0 : source.port + 1 };
        rtcpOut = await openUdpSender({ ...dest, port: rtcpMode.port }, { ttl, iface, source: rtcpSource, quiet: true }, newCounters(), ctx);
      }
    } catch (error) {
      sender.close();
      throw error;
    }

    const packet = new Uint8Array(RTP_HEADER_SIZE + plan.unitBytes);
    const ssrc = ctx.ssrc ?? randomU32();
    let seq = randomU32() & 0xffff;
    // PCM counts frames from the wall clock, set at the first send (mediaclk direct=0); MPEG from a random base.
    let timestampBase = randomU32();
    rtpSetHeader(packet, plan.payloadType);
    rtpSetSsrc(packet, ssrc);
    const isPcm = plan.format !== undefined;
    // Timestamp units per µs: the clock rate, times the channels where timestamps count samples (compat=disorder).
    const ticksPerUs = (plan.clockRate * plan.timestampsPerFrame) / US_PER_S;
    // The instant an RTP timestamp names: PCM's is its media time, `ahead` after it is sent.
    const mediaLeadUs = isPcm ? ahead : 0;
    // On the stream's own port (mux) its packets go by the stream's sender, as none of the stream:
    // one dropped for want of room is reported there, not counted as lost media.
    const rtcpVia = rtcpOut ?? { send: (datagram: Uint8Array) => sender.send(datagram, undefined, false, false) };
    const rtcp = rtcpMode.kind === "off" ? null : new RtcpSender(scheduler, rtcpVia, ssrc);
    // Where the destination started on the scheduler's clock: its first unit is due then (a later
    // unit's dueUs - sendUs is the same instant, whenever it is actually sent, by whichever thread).
    let startedUs = 0;
    let started = false;
    let lastTicks = 0;
    let lastSendUs = -1;
    /** The instant the last packet's timestamp names: what a report pairs with it. */
    const pairedUs = () => startedUs + lastSendUs + mediaLeadUs;

    // The sending address (a probe socket per output), and its MAC: for the SDP's o= and source
    // filter, PCM's ts-refclk and SAP.
    const probed = await localAddressFor(dest, { iface, source });
    const local = probed === (dest.family === 6 ? "::" : "0.0.0.0") ? null : probed;
    // The source filter names the address datagrams leave from: `source=0.0.0.0:PORT` fixes only
    // the port, and a filter naming 0.0.0.0 made receivers that honour it (ffmpeg) drop everything.
    const filterSource = source && local !== null ? local : undefined;
    // The MAC names PCM's reference clock (ts-refclk) only: the interface list is not read for MPEG.
    const mac = local === null || !isPcm ? null : macOf(local);
    const sdpMedia = (): SdpMedia => ({
      kind: plan.kind,
      address: dest.address,
      port: endpoint.port,
      payloadType: plan.payloadType,
      encoding: plan.encoding,
      ttl,
      ptimeMs: plan.format ? (plan.unitBytes / bytesPerFrame(plan.format) / plan.format.rate) * 1000 : undefined,
      sourceAddress: filterSource,
      localAddress: local ?? undefined,
      tsRefclk: isPcm ? (mac ? `localmac=${mac}` : "local") : undefined,
      mediaclk: isPcm ? "direct=0" : undefined,
      rtcpMux: rtcpMode.kind === "mux" || undefined,
      rtcpOff: rtcpMode.kind === "off" || undefined,
      rtcpPort: rtcpMode.kind === "port" ? rtcpMode.port : undefined,
    });

    if (sapOn) {
      // The o= line names one session the world over (RFC 8866 section 5.2): the stream's own
      // SSRC, where the start second gave every output of one pacer the same o= line.
      const sessionId = ssrc;
      const media = [sdpMedia()];
      const origin = sdpOrigin(media);
      const sdp = buildSdp({ sessionId, origin, name: `pacer ${target.replace(/\?.*/, "")}`, media });
      try {
        sap = await openSapAnnouncer({ sdp, streamAddress: dest.address, ttl, iface, origin, intervalUs: sapIntervalS * US_PER_S }, ctx);
      } catch (error) {
        closeSideChannels();
        sender.close();
        throw error;
      }
      if (!isMulticast(dest.address)) ctx.log.debug(`${target}: announcing a unicast stream on ${sap.group}`);
      sap.start();
    }

    if (rtcp) {
      // No packet came to carry a due report: it names `now` with the timestamp the stream's clock
      // has reached since the last pairing, the same count of frames (or 90 kHz ticks) per µs.
      rtcp.reportAlone = (now) => {
        if (lastSendUs < 0) return; // nothing paired yet: the first packet reports
        const ticks = lastTicks + Math.round((now - pairedUs()) * ticksPerUs);
        rtcp.report(wall.unixUsAt(now), timestampBase + ticks, counters.units, counters.bytes);
      };
    }

    /** Writes the header of the next packet, for a unit of `length` bytes; returns its timestamp's ticks. */
    const writeHeader = (length: number, timing: UnitTiming): number => {
      if (length > plan.unitBytes) throw new PacerError(`${target}: unit of ${length} bytes exceeds pkt`);
      const sendUs = timing.sendUs;
      if (!started) {
        started = true;
        startedUs = timing.dueUs - sendUs;
        if (isPcm) timestampBase = Math.round(wall.unixUsAt(startedUs) * ticksPerUs) % 4294967296;
        rtcp?.start(startedUs);
      }
      rtpSetMarker(packet, timing.marker);
      rtpSetSeqnum(packet, seq);
      // L16/L24 count frames (samples under compat=disorder); MPEG counts 90 kHz ticks of the scheduled send time.
      const ticks = isPcm ? timing.frame * plan.timestampsPerFrame : Math.floor(sendUs * ticksPerUs);
      rtpSetTimestamp(packet, timestampBase + ticks);
      seq = (seq + 1) & 0xffff;
      return ticks;
    };

    /** Counts a unit that went out (`sent`), and lets an RTCP report ride on it. */
    const afterSend = (length: number, timing: UnitTiming, ticks: number, sent: boolean): void => {
      if (sent) {
        counters.units++;
        counters.bytes += length;
      }
      // A PCM unit's media time is sendUs + ahead, except where the schedule bent it: the first
      // units (sent at once, sendUs 0) and the first after a gap (marker). Those carry no report.
      const sendUs = timing.sendUs;
      if (!isPcm || (sendUs > 0 && !timing.marker)) {
        lastTicks = ticks;
        lastSendUs = sendUs;
        if (rtcp?.due) rtcp.report(wall.unixUsAt(pairedUs()), timestampBase + ticks, counters.units, counters.bytes);
      }
    };

    return {
      label: target,
      format: plan.format,
      unitBytes: plan.unitBytes,
      aheadUs: ahead,
      leadUs: sender.leadUs,
      pacing: sender.pacing,
      counters,
      send(unit, timing) {
        const ticks = writeHeader(unit.length, timing);
        packet.set(unit, RTP_HEADER_SIZE);
        const datagram = unit.length === plan.unitBytes ? packet : packet.subarray(0, RTP_HEADER_SIZE + unit.length);
        afterSend(unit.length, timing, ticks, sender.send(datagram, timing.dueUs, timing.marker));
        return unit.length; // a dropped datagram is lost, not retried: the schedule goes on
      },
      // The header goes with where the unit lies: the sender copies it from there into its batch
      // (a sender thread, when it is due).
      shareMedia: sender.shareMedia && ((media) => sender.shareMedia!(media)),
      heldFrom: sender.heldFrom && (() => sender.heldFrom!()),
      full: sender.full && ((ready) => sender.full!(ready)),
      sendInPlace:
        sender.sendInPlace &&
        ((media, offset, position, length, timing) => {
          const ticks = writeHeader(length, timing);
          afterSend(length, timing, ticks, sender.sendInPlace!(packet, RTP_HEADER_SIZE, media, offset, position, length, timing.dueUs, timing.marker));
          return length;
        }),
      sdp: sdpMedia,
      async close(deadlineUs?: number) {
        // A BYE on a port of its own waits until the stream's last datagrams have left (a sender
        // thread holds them up to its lead); one on the stream's own port (mux) queues behind them.
        const dataClosed = rtcpOut !== null ? sender.close() : null;
        await dataClosed;
        if (rtcp && rtcpOut !== null && lastSendUs >= 0) {
          // ...and then BYE_GAP_US past the last one's media instant: a receiver reading both ports
          // takes a BYE as the end, and ffmpeg reads RTCP first whenever both have data
          // (libavformat/rtpproto.c), so a BYE sent with the last datagrams lost those it had
          // not read yet (likely what left the SAP test's decode one packet short in a loaded suite).
          const byeAt = Math.min(pairedUs() + BYE_GAP_US, deadlineUs ?? Infinity);
          if (byeAt > scheduler.now()) await sleepOn(scheduler, byeAt - scheduler.now());
        }
        if (rtcp) {
          if (lastSendUs >= 0) {
            rtcp.bye(wall.unixUsAt(pairedUs()), timestampBase + lastTicks, counters.units, counters.bytes);
          } else if (counters.units > 0) {
            // Only bent units went out (a stream shorter than the lead): name the first frame's instant.
            rtcp.bye(wall.unixUsAt(startedUs), timestampBase, counters.units, counters.bytes);
          } else {
            rtcp.close(); // RFC 3550 section 6.3.7: no BYE from a participant that never sent
          }
        }
        closeSideChannels();
        await (dataClosed ?? sender.close());
      },
    };
  },
};
