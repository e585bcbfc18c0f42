/**
 * Program streams: ISO/IEC 11172-1 §2.4.3.2 (MPEG-1 system pack) and
 * ISO/IEC 13818-1 §2.5.3.3 (MPEG-2 program stream pack header).
 *
 * ```
 * MPEG-2 pack_header (14 bytes + stuffing):
 *  pack_start_code 0x000001BA (32)
 *  '01' SCR[32..30] 1 SCR[29..15] 1 SCR[14..0] 1 SCR_ext(9) 1    (6 bytes)
 *  program_mux_rate(22) 1 1                                       (3 bytes)
 *  reserved(5) pack_stuffing_length(3)                            (1 byte)
 *  stuffing_byte (0xff) * pack_stuffing_length
 *
 * MPEG-1 pack (12 bytes):
 *  pack_start_code 0x000001BA (32)
 *  '0010' SCR[32..30] 1 SCR[29..15] 1 SCR[14..0] 1                (5 bytes)
 *  1 mux_rate(22) 1                                               (3 bytes)
 *
 * Other packets (system header 0xBB, PES 0xBC..0xFF):
 *  packet_start_code_prefix 0x000001 (24), stream_id (8), PES_packet_length (16), ...
 * program_end_code 0x000001B9 (32)
 * ```
 *
 * SCR counts the 27 MHz system clock (MPEG-2: base*300 + ext; MPEG-1's 90 kHz
 * SCR is multiplied by 300). program_mux_rate is in units of 50 bytes/s.
 * Field functions work in place on a `Uint8Array` at the pack header offset.
 *
 * @example
 * ```ts
 * const at = psFindPack(buf, 0);
 * if (at >= 0) {
 *   psPackScr(buf, at);          // 27 MHz ticks
 *   psPackMuxRateBytes(buf, at); // bytes per second
 *   psPackSize(buf, at);         // 12 (MPEG-1) or 14 + stuffing (MPEG-2)
 * }
 * ```
 */
import { Carry, type CarryScan } from "./chunk_carry.ts";

export const PS_PACK_START_CODE = 0xba;
export const PS_SYSTEM_HEADER_START_CODE = 0xbb;
export const PS_END_CODE = 0xb9;
/** stream_ids from here up are PES packets (0xBC program_stream_map, 0xBD private_stream_1, ...). */
export const PS_FIRST_PES_STREAM_ID = 0xbc;
export const PS_MPEG1_PACK_SIZE = 12;
export const PS_MPEG2_PACK_SIZE = 14;
/** program_mux_rate unit (11172-1 §2.4.3.2, 13818-1 §2.5.3.4). */
export const PS_MUX_RATE_UNIT = 50;
/** Bytes of a start code prefix plus id plus 16-bit length (system header, PES). */
export const PS_PACKET_HEADER_SIZE = 6;
/** Largest header this module needs contiguous: MPEG-2 pack with 7 stuffing bytes. */
export const PS_MAX_PACK_SIZE = PS_MPEG2_PACK_SIZE + 7;

/** True at `o` is 0x000001BA. */
export function psIsPackStart(p: Uint8Array, o: number): boolean {
  return p[o] === 0 && p[o + 1] === 0 && p[o + 2] === 1 && p[o + 3] === PS_PACK_START_CODE;
}

/** 1 for an MPEG-1 pack ('0010' marker), 2 for MPEG-2 ('01'), 0 for neither. */
export function psPackVersion(p: Uint8Array, o: number): 0 | 1 | 2 {
  const b = p[o + 4];
  if ((b & 0xc0) === 0x40) return 2;
  if ((b & 0xf0) === 0x20) return 1;
  return 0;
}

/** True when the marker bits of the pack header at `o` are where the spec puts them. */
export function psPackMarkersValid(p: Uint8Array, o: number): boolean {
  switch (psPackVersion(p, o)) {
    case 1:
      return (p[o + 4] & 1) === 1 && (p[o + 6] & 1) === 1 && (p[o + 8] & 1) === 1 &&
        (p[o + 9] & 0x80) !== 0 && (p[o + 11] & 1) === 1;
    case 2:
      return (p[o + 4] & 0x04) !== 0 && (p[o + 6] & 0x04) !== 0 && (p[o + 8] & 0x04) !== 0 &&
        (p[o + 9] & 1) === 1 && (p[o + 12] & 0x03) === 0x03;
    default:
      return false;
  }
}

