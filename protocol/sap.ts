/**
 * SAP, the Session Announcement Protocol, RFC 2974: a session's SDP sent
 * to a well-known multicast group, so receivers (VLC's SAP directory,
 * `ffmpeg -i sap://224.2.127.254`, PipeWire's rtp-sap) find streams without
 * an SDP file. Field accessors work in place on one packet buffer.
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | V=1 |A|R|T|E|C|   auth len    |         msg id hash           |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                                                               |
 * :                originating source (32 or 128 bits)            :
 * :                                                               :
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                    optional authentication data               |
 * :                              ....                             :
 * *-*-*-*-*-*-*-*-*-*-*-*-*-*-*-*-*-*-*-*-*-*-*-*-*-*-*-*-*-*-*-*-*
 * |                      optional payload type                    |
 * +                                         +-+- - - - - - - - - -+
 * |                                         |0|                   |
 * + - - - - - - - - - - - - - - - - - - - - +-+                   |
 * |                                                               |
 * :                            payload                            :
 * |                                                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ```
 *
 * A: 0 for an IPv4 originating source, 1 for IPv6. T: 0 announcement,
 * 1 deletion. E (encrypted) and C (compressed) stay 0 here, and no
 * authentication data is sent. The payload type is `application/sdp`.
 *
 * @example
 * ```ts
 * const sdp = new TextEncoder().encode(sdpText);
 * const p = new Uint8Array(sapPacketSize(4, sdp.length));
 * sapWriteAnnouncement(p, parseIp("192.0.2.2")!.bytes.subarray(12), sapMessageIdHash(sdp), sdp);
 * sapSetDeletion(p, true); // the same packet, as the deletion when the stream stops
 * sapGroupFor("239.255.1.2"); // { address: "239.255.255.255", port: 9875 }
 * ```
 */

import { isLoopbackHost } from "../foundation/net/address.ts";

export const SAP_VERSION = 1;
export const SAP_PORT = 9875;
/** The header before the originating source: flags, auth len, msg id hash. */
export const SAP_HEADER_SIZE = 4;
export const SAP_PAYLOAD_TYPE_SDP = "application/sdp";
/** RFC 2974 section 3: the global scope IPv4 SAP group. */
export const SAP_IPV4_GLOBAL = "224.2.127.254";
/** RFC 2974 section 3: the IPv4 local scope (239.255.0.0/16) announces at its highest address. */
export const SAP_IPV4_LOCAL = "239.255.255.255";
/** RFC 2974 section 3: the IPv4 organization-local scope (239.192.0.0/14) announces at its highest address. */
export const SAP_IPV4_ORGANIZATION = "239.195.255.255";
/** RFC 2974 section 3's group for IPv6 scope 1 (interface-local): the kernel loops it back and sends it nowhere. */
export const SAP_IPV6_INTERFACE_LOCAL = "ff01::2:7ffe";
/** RFC 2974 section 3: the default announcement interval is far longer; 5 s is what receivers of live streams expect today. */
export const SAP_DEFAULT_INTERVAL_S = 5;

const FLAG_IPV6 = 0x10;
const FLAG_DELETION = 0x04;
const FLAG_ENCRYPTED = 0x02;
const FLAG_COMPRESSED = 0x01;
const PAYLOAD_TYPE_BYTES = new TextEncoder().encode(`${SAP_PAYLOAD_TYPE_SDP}\0`);

/** Bytes of an announcement with an originating source of `family` and `sdpBytes` of SDP. */
export function sapPacketSize(family: 4 | 6, sdpBytes: number): number {
  return SAP_HEADER_SIZE + (family === 6 ? 16 : 4) + PAYLOAD_TYPE_BYTES.length + sdpBytes;
}

export function sapGetVersion(p: Uint8Array): number {
  return p[0]! >> 5;
}

export function sapIsIpv6(p: Uint8Array): boolean {
  return (p[0]! & FLAG_IPV6) !== 0;
}

export function sapIsDeletion(p: Uint8Array): boolean {
  return (p[0]! & FLAG_DELETION) !== 0;
}

/** T: a deletion tells receivers the session is gone (section 4). */
export function sapSetDeletion(p: Uint8Array, deletion: boolean): void {
  p[0] = deletion ? p[0]! | FLAG_DELETION : p[0]! & ~FLAG_DELETION;
}

export function sapIsEncrypted(p: Uint8Array): boolean {
  return (p[0]! & FLAG_ENCRYPTED) !== 0;
}

export function sapIsCompressed(p: Uint8Array): boolean {
  return (p[0]! & FLAG_COMPRESSED) !== 0;
}

