/**
 * RTCP, RFC 3550 section 6: the sender report (6.4.1), source description
 * with a CNAME (6.5), and BYE (6.6), written in place into one reused
 * buffer as compound packets (6.1), in the style of biTStream's
 * ietf/rtcp_sr.h: field accessors on bytes, no objects, no allocation.
 * Multiplexed with RTP on one port, RTCP is told apart by its packet type
 * (RFC 5761 section 4: 200-204 never collide with the RTP types in use).
 *
 * ```
 *         0                   1                   2                   3
 *         0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *        +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * header |V=2|P|    RC   |   PT=SR=200   |             length            |
 *        +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *        |                         SSRC of sender                        |
 *        +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 * sender |              NTP timestamp, most significant word             |
 * info   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *        |             NTP timestamp, least significant word             |
 *        +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *        |                         RTP timestamp                         |
 *        +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *        |                     sender's packet count                     |
 *        +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *        |                      sender's octet count                     |
 *        +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 *
 *        SDES (6.5): V=2|P|SC | PT=202 | length, then per chunk the SSRC and
 *        items (type, length, text), ended by a zero byte and padded to 32 bits.
 *        BYE (6.6):  V=2|P|SC | PT=203 | length, then SC SSRCs.
 * ```
 *
 * @example
 * ```ts
 * const p = new Uint8Array(RTCP_MAX_COMPOUND);
 * let at = rtcpWriteSenderReport(p, 0, ssrc, unixUsToNtp(Date.now() * 1000), rtpTs, packets, octets);
 * at = rtcpWriteSdesCname(p, at, ssrc, new TextEncoder().encode("pacer@host"));
 * socket.send(p.subarray(0, at));
 * ```
 */

export const RTCP_VERSION = 2;
export const RTCP_PT_SR = 200;
export const RTCP_PT_RR = 201;
export const RTCP_PT_SDES = 202;
export const RTCP_PT_BYE = 203;
export const RTCP_PT_APP = 204;
/** Common header: V, P, count, PT, length. */
export const RTCP_HEADER_SIZE = 4;
/** A sender report with no report blocks: header, SSRC and the 20-byte sender info. */
export const RTCP_SR_SIZE = 28;
export const RTCP_BYE_SIZE = 8;
/** A receiver report with no report blocks: header and SSRC. */
export const RTCP_RR_SIZE = 8;
export const SDES_ITEM_END = 0;
export const SDES_ITEM_CNAME = 1;
/** A CNAME is at most 255 bytes (one length byte); SR + SDES + BYE then fit in this. */
export const RTCP_MAX_COMPOUND = RTCP_SR_SIZE + 8 + 2 + 255 + 3 + RTCP_BYE_SIZE;
/** Seconds from the NTP epoch (1900) to the Unix epoch (1970), RFC 5905. */
export const NTP_UNIX_OFFSET_S = 2_208_988_800;

/** Writes V=2, no padding, the count (RC or SC) and the packet type at `at`. */
export function rtcpSetHeader(p: Uint8Array, at: number, packetType: number, count: number): void {
  p[at] = (RTCP_VERSION << 6) | (count & 0x1f);
  p[at + 1] = packetType;
}

export function rtcpGetVersion(p: Uint8Array, at = 0): number {
  return p[at]! >> 6;
}

export function rtcpHasPadding(p: Uint8Array, at = 0): boolean {
  return (p[at]! & 0x20) !== 0;
}

/** RC (reports in an SR/RR) or SC (chunks in SDES, sources in BYE). */
export function rtcpGetCount(p: Uint8Array, at = 0): number {
  return p[at]! & 0x1f;
}

export function rtcpGetPayloadType(p: Uint8Array, at = 0): number {
  return p[at + 1]!;
}

/** The length field: the packet's size in 32-bit words, minus one. */
export function rtcpSetLength(p: Uint8Array, at: number, words: number): void {
  p[at + 2] = (words >>> 8) & 0xff;
  p[at + 3] = words & 0xff;
}

export function rtcpGetLength(p: Uint8Array, at = 0): number {
  return (p[at + 2]! << 8) | p[at + 3]!;
}

/** Size in bytes of the RTCP packet at `at`, from its length field. */
export function rtcpPacketSize(p: Uint8Array, at = 0): number {
  return (rtcpGetLength(p, at) + 1) * 4;
}

function setU32(p: Uint8Array, at: number, v: number): void {
  p[at] = (v / 16777216) & 0xff; // v may be above 2^31: no signed shift
  p[at + 1] = (v >>> 16) & 0xff;
  p[at + 2] = (v >>> 8) & 0xff;
  p[at + 3] = v & 0xff;
}

function getU32(p: Uint8Array, at: number): number {
  return ((p[at]! << 24) >>> 0) + ((p[at + 1]! << 16) | (p[at + 2]! << 8) | p[at + 3]!);
}

/** The SSRC after the header: the sender's in SR, RR and BYE, the first chunk's in SDES. */
export function rtcpSetSsrc(p: Uint8Array, at: number, ssrc: number): void {
  setU32(p, at + 4, ssrc >>> 0);
}

export function rtcpGetSsrc(p: Uint8Array, at = 0): number {
  return getU32(p, at + 4);
}

/** The 64-bit NTP timestamp as its two 32-bit words. */
export function rtcpSrSetNtpTimestamp(p: Uint8Array, at: number, msw: number, lsw: number): void {
  setU32(p, at + 8, msw);
  setU32(p, at + 12, lsw);
}

/** Seconds since 1900 (most significant word). */
export function rtcpSrGetNtpMsw(p: Uint8Array, at = 0): number {
  return getU32(p, at + 8);
}

/** Fraction of a second in units of 2^-32 (least significant word). */
export function rtcpSrGetNtpLsw(p: Uint8Array, at = 0): number {
  return getU32(p, at + 12);
}

