/**
 * Session descriptions, RFC 8866 (SDP), for the RTP outputs: what a receiver
 * such as ffmpeg (`ffmpeg -protocol_whitelist file,udp,rtp -i x.sdp`) needs.
 * Payload formats: L16 (RFC 3551 section 4.5.11), L24 (RFC 3190), MP2T and
 * MP2P (RFC 2250, RFC 3555). RTCP's port (RFC 3605 `a=rtcp`) or RTP/RTCP
 * multiplexing (RFC 5761 `a=rtcp-mux`), or none (RFC 3556 `b=RS:0`, `b=RR:0`); the clock attributes AES67 and
 * SMPTE ST 2110 receivers read (RFC 7273 `a=ts-refclk`, `a=mediaclk`).
 *
 * @example
 * ```ts
 * buildSdp({ sessionId: 1, origin: "127.0.0.1", media: [{
 *   kind: "audio", address: "127.0.0.1", port: 5004, payloadType: 10, encoding: "L16/44100/2" }] });
 * ```
 */
import { isIPv6 } from "node:net";

export interface SdpMedia {
  kind: "audio" | "video";
  /** Destination address of this stream. */
  address: string;
  port: number;
  payloadType: number;
  /** The rtpmap encoding: `L16/44100/2`, `MP2T/90000`, `MP2P/90000`. */
  encoding: string;
  /** Multicast TTL, written as `/ttl` on IPv4 multicast addresses. */
  ttl?: number;
  /** Packet time in ms, for audio. */
  ptimeMs?: number;
  /** A bound source address, written as a source-filter for SSM receivers. */
  sourceAddress?: string;
  /** RTCP's port where it is not `port + 1` (RFC 3605): `a=rtcp:PORT`. */
  rtcpPort?: number;
  /** RTCP shares the RTP port (RFC 5761): `a=rtcp-mux`. */
  rtcpMux?: boolean;
  /** No RTCP at all (`rtcp=off`): `b=RS:0` and `b=RR:0` say so (RFC 3556 section 2). */
  rtcpOff?: boolean;
  /** The reference clock (RFC 7273 section 4.8): `local`, `localmac=XX-XX-XX-XX-XX-XX`, `ptp=...`. */
  tsRefclk?: string;
  /** The media clock (RFC 7273 section 5): `direct=0` says RTP timestamps count the reference clock itself. */
  mediaclk?: string;
  /** The address this stream leaves from: a session's o= names its first stream's (see {@link sdpOrigin}). */
  localAddress?: string;
}

export interface SdpSession {
  /** Numeric session id for the o= line (NTP-ish time is customary). */
  sessionId: number;
  /** Address of the sender, for the o= line. */
  origin: string;
  name?: string;
  media: SdpMedia[];
}

/** a=ptime's decimals: AES67's 333 µs is written `0.333`, as its receivers expect. */
export const SDP_PTIME_DECIMALS = 3;

/** A packet time in ms as a=ptime writes it. */
export function sdpPtimeText(ms: number): string {
  return String(Number(ms.toFixed(SDP_PTIME_DECIMALS)));
}

/**
 * The o= address of a session of `media` (RFC 8866 section 5.2): the address its first stream
 * leaves from, as a loopback address must not be named where the description leaves the host;
 * the loopback address (of the first stream's family) only where no stream knows its own (or it
 * only reaches this host anyway).
 */
export function sdpOrigin(media: SdpMedia[]): string {
  return media.find((m) => m.localAddress !== undefined)?.localAddress ?? (media[0] && isIPv6(media[0].address) ? "::1" : "127.0.0.1");
}

function addrType(address: string): "IP4" | "IP6" {
  return isIPv6(address) ? "IP6" : "IP4";
}

function isIPv4Multicast(address: string): boolean {
  const first = Number(address.split(".")[0]);
  return !isIPv6(address) && first >= 224 && first <= 239;
}

function connectionLine(m: SdpMedia): string {
  const type = addrType(m.address);
  const ttl = isIPv4Multicast(m.address) ? `/${m.ttl ?? 1}` : "";
  return `c=IN ${type} ${m.address}${ttl}`;
}

/**
 * Builds the SDP text with one m= section per media, CRLF line ends as the RFC says. A connection
 * every stream shares is written once, at session level (RFC 8866 section 5.7 allows either):
 * ffmpeg's MP2T receiver reads only that one ("getnameinfo: ai_family not supported" without).
 */
