/**
 * An RTP output's SAP announcements (RFC 2974): its SDP to the SAP group of its scope, at once
 * and then every interval (5 s by default) offset at random by up to a third of it either way
 * (section 3.1, so announcers started together do not stay in step), and the same packet marked
 * as a deletion when the stream stops. The packet is built once; its message id hash is the SDP's, so it stays the same
 * for as long as the SDP does.
 *
 * @example
 * ```ts
 * const sap = await openSapAnnouncer({ sdp, streamAddress: "239.255.1.2", ttl: 4, intervalUs: 5e6 }, ctx);
 * sap.start();  // announces now, then every 5 s
 * sap.stop();   // the deletion, and the socket closes
 * ```
 */
import { hostPortText, isLoopbackHost, parseIp, resolveHost } from "../../foundation/net/address.ts";
import { joinedDevices, routeDevice } from "../../foundation/net/host_multicast.ts";
import { sapGroupFor, sapMessageIdHash, sapPacketSize, sapSetDeletion, sapWriteAnnouncement } from "../../protocol/sap.ts";
import type { Timer } from "../../scheduler/scheduler.ts";
import { type BackendContext, newCounters } from "../backend.ts";
import { localAddressFor } from "../net/local_address.ts";
import { sendMode } from "../net/send_batcher.ts";
import { openUdpSender, type UdpSender } from "../net/udp_sender.ts";

export interface SapOptions {
  /** The SDP text to announce (one output's session). */
  sdp: string;
  /** Where the stream goes: picks the SAP group of its scope. */
  streamAddress: string;
  /** TTL (hop limit) of the announcements: the stream's, as section 3 asks (0 for a loopback stream). */
  ttl?: number;
  /** Local interface for the multicast announcements (`iface=`). */
  iface?: string;
  /** The sender's own address, for the originating source field. */
  origin: string;
  intervalUs: number;
}

export interface SapAnnouncer {
  /** The group announcements go to, `ADDRESS:PORT` (IPv6 in brackets). */
  readonly group: string;
  readonly messageIdHash: number;
  start(): void;
  stop(): void;
}

export async function openSapAnnouncer(options: SapOptions, ctx: Pick<BackendContext, "scheduler" | "log">): Promise<SapAnnouncer> {
  const group = sapGroupFor(options.streamAddress);
  const dest = { ...(await resolveHost(group.address)), port: group.port };
  // A stream to 127.0.0.1 or ::1 reaches only this host: so does its announcement (TTL 0 keeps a
  // group on the host). It went out on the network, a session no other host can receive.
  const onHost = isLoopbackHost(options.streamAddress);
  // Bun's socket refuses TTL 0: without it the announcement would leave the host, so none is sent
  // (the stream plays on; it had failed to open, exit 1, with 'ttl=0 needs the batched send path').
  if (onHost && sendMode() === "socket") return unannounced(hostPortText(dest.address, dest.port), ctx);
  const ttl = onHost ? 0 : options.ttl;
  const sender: UdpSender = await openUdpSender(dest, { ttl, iface: options.iface, quiet: true }, newCounters(), ctx);
  const out = onHost && dest.family === 4 ? await onHostOut(dest, sender, ctx) : { send: (p: Uint8Array) => void sender.send(p), close: () => sender.close() };
  let origin = parseIp(options.origin);
  if (!origin || origin.v4 !== (dest.family === 4)) origin = parseIp(await localAddressFor(dest, { iface: options.iface }));
  const source = origin!.v4 ? origin!.bytes.subarray(12) : origin!.bytes;
  const sdp = new TextEncoder().encode(options.sdp);
  const packet = new Uint8Array(sapPacketSize(source.length === 16 ? 6 : 4, sdp.length));
  const messageIdHash = sapMessageIdHash(sdp);
  sapWriteAnnouncement(packet, source, messageIdHash, sdp);
  const scheduler = ctx.scheduler;
  // Section 3.1: interval + rand(interval * 2/3) - interval/3.
  const next = (now: number) => now + options.intervalUs * (2 / 3 + (2 / 3) * Math.random());
  const timer: Timer = scheduler.timer("sap", (_t, now) => {
    out.send(packet);
    scheduler.schedule(timer, next(now));
  });
  let stopped = false;
  return {
    group: hostPortText(dest.address, dest.port),
    messageIdHash,
    start() {
      out.send(packet);
      scheduler.schedule(timer, next(scheduler.now()));
    },
    stop() {
      if (stopped) return;
      stopped = true;
      scheduler.cancel(timer);
      sapSetDeletion(packet, true);
      out.send(packet);
      out.close();
    },
  };
}

/**
 * Where a loopback stream's IPv4 announcements go: only to interfaces on which this host listens
 * to the group, each time asked again (host_multicast.ts says why TTL 0 alone is not enough: with
 * no listener on the interface a datagram leaves by, Linux puts it on that link). A listener on
 * `lo` gets it out of `lo`; one on the interface of the group's route gets it through the kernel's
 * loop-back of that interface, which drops the TTL-0 original. With none, nothing is sent. Left: a
 * listener that leaves between the question and the send lets that one datagram out, TTL 0.
 */
async function onHostOut(dest: Parameters<typeof openUdpSender>[0], viaRoute: UdpSender, ctx: Pick<BackendContext, "scheduler" | "log">): Promise<{ send(packet: Uint8Array): void; close(): void }> {
  const viaLo = await openUdpSender(dest, { ttl: 0, iface: "127.0.0.1", quiet: true }, newCounters(), ctx);
  return {
    send(packet) {
      const listening = joinedDevices(dest.address);
      if (listening.has("lo")) viaLo.send(packet);
      const leavesBy = routeDevice(dest.address);
      if (leavesBy !== null && leavesBy !== "lo" && listening.has(leavesBy)) viaRoute.send(packet);
    },
    close() {
      viaLo.close();
      viaRoute.close();
    },
  };
}

/** A loopback stream's announcer where TTL 0 cannot be set: said once, and nothing sent. */
function unannounced(group: string, ctx: Pick<BackendContext, "log">): SapAnnouncer {
  ctx.log.warn(`${group}: sap=1 not announced: a stream to this host is announced with TTL 0, which the socket-each send path (PACER_SEND=socket) cannot set`);
  return { group, messageIdHash: 0, start() {}, stop() {} };
}
