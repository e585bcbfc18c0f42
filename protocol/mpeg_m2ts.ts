/**
 * M2TS: the BDAV MPEG-2 transport stream of Blu-ray Disc Read-Only Format
 * part 3 (Audio Visual Basic Specifications) and AVCHD. Each 188-byte TS
 * packet (ISO/IEC 13818-1 §2.4.3) follows a 4-byte TP_extra_header, making
 * 192-byte source packets.
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |CPI|             arrival_time_stamp (30 bits, 27 MHz)          |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  sync_byte 0x47 | ... the 188-byte transport packet ...        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  CPI = copy_permission_indicator.
 * ```
 *
 * The arrival_time_stamp is the packet's arrival time at the recorder on a
 * 27 MHz clock (the PCR's), modulo 2^30 (it wraps every 39.8 s): written so
 * that a player can hand the packets on with their original timing.
 *
 * @example
 * ```ts
 * const p = new Uint8Array(M2TS_SIZE);
 * m2tsSetArrivalTime(p, 0, 27_000_000);
 * m2tsGetArrivalTime(p, 0); // 27000000
 * p.subarray(M2TS_HEADER_SIZE, M2TS_SIZE); // the TS packet
 * ```
 */
import { TS_SIZE, type TsPacking } from "./mpegts.ts";

export const M2TS_HEADER_SIZE = 4;
export const M2TS_SIZE = M2TS_HEADER_SIZE + TS_SIZE;
/** arrival_time_stamp is 30 bits of the 27 MHz clock. */
export const ATS_WRAP = 2 ** 30;
/** TS packets in M2TS: 192-byte strides, the sync byte after the 4-byte header. */
export const M2TS_PACKING: TsPacking = { size: M2TS_SIZE, syncAt: M2TS_HEADER_SIZE };

/** copy_permission_indicator (2 bits). */
export function m2tsGetCopyPermission(p: Uint8Array, o: number): number {
  return p[o] >> 6;
}

/** arrival_time_stamp, 27 MHz ticks modulo ATS_WRAP. */
export function m2tsGetArrivalTime(p: Uint8Array, o: number): number {
  return (p[o] & 0x3f) * 0x1000000 + ((p[o + 1] << 16) | (p[o + 2] << 8) | p[o + 3]);
}

/** Writes arrival_time_stamp (taken modulo ATS_WRAP), keeping copy_permission_indicator. */
export function m2tsSetArrivalTime(p: Uint8Array, o: number, ats: number): void {
  const t = ((ats % ATS_WRAP) + ATS_WRAP) % ATS_WRAP;
  p[o] = (p[o] & 0xc0) | Math.floor(t / 0x1000000);
  p[o + 1] = (t >> 16) & 0xff;
  p[o + 2] = (t >> 8) & 0xff;
  p[o + 3] = t & 0xff;
}