export function buildSdp(session: SdpSession): string {
  const connections = session.media.map(connectionLine);
  const shared = connections.length > 0 && connections.every((c) => c === connections[0]) ? connections[0]! : null;
  const lines = [
    "v=0",
    `o=- ${session.sessionId} ${session.sessionId} IN ${addrType(session.origin)} ${session.origin}`,
    `s=${session.name ?? "pacer"}`,
    ...(shared ? [shared] : []),
    "t=0 0",
  ];
  for (const [i, m] of session.media.entries()) {
    lines.push(`m=${m.kind} ${m.port} RTP/AVP ${m.payloadType}`);
    if (!shared) lines.push(connections[i]!);
    if (m.rtcpOff) lines.push("b=RS:0", "b=RR:0");
    if (m.sourceAddress) {
      const type = addrType(m.address);
      lines.push(`a=source-filter: incl IN ${type} ${m.address} ${m.sourceAddress}`);
    }
    lines.push(`a=rtpmap:${m.payloadType} ${m.encoding}`);
    if (m.ptimeMs !== undefined) lines.push(`a=ptime:${sdpPtimeText(m.ptimeMs)}`);
    if (m.tsRefclk !== undefined) lines.push(`a=ts-refclk:${m.tsRefclk}`);
    if (m.mediaclk !== undefined) lines.push(`a=mediaclk:${m.mediaclk}`);
    if (m.rtcpMux) lines.push("a=rtcp-mux");
    else if (m.rtcpPort !== undefined && m.rtcpPort !== m.port + 1) lines.push(`a=rtcp:${m.rtcpPort}`);
    lines.push("a=sendonly");
  }
  return lines.join("\r\n") + "\r\n";
}

/**
 * The input URL (and `--format`, for L16/L24 on a dynamic payload type) that receives the first
 * RTP or UDP stream an SDP file describes, for a user who gave the SDP itself as an input (as
 * ffplay and VLC take one): `rtp://@239.1.2.3:5004?source=10.0.0.1 --format s16be:48000:2`.
 * Null when `head` (a file's first bytes) is no SDP, or describes no stream.
 */
export function sdpInputHint(head: Uint8Array): string | null {
  const text = new TextDecoder().decode(head);
  if (!/^v=0\r?\n/.test(text)) return null;
  let address = "";
  let media: { port: string; proto: string; pt: string } | null = null;
  const rtpmap = new Map<string, string>();
  let source = "";
  for (const line of text.split(/\r?\n/)) {
    const value = line.slice(2).trim();
    if (line.startsWith("m=")) {
      if (media) break; // the first stream's lines end here
      const [, port, proto, pt] = value.split(/\s+/);
      media = { port: (port ?? "").split("/")[0]!, proto: proto ?? "", pt: pt ?? "" };
    } else if (line.startsWith("c=")) {
      address = (value.split(/\s+/)[2] ?? "").split("/")[0]!;
    } else if (line.startsWith("a=rtpmap:")) {
      const [pt, encoding] = line.slice(9).trim().split(/\s+/);
      if (pt && encoding) rtpmap.set(pt, encoding);
    } else if (line.startsWith("a=source-filter:")) {
      const words = line.slice(16).trim().split(/\s+/);
      if (words[0] === "incl" && words[4]) source = words[4];
    }
  }
  if (!media || !/^\d+$/.test(media.port)) return null;
  const multicast = /^(22[4-9]|23\d)\./.test(address) || /^ff/i.test(address);
  const host = !multicast ? "" : address.includes(":") ? `[${address}]` : address;
  const scheme = media.proto.toUpperCase().startsWith("RTP/") ? "rtp" : "udp";
  const url = `${scheme}://@${host}:${media.port}${multicast && source ? `?source=${source}` : ""}`;
  const [encoding, rate, channels] = (rtpmap.get(media.pt) ?? "").split("/");
  const width = encoding?.toUpperCase() === "L16" ? "s16be" : encoding?.toUpperCase() === "L24" ? "s24be" : null;
  const staticL16 = media.pt === "10" || media.pt === "11";
  return width && rate && !staticL16 ? `${url} --format ${width}:${rate}:${channels || 1}` : url;
}