/** The RTP timestamp of the same instant as the NTP timestamp; only its low 32 bits go on the wire. */
export function rtcpSrSetRtpTimestamp(p: Uint8Array, at: number, ts: number): void {
  setU32(p, at + 16, ts % 4294967296);
}

export function rtcpSrGetRtpTimestamp(p: Uint8Array, at = 0): number {
  return getU32(p, at + 16);
}

/** RTP data packets sent since the start (wraps at 2^32). */
export function rtcpSrSetPacketCount(p: Uint8Array, at: number, packets: number): void {
  setU32(p, at + 20, packets % 4294967296);
}

export function rtcpSrGetPacketCount(p: Uint8Array, at = 0): number {
  return getU32(p, at + 20);
}

/** RTP payload octets sent since the start, headers and padding not counted (wraps at 2^32). */
export function rtcpSrSetOctetCount(p: Uint8Array, at: number, octets: number): void {
  setU32(p, at + 24, octets % 4294967296);
}

export function rtcpSrGetOctetCount(p: Uint8Array, at = 0): number {
  return getU32(p, at + 24);
}

/**
 * The most significant word of the NTP timestamp of `unixUs` (µs since 1970); its least
 * significant word is {@link ntpFractionOfUnixUs}. Two functions, so nothing is allocated.
 */
export function ntpSecondsOfUnixUs(unixUs: number): number {
  return (Math.floor(unixUs / 1_000_000) + NTP_UNIX_OFFSET_S) % 4294967296;
}

/** The fraction word of the NTP timestamp of `unixUs`, in units of 2^-32 s. */
export function ntpFractionOfUnixUs(unixUs: number): number {
  const us = unixUs - Math.floor(unixUs / 1_000_000) * 1_000_000;
  return Math.floor((us * 4294967296) / 1_000_000);
}

/** Unix µs of an NTP timestamp (NTP era 0, which runs to 2036). */
export function unixUsOfNtp(msw: number, lsw: number): number {
  return (msw - NTP_UNIX_OFFSET_S) * 1_000_000 + (lsw * 1_000_000) / 4294967296;
}

/** Writes a sender report with no report blocks at `at`; returns the offset after it. */
export function rtcpWriteSenderReport(
  p: Uint8Array,
  at: number,
  ssrc: number,
  ntpMsw: number,
  ntpLsw: number,
  rtpTimestamp: number,
  packets: number,
  octets: number,
): number {
  rtcpSetHeader(p, at, RTCP_PT_SR, 0);
  rtcpSetLength(p, at, RTCP_SR_SIZE / 4 - 1);
  rtcpSetSsrc(p, at, ssrc);
  rtcpSrSetNtpTimestamp(p, at, ntpMsw, ntpLsw);
  rtcpSrSetRtpTimestamp(p, at, rtpTimestamp);
  rtcpSrSetPacketCount(p, at, packets);
  rtcpSrSetOctetCount(p, at, octets);
  return at + RTCP_SR_SIZE;
}

/**
 * Writes a receiver report with no report blocks at `at` (6.4.2): what a source that has sent no
 * data for two reports says instead of an SR, so receivers keep it; returns the offset after it.
 */
export function rtcpWriteEmptyReceiverReport(p: Uint8Array, at: number, ssrc: number): number {
  rtcpSetHeader(p, at, RTCP_PT_RR, 0);
  rtcpSetLength(p, at, RTCP_RR_SIZE / 4 - 1);
  rtcpSetSsrc(p, at, ssrc);
  return at + RTCP_RR_SIZE;
}

/**
 * Writes an SDES packet with one chunk, `ssrc` and its CNAME item (at most 255 bytes), ended
 * by a null item and padded with zeros to a 32-bit boundary (6.5); returns the offset after it.
 */
export function rtcpWriteSdesCname(p: Uint8Array, at: number, ssrc: number, cname: Uint8Array): number {
  const length = Math.min(cname.length, 255);
  rtcpSetHeader(p, at, RTCP_PT_SDES, 1);
  rtcpSetSsrc(p, at, ssrc);
  let i = at + 8;
  p[i++] = SDES_ITEM_CNAME;
  p[i++] = length;
  for (let k = 0; k < length; k++) p[i++] = cname[k]!;
  p[i++] = SDES_ITEM_END; // at least one null octet ends the item list
  while ((i - at) % 4 !== 0) p[i++] = 0;
  rtcpSetLength(p, at, (i - at) / 4 - 1);
  return i;
}

/** The CNAME item of the SDES packet at `at` (its first chunk), or null if it has none. */
export function rtcpSdesGetCname(p: Uint8Array, at = 0): Uint8Array | null {
  const end = at + rtcpPacketSize(p, at);
  let i = at + 8;
  while (i + 1 < end && p[i] !== SDES_ITEM_END) {
    const length = p[i + 1]!;
    if (p[i] === SDES_ITEM_CNAME) return p.subarray(i + 2, i + 2 + length);
    i += 2 + length;
  }
  return null;
}

/** Writes a BYE for one source, with no reason (6.6); returns the offset after it. */
export function rtcpWriteBye(p: Uint8Array, at: number, ssrc: number): number {
  rtcpSetHeader(p, at, RTCP_PT_BYE, 1);
  rtcpSetLength(p, at, RTCP_BYE_SIZE / 4 - 1);
  rtcpSetSsrc(p, at, ssrc);
  return at + RTCP_BYE_SIZE;
}

/** True when the second byte of a datagram on an rtcp-mux port is an RTCP packet type (RFC 5761 section 4). */
export function isRtcpPayloadType(secondByte: number): boolean {
  return secondByte >= 192 && secondByte <= 223;
}