/** Authentication data length, in 32-bit words. */
export function sapGetAuthLength(p: Uint8Array): number {
  return p[1]!;
}

export function sapSetMessageIdHash(p: Uint8Array, hash: number): void {
  p[2] = (hash >>> 8) & 0xff;
  p[3] = hash & 0xff;
}

export function sapGetMessageIdHash(p: Uint8Array): number {
  return (p[2]! << 8) | p[3]!;
}

/** The originating source: 4 bytes, or 16 when A is set. */
export function sapGetOriginatingSource(p: Uint8Array): Uint8Array {
  return p.subarray(SAP_HEADER_SIZE, SAP_HEADER_SIZE + (sapIsIpv6(p) ? 16 : 4));
}

/** Where the payload type starts: past the source and any authentication data. */
function payloadTypeOffset(p: Uint8Array): number {
  return SAP_HEADER_SIZE + (sapIsIpv6(p) ? 16 : 4) + 4 * sapGetAuthLength(p);
}

/**
 * The payload (the SDP) of an uncompressed, unencrypted packet of `length` bytes, or null if it
 * is not one. The payload type is optional (section 6): an SDP starts with "v=0" instead.
 */
export function sapGetPayload(p: Uint8Array, length = p.length): Uint8Array | null {
  if (sapGetVersion(p) !== SAP_VERSION || sapIsEncrypted(p) || sapIsCompressed(p)) return null;
  let at = payloadTypeOffset(p);
  if (at > length) return null;
  const isSdp = p[at] === 0x76 && p[at + 1] === 0x3d; // "v="
  if (!isSdp) {
    const nul = p.indexOf(0, at);
    if (nul < 0 || nul >= length) return null;
    at = nul + 1;
  }
  return p.subarray(at, length);
}

/**
 * Writes an announcement into `p` (exactly {@link sapPacketSize} bytes): V=1, no authentication,
 * `source` (4 or 16 bytes, the sender's own address), the hash, the payload type and the SDP.
 */
export function sapWriteAnnouncement(p: Uint8Array, source: Uint8Array, messageIdHash: number, sdp: Uint8Array): void {
  p[0] = (SAP_VERSION << 5) | (source.length === 16 ? FLAG_IPV6 : 0);
  p[1] = 0;
  sapSetMessageIdHash(p, messageIdHash);
  p.set(source, SAP_HEADER_SIZE);
  const at = SAP_HEADER_SIZE + source.length;
  p.set(PAYLOAD_TYPE_BYTES, at);
  p.set(sdp, at + PAYLOAD_TYPE_BYTES.length);
}

/**
 * A 16-bit message id hash of the SDP (FNV-1a, folded): the same SDP always gives the same hash,
 * and a changed SDP almost always another (section 5 asks for a change when it changes).
 * Never 0, which SAPv0 receivers read as "no hash".
 */
export function sapMessageIdHash(sdp: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < sdp.length; i++) h = Math.imul(h ^ sdp[i]!, 0x01000193);
  const folded = ((h >>> 16) ^ h) & 0xffff;
  return folded === 0 ? 1 : folded;
}

/**
 * The SAP group and port for a session sent to `address` (RFC 2974 section 3): IPv4
 * 239.255.0.0/16 → 239.255.255.255, 239.192.0.0/14 → 239.195.255.255, any other IPv4 (multicast,
 * or unicast, which is announced as global) → 224.2.127.254; IPv6 multicast ffXY:: → ff0Y::2:7ffe
 * for the session's scope Y, IPv6 unicast → the global ff0e::2:7ffe, but ::1 → the
 * interface-local ff01::2:7ffe, which never leaves this host (as a stream to ::1 does not).
 */
export function sapGroupFor(address: string): { address: string; port: number } {
  if (address.includes(":")) {
    if (isLoopbackHost(address)) return { address: SAP_IPV6_INTERFACE_LOCAL, port: SAP_PORT };
    const first = address.toLowerCase();
    const scope = /^ff[0-9a-f]([0-9a-f]):/.exec(first)?.[1] ?? "e";
    return { address: `ff0${scope}::2:7ffe`, port: SAP_PORT };
  }
  const [a, b] = address.split(".").map(Number) as [number, number];
  if (a === 239 && b === 255) return { address: SAP_IPV4_LOCAL, port: SAP_PORT };
  if (a === 239 && b >= 192 && b <= 195) return { address: SAP_IPV4_ORGANIZATION, port: SAP_PORT };
  return { address: SAP_IPV4_GLOBAL, port: SAP_PORT };
}
