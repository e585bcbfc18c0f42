/**
 * What rtp:// and udp:// outputs share: parse the URL and its options,
 * resolve the host (an error before anything is sent), and open the
 * destination's sender (udp_sender.ts: batched on a shared socket, or a connected one of its own).
 */
import { UsageError } from "../../foundation/errors.ts";
import { type BackendContext, type BackendCounters, newCounters } from "../backend.ts";
import { type HostPort, isMulticast, requireHostPort, resolveHost } from "../../foundation/net/address.ts";
import { type Endpoint, intParam, parseEndpoint } from "../../foundation/net/endpoint.ts";
import { openUdpSender, type UdpSender } from "./udp_sender.ts";
import { TS_SIZE } from "../../protocol/mpegts.ts";
import { bytesPerFrame, type SampleFormat } from "../../protocol/sample_format.ts";

/** DESIGN.md: 7 TS packets per datagram, never a split one. */
const DEFAULT_TS_PKT = 7 * TS_SIZE;

export interface DatagramOutput {
  endpoint: Endpoint;
  dest: { address: string; family: 4 | 6; port: number };
  sender: UdpSender;
  counters: BackendCounters;
  ttl?: number;
  source?: { host: string; port: number };
  /** The stream's bytes in each datagram. */
  unitBytes: number;
}

/**
 * Parses and validates `target` (options beyond `options` are a UsageError), then opens its socket.
 * `unitBytes`: the stream's bytes in each datagram, from the endpoint; `headerBytes`: what each
 * datagram carries before them (RTP's header).
 */
export async function openDatagramOutput(
  target: string,
  options: readonly string[],
  ctx: BackendContext,
  unitBytesOf: (endpoint: Endpoint) => number,
  headerBytes = 0,
): Promise<DatagramOutput> {
  const endpoint = parseEndpoint(target, options);
  const unitBytes = unitBytesOf(endpoint);
  const { ttl, source } = checkDatagramEndpoint(target, endpoint);
  const resolved = await resolveHost(endpoint.host);
  // A multicast TTL of 0 keeps the group on this host; a unicast one would send nothing at all.
  if (ttl === 0 && !isMulticast(resolved.address)) {
    throw new UsageError(`${target}: ttl=0 is for a multicast group (no router forwards it); to a single host give 1 to 255`);
  }
  const dest = { ...resolved, port: endpoint.port };
  const counters = newCounters();
  const iface = endpoint.params.get("iface") ?? undefined;
  const sender = await openUdpSender(dest, { ttl, iface, source, headerBytes, datagramBytes: headerBytes + unitBytes }, counters, ctx);
  return { endpoint, dest, sender, counters, ttl, source, unitBytes };
}

/** What a datagram output's URL says of where it goes, checked without a name looked up or a socket: a host, `ttl`, `source`. */
export function checkDatagramEndpoint(target: string, endpoint: Endpoint): { ttl: number | undefined; source: HostPort | undefined } {
  if (endpoint.listen) throw new UsageError(`${target}: "@" is for inputs; outputs name a destination host`);
  const ttl = intParam(endpoint, "ttl", 0, 255);
  const sourceText = endpoint.params.get("source");
  const source = sourceText ? requireHostPort(sourceText, "source", { allowPortZero: true }) : undefined;
  return { ttl, source };
}

/** Whole frames of `format` in `pkt` bytes (default `defaultPkt`); a UsageError names the target when not even one fits. */
export function pcmUnitBytes(target: string, format: SampleFormat, pkt: number | undefined, defaultPkt: number): number {
  const frame = bytesPerFrame(format);
  const unit = Math.floor((pkt ?? defaultPkt) / frame) * frame;
  if (unit === 0) throw new UsageError(`${target}: pkt=${pkt} is smaller than one frame (${frame} bytes)`);
  return unit;
}

/** Whole TS packets in `pkt` bytes (default seven). */
export function tsUnitBytes(target: string, pkt: number | undefined): number {
  const unit = Math.floor((pkt ?? DEFAULT_TS_PKT) / TS_SIZE) * TS_SIZE;
  if (unit === 0) throw new UsageError(`${target}: pkt=${pkt} is smaller than one TS packet (188 bytes)`);
  return unit;
}