/** system_clock_reference_base (33 bits, 90 kHz). */
export function psPackScrBase(p: Uint8Array, o: number): number {
  if (psPackVersion(p, o) === 1) {
    return ((p[o + 4] >> 1) & 0x7) * 2 ** 30 + p[o + 5] * 2 ** 22 + (p[o + 6] >> 1) * 2 ** 15 +
      p[o + 7] * 2 ** 7 + (p[o + 8] >> 1);
  }
  return ((p[o + 4] >> 3) & 0x7) * 2 ** 30 + (p[o + 4] & 0x3) * 2 ** 28 + p[o + 5] * 2 ** 20 +
    (p[o + 6] >> 3) * 2 ** 15 + (p[o + 6] & 0x3) * 2 ** 13 + p[o + 7] * 2 ** 5 + (p[o + 8] >> 3);
}

/** system_clock_reference_extension (MPEG-2 only; 0 for MPEG-1). */
export function psPackScrExt(p: Uint8Array, o: number): number {
  if (psPackVersion(p, o) === 1) return 0;
  return ((p[o + 8] & 0x3) << 7) | (p[o + 9] >> 1);
}

/** SCR in 27 MHz ticks: base*300 + ext (MPEG-1: 90 kHz * 300). */
export function psPackScr(p: Uint8Array, o: number): number {
  return psPackScrBase(p, o) * 300 + psPackScrExt(p, o);
}

/** program_mux_rate field, in units of 50 bytes/s. */
export function psPackMuxRate(p: Uint8Array, o: number): number {
  if (psPackVersion(p, o) === 1) return ((p[o + 9] & 0x7f) << 15) | (p[o + 10] << 7) | (p[o + 11] >> 1);
  return (p[o + 10] << 14) | (p[o + 11] << 6) | (p[o + 12] >> 2);
}

/** program_mux_rate in bytes per second. */
export function psPackMuxRateBytes(p: Uint8Array, o: number): number {
  return psPackMuxRate(p, o) * PS_MUX_RATE_UNIT;
}

/** pack_stuffing_length (MPEG-2 only; 0 for MPEG-1). */
export function psPackStuffingLength(p: Uint8Array, o: number): number {
  return psPackVersion(p, o) === 2 ? p[o + 13] & 0x7 : 0;
}

/** Bytes of the pack header at `o`, stuffing included. */
export function psPackSize(p: Uint8Array, o: number): number {
  return psPackVersion(p, o) === 1 ? PS_MPEG1_PACK_SIZE : PS_MPEG2_PACK_SIZE + psPackStuffingLength(p, o);
}

/**
 * Writes an MPEG-2 pack header (no stuffing) at `o`: SCR in 27 MHz ticks,
 * mux rate in bytes/s (rounded up to the 50 bytes/s unit). Used by fixtures and tests.
 */
export function psWriteMpeg2Pack(p: Uint8Array, o: number, scr: number, muxRateBytes: number): void {
  const base = Math.floor(scr / 300) % 2 ** 33;
  const ext = scr % 300;
  const mux = Math.ceil(muxRateBytes / PS_MUX_RATE_UNIT);
  const hi = Math.floor(base / 2 ** 15); // SCR[32..15]
  const lo = base % 2 ** 15; // SCR[14..0]
  p[o] = 0; p[o + 1] = 0; p[o + 2] = 1; p[o + 3] = PS_PACK_START_CODE;
  p[o + 4] = 0x44 | ((Math.floor(hi / 2 ** 15) & 0x7) << 3) | ((hi >> 13) & 0x3);
  p[o + 5] = (hi >> 5) & 0xff;
  p[o + 6] = ((hi & 0x1f) << 3) | 0x04 | ((lo >> 13) & 0x3);
  p[o + 7] = (lo >> 5) & 0xff;
  p[o + 8] = ((lo & 0x1f) << 3) | 0x04 | ((ext >> 7) & 0x3);
  p[o + 9] = ((ext & 0x7f) << 1) | 1;
  p[o + 10] = (mux >> 14) & 0xff;
  p[o + 11] = (mux >> 6) & 0xff;
  p[o + 12] = ((mux & 0x3f) << 2) | 0x3;
  p[o + 13] = 0xf8; // reserved '11111', no stuffing
}

/**
 * The first offset ≥ `from` of a pack header whose version and marker bits are
 * valid and whose whole header lies before `end`, or -1.
 */
export function psFindPack(buf: Uint8Array, from: number, end: number = buf.length): number {
  for (let i = Math.max(0, from); i + 4 <= end; i++) {
    if (buf[i + 2] > 1) { i += 2; continue; } // cannot be inside 00 00 01 here
    if (!psIsPackStart(buf, i)) continue;
    if (i + PS_MPEG1_PACK_SIZE > end || !psPackMarkersValid(buf, i)) continue;
    if (i + psPackSize(buf, i) > end) continue;
    return i;
  }
  return -1;
}

