/**
 * RTP fixed header, RFC 3550 section 5.1. Field accessors work in place on
 * a packet buffer, in the style of biTStream's ietf/rtp.h: no objects, no
 * copies, no allocation.
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |V=2|P|X|  CC   |M|     PT      |       sequence number         |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                           timestamp                           |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |           synchronization source (SSRC) identifier            |
 * +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 * |            contributing source (CSRC) identifiers             |
 * |                             ....                              |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ```
 *
 * @example
 * ```ts
 * const p = new Uint8Array(RTP_HEADER_SIZE + 4);
 * rtpSetHeader(p, 10);
 * rtpSetSeqnum(p, 65535); rtpSetTimestamp(p, 2 ** 32 + 5);
 * rtpGetTimestamp(p); // 5: 32 bits on the wire
 * ```
 */

export const RTP_HEADER_SIZE = 12;
export const RTP_VERSION = 2;
/** RFC 3551 static payload types pacer uses. */
export const PT_L16_STEREO = 10;
export const PT_L16_MONO = 11;
export const PT_MP2T = 33;
/** The first dynamic payload type (RFC 3551 section 3). */
export const PT_DYNAMIC = 96;
/** RFC 2250: MPEG timestamps run at 90 kHz. */
export const MPEG_CLOCK_HZ = 90_000;

/** Writes V=2, no padding, no extension, no CSRC, marker clear, and the payload type. */
export function rtpSetHeader(p: Uint8Array, payloadType: number): void {
  p[0] = RTP_VERSION << 6;
  p[1] = payloadType & 0x7f;
}

export function rtpGetVersion(p: Uint8Array): number {
  return p[0]! >> 6;
}

export function rtpHasPadding(p: Uint8Array): boolean {
  return (p[0]! & 0x20) !== 0;
}

export function rtpHasExtension(p: Uint8Array): boolean {
  return (p[0]! & 0x10) !== 0;
}

export function rtpGetCsrcCount(p: Uint8Array): number {
  return p[0]! & 0x0f;
}

export function rtpSetMarker(p: Uint8Array, marker: boolean): void {
  p[1] = marker ? p[1]! | 0x80 : p[1]! & 0x7f;
}

export function rtpGetMarker(p: Uint8Array): boolean {
  return (p[1]! & 0x80) !== 0;
}

export function rtpSetPayloadType(p: Uint8Array, pt: number): void {
  p[1] = (p[1]! & 0x80) | (pt & 0x7f);
}

export function rtpGetPayloadType(p: Uint8Array): number {
  return p[1]! & 0x7f;
}

export function rtpSetSeqnum(p: Uint8Array, seq: number): void {
  p[2] = (seq >>> 8) & 0xff;
  p[3] = seq & 0xff;
}

export function rtpGetSeqnum(p: Uint8Array): number {
  return (p[2]! << 8) | p[3]!;
}

/** Sets the timestamp from a count of any size: only its low 32 bits go on the wire. */
export function rtpSetTimestamp(p: Uint8Array, ts: number): void {
  const low = ts % 4294967296; // counts are kept as 53-bit integers; the wire takes the low 32 bits
  p[4] = (low / 16777216) & 0xff;
  p[5] = (low >>> 16) & 0xff;
  p[6] = (low >>> 8) & 0xff;
  p[7] = low & 0xff;
}

export function rtpGetTimestamp(p: Uint8Array): number {
  return ((p[4]! << 24) >>> 0) + ((p[5]! << 16) | (p[6]! << 8) | p[7]!);
}

export function rtpSetSsrc(p: Uint8Array, ssrc: number): void {
  p[8] = (ssrc >>> 24) & 0xff;
  p[9] = (ssrc >>> 16) & 0xff;
  p[10] = (ssrc >>> 8) & 0xff;
  p[11] = ssrc & 0xff;
}

export function rtpGetSsrc(p: Uint8Array): number {
  return ((p[8]! << 24) >>> 0) + ((p[9]! << 16) | (p[10]! << 8) | p[11]!);
}

/**
 * Where the payload starts, past CSRCs and any header extension, or -1 if
 * the packet is too short or not version 2. Used by receivers to strip RTP.
 */
export function rtpPayloadOffset(p: Uint8Array, length = p.length): number {
  if (length < RTP_HEADER_SIZE || rtpGetVersion(p) !== RTP_VERSION) return -1;
  let offset = RTP_HEADER_SIZE + 4 * rtpGetCsrcCount(p);
  if (rtpHasExtension(p)) {
    if (length < offset + 4) return -1;
    offset += 4 + 4 * ((p[offset + 2]! << 8) | p[offset + 3]!);
  }
  return offset <= length ? offset : -1;
}

/** Payload length after removing RTP padding (RFC 3550 5.1, P bit), or -1 if malformed. */
export function rtpPayloadEnd(p: Uint8Array, length = p.length): number {
  if (!rtpHasPadding(p)) return length;
  const pad = p[length - 1]!;
  return pad === 0 || pad > length - RTP_HEADER_SIZE ? -1 : length - pad;
}