/** Called for each pack header: `buf[at..]`, `streamOffset` of its first byte. */
export type PsPackCallback = (buf: Uint8Array, at: number, streamOffset: number) => void;
/** Called for each system header or PES packet (stream_id 0xBB..0xFF) the walk passes. */
export type PsPacketCallback = (streamId: number, streamOffset: number) => void;

/**
 * Streaming pack finder: walks the packet structure (pack headers, system
 * headers and PES packets by their lengths), so a 0x000001BA inside a payload
 * is not mistaken for a pack; when the structure breaks it resyncs on the next
 * valid pack header and counts the skipped bytes. Headers split over chunks
 * are joined in a small carry buffer; PES payloads are skipped without copying.
 *
 * @example
 * ```ts
 * const scanner = new PsScanner();
 * scanner.push(chunk, (buf, at, off) => console.log(off, psPackScr(buf, at)));
 * ```
 */
const noPack: PsPackCallback = () => {};

export class PsScanner {
  /** Garbage bytes skipped while resynchronising. */
  skipped = 0;
  /** Stream offset of the next byte `push` expects. */
  nextOffset: number;
  private readonly carry = new Carry();
  /** Bytes of the current PES packet still to pass over. */
  private pending = 0;
  private synced = false;
  /** The push being scanned (as TsScanner's): fields, where a closure for each push was garbage. */
  private pushBase = 0;
  private pushOnPack: PsPackCallback = noPack;
  private pushOnPacket: PsPacketCallback | undefined = undefined;
  private readonly scanPush: CarryScan = (buf, from, end, pushed) => this.scan(buf, from, end, this.pushBase + pushed - from, this.pushOnPack, this.pushOnPacket);

  constructor(streamOffset = 0) {
    this.nextOffset = streamOffset;
  }

  reset(streamOffset: number): void {
    this.nextOffset = streamOffset;
    this.carry.clear();
    this.pending = 0;
    this.synced = false;
  }

  push(chunk: Uint8Array, onPack: PsPackCallback, onPacket?: PsPacketCallback): void {
    this.pushRange(chunk, 0, chunk.length, onPack, onPacket);
  }

  /** Feeds chunk[start, end) as the next chunk (a part of a larger buffer, with no view made of it). */
  pushRange(chunk: Uint8Array, start: number, end: number, onPack: PsPackCallback, onPacket?: PsPacketCallback): void {
    this.pushBase = this.nextOffset - this.carry.length;
    this.nextOffset += end - start;
    this.pushOnPack = onPack;
    this.pushOnPacket = onPacket;
    try {
      this.carry.scan(chunk, start, end, this.scanPush);
    } finally {
      this.pushOnPack = noPack;
      this.pushOnPacket = undefined;
    }
  }

  /** Scans buf[from, end), whose byte i is at stream offset base + i; returns the index from which bytes must wait for more input. */
  private scan(buf: Uint8Array, from: number, end: number, base: number, onPack: PsPackCallback, onPacket?: PsPacketCallback): number {
    let pos = from;
    if (this.pending > 0) {
      const step = Math.min(this.pending, end - from);
      this.pending -= step;
      pos = from + step;
    }
    while (pos < end) {
      if (!this.synced) {
        const at = psFindPack(buf, pos, end);
        if (at < 0) {
          // The last few bytes might begin a pack header: keep them.
          const keep = Math.max(pos, end - PS_MAX_PACK_SIZE + 1);
          this.skipped += keep - pos;
          return keep;
        }
        this.skipped += at - pos;
        pos = at;
        this.synced = true;
      }
      if (end - pos < PS_PACKET_HEADER_SIZE) return pos;
      if (buf[pos] !== 0 || buf[pos + 1] !== 0 || buf[pos + 2] !== 1) {
        this.synced = false; // structure broken: resync on the next pack
        continue;
      }
      const id = buf[pos + 3];
      if (id === PS_PACK_START_CODE) {
        if (end - pos < PS_MAX_PACK_SIZE && end - pos < psPackSize(buf, pos)) return pos;
        if (!psPackMarkersValid(buf, pos)) {
          this.synced = false;
          this.skipped += 4;
          pos += 4;
          continue;
        }
        onPack(buf, pos, base + pos);
        pos += psPackSize(buf, pos);
      } else if (id === PS_END_CODE) {
        pos += 4;
      } else if (id >= PS_SYSTEM_HEADER_START_CODE) {
        const size = PS_PACKET_HEADER_SIZE + ((buf[pos + 4] << 8) | buf[pos + 5]);
        onPacket?.(id, base + pos);
        if (pos + size > end) {
          this.pending = pos + size - end;
          return end;
        }
        pos += size;
      } else {
        this.synced = false;
      }
    }
    return pos;
  }
}
