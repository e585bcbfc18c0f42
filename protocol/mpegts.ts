/**
 * ISO/IEC 13818-1 (ITU-T H.222.0) §2.4.3 — MPEG-2 transport stream packets.
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  sync_byte    |E|S|P|          PID            |TSC|AFC|  CC   |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | adaptation_field (when AFC & 2): length, flags, [PCR 6 bytes] |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | payload (when AFC & 1) ... up to byte 187                      |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  E = transport_error_indicator, S = payload_unit_start_indicator,
 *  P = transport_priority, TSC = transport_scrambling_control,
 *  AFC = adaptation_field_control, CC = continuity_counter.
 *
 * adaptation_field flags byte (§2.4.3.4):
 *  discontinuity_indicator(0x80) random_access_indicator(0x40)
 *  elementary_stream_priority_indicator(0x20) PCR_flag(0x10) OPCR_flag(0x08)
 *  splicing_point_flag(0x04) transport_private_data_flag(0x02) extension(0x01)
 *
 * PCR: program_clock_reference_base (33 bits, 90 kHz), 6 reserved bits,
 *      program_clock_reference_extension (9 bits, 27 MHz); PCR = base*300 + ext.
 * ```
 *
 * Every field is a pair of functions over a `Uint8Array` at a packet offset `o`,
 * in the style of biTStream's `mpeg/ts.h`: no objects, no copies, no allocation.
 *
 * @example
 * ```ts
 * const p = new Uint8Array(TS_SIZE);
 * tsInit(p, 0);
 * tsSetPid(p, 0, 0x100);
 * tsSetAdaptation(p, 0, 7);
 * tsSetPcr(p, 0, 27_000_000); // one second
 * tsGetPid(p, 0); // 0x100
 * tsGetPcr(p, 0); // 27000000
 * ```
 */
import { Carry, type CarryScan } from "./chunk_carry.ts";

export const TS_SIZE = 188;
export const TS_SYNC = 0x47;
export const TS_HEADER_SIZE = 4;
/** The null packet PID (§2.4.3.3 table 2-3). */
export const TS_PID_NULL = 0x1fff;
/** PCR clock: 27 MHz system clock (§2.4.2.1). */
export const PCR_HZ = 27_000_000;
/** PCR base is 33 bits of 90 kHz; the full PCR wraps at 2^33 * 300 ticks (~26.5 h). */
export const PCR_BASE_WRAP = 2 ** 33;
export const PCR_WRAP = PCR_BASE_WRAP * 300;
/** A clock step larger than this is a discontinuity (13818-1 allows ≤ 100 ms PCR, ≤ 700 ms SCR spacing). */
export const MAX_CLOCK_STEP_TICKS = PCR_HZ;
/** Bytes of an adaptation field needed to hold a PCR: flags byte + 6 PCR bytes. */
export const TS_PCR_ADAPTATION_LENGTH = 7;

export const AF_DISCONTINUITY = 0x80;
const AF_RANDOM_ACCESS = 0x40;
const AF_PCR = 0x10;
/** Sync bytes a resync confirms: the candidate, +188 and (when present) +376. */
const RESYNC_CONFIRM = 2;

/**
 * How TS packets lie in a byte stream: back to back (188 bytes), or each in a larger unit with
 * bytes of its own before the packet (M2TS's 192-byte source packets, protocol/mpeg_m2ts.ts) or
 * after it (a trailer). `size` is the stride and `syncAt` where the sync byte sits in each.
 */
export interface TsPacking {
  readonly size: number;
  readonly syncAt: number;
}

/** Plain transport stream: 188-byte packets back to back. */
export const TS_PACKING: TsPacking = { size: TS_SIZE, syncAt: 0 };

/** Bytes some recorders write after each packet (a timecode, a CRC: no standard says which). */
export const TS_TRAILER_SIZE = 4;
/** TS with a trailer after each packet: 192-byte units, the sync byte first (M2TS has it 4 bytes in). */
export const TS_TRAILER_PACKING: TsPacking = { size: TS_SIZE + TS_TRAILER_SIZE, syncAt: 0 };

/** Reed-Solomon parity after each packet in DVB's 204-byte packets (EN 300 421 §4.4.2; DVB-ASI captures keep it). */
export const TS_RS_PARITY_SIZE = 16;
/** TS with RS(204,188) parity: 204-byte units, the sync byte first. */
export const TS_RS_PACKING: TsPacking = { size: TS_SIZE + TS_RS_PARITY_SIZE, syncAt: 0 };

/** Writes a blank packet header: sync, PID 0x1fff, payload only, CC 0. */
export function tsInit(p: Uint8Array, o: number): void {
  p[o] = TS_SYNC;
  p[o + 1] = TS_PID_NULL >> 8;
  p[o + 2] = TS_PID_NULL & 0xff;
  p[o + 3] = 0x10;
}

export function tsHasSync(p: Uint8Array, o: number): boolean {
  return p[o] === TS_SYNC;
}

export function tsGetTransportError(p: Uint8Array, o: number): boolean {
  return (p[o + 1] & 0x80) !== 0;
}

export function tsGetPayloadUnitStart(p: Uint8Array, o: number): boolean {
  return (p[o + 1] & 0x40) !== 0;
}

export function tsSetPayloadUnitStart(p: Uint8Array, o: number, on: boolean): void {
  p[o + 1] = on ? p[o + 1] | 0x40 : p[o + 1] & ~0x40;
}

export function tsGetPid(p: Uint8Array, o: number): number {
  return ((p[o + 1] & 0x1f) << 8) | p[o + 2];
}

export function tsSetPid(p: Uint8Array, o: number, pid: number): void {
  p[o + 1] = (p[o + 1] & 0xe0) | ((pid >> 8) & 0x1f);
  p[o + 2] = pid & 0xff;
}

export function tsGetScrambling(p: Uint8Array, o: number): number {
  return (p[o + 3] >> 6) & 0x3;
}

export function tsHasAdaptation(p: Uint8Array, o: number): boolean {
  return (p[o + 3] & 0x20) !== 0;
}

export function tsHasPayload(p: Uint8Array, o: number): boolean {
  return (p[o + 3] & 0x10) !== 0;
}

export function tsSetPayload(p: Uint8Array, o: number, on: boolean): void {
  p[o + 3] = on ? p[o + 3] | 0x10 : p[o + 3] & ~0x10;
}

export function tsGetCc(p: Uint8Array, o: number): number {
  return p[o + 3] & 0x0f;
}

export function tsSetCc(p: Uint8Array, o: number, cc: number): void {
  p[o + 3] = (p[o + 3] & 0xf0) | (cc & 0x0f);
}

/** adaptation_field_length, or 0 when the packet has no adaptation field. */
export function tsGetAdaptationLength(p: Uint8Array, o: number): number {
  return tsHasAdaptation(p, o) ? p[o + 4] : 0;
}

/**
 * Adds an adaptation field of `length` bytes (after the length byte), flags cleared
 * and the rest stuffed with 0xff, as §2.4.3.5 requires.
 */
export function tsSetAdaptation(p: Uint8Array, o: number, length: number): void {
  p[o + 3] |= 0x20;
  p[o + 4] = length;
  if (length > 0) p[o + 5] = 0;
  for (let i = 6; i < 5 + length; i++) p[o + i] = 0xff;
}

/** Offset, from the packet start, of the first payload byte. */
export function tsGetPayloadOffset(p: Uint8Array, o: number): number {
  return tsHasAdaptation(p, o) ? TS_HEADER_SIZE + 1 + p[o + 4] : TS_HEADER_SIZE;
}

function tsGetAdaptationFlags(p: Uint8Array, o: number): number {
  return tsGetAdaptationLength(p, o) > 0 ? p[o + 5] : 0;
}

export function tsGetDiscontinuity(p: Uint8Array, o: number): boolean {
  return (tsGetAdaptationFlags(p, o) & AF_DISCONTINUITY) !== 0;
}

/** Needs an adaptation field of length ≥ 1 (see tsSetAdaptation). */
export function tsSetDiscontinuity(p: Uint8Array, o: number, on: boolean): void {
  p[o + 5] = on ? p[o + 5] | AF_DISCONTINUITY : p[o + 5] & ~AF_DISCONTINUITY;
}

export function tsGetRandomAccess(p: Uint8Array, o: number): boolean {
  return (tsGetAdaptationFlags(p, o) & AF_RANDOM_ACCESS) !== 0;
}

export function tsHasPcr(p: Uint8Array, o: number): boolean {
  return (
    tsGetAdaptationLength(p, o) >= TS_PCR_ADAPTATION_LENGTH && (p[o + 5] & AF_PCR) !== 0
  );
}

/** PCR in 27 MHz ticks (base*300 + ext). Call only when tsHasPcr. Exact: < 2^53. */
export function tsGetPcr(p: Uint8Array, o: number): number {
  // 33-bit base: multiply instead of shifting, JS shifts are 32-bit.
  const base =
    p[o + 6] * 0x2000000 + p[o + 7] * 0x20000 + p[o + 8] * 0x200 + p[o + 9] * 2 + (p[o + 10] >> 7);
  const ext = ((p[o + 10] & 1) << 8) | p[o + 11];
  return base * 300 + ext;
}

/**
 * Writes a PCR (27 MHz ticks, taken modulo PCR_WRAP) and sets PCR_flag.
 * Needs an adaptation field of length ≥ 7 (see tsSetAdaptation).
 */
export function tsSetPcr(p: Uint8Array, o: number, pcr: number): void {
  const t = ((pcr % PCR_WRAP) + PCR_WRAP) % PCR_WRAP;
  const base = Math.floor(t / 300);
  const ext = t % 300;
  p[o + 5] |= AF_PCR;
  p[o + 6] = Math.floor(base / 0x2000000) & 0xff;
  p[o + 7] = Math.floor(base / 0x20000) & 0xff;
  p[o + 8] = Math.floor(base / 0x200) & 0xff;
  p[o + 9] = Math.floor(base / 2) & 0xff;
  p[o + 10] = ((base & 1) << 7) | 0x7e | (ext >> 8); // 6 reserved bits are '1'
  p[o + 11] = ext & 0xff;
}

/**
 * The first packet start in [from, end) whose sync byte repeats one packet later
 * (and two packets later when those bytes are inside [from, end)), or -1.
 * A candidate needs at least one packet and one byte before `end` to be confirmed.
 * `packing` says where packets and their sync bytes lie (default: plain 188-byte TS).
 *
 * @example
 * ```ts
 * const at = tsFindSync(buf, 0, buf.length);
 * if (at >= 0) console.log(`skipped ${at} garbage bytes`);
 * ```
 */
export function tsFindSync(buf: Uint8Array, from: number, end: number = buf.length, packing: TsPacking = TS_PACKING): number {
  const { size, syncAt } = packing;
  const limit = Math.min(end, buf.length);
  const last = limit - size - syncAt - 1;
  for (let i = Math.max(0, from); i <= last; i++) {
    if (buf[i + syncAt] !== TS_SYNC || buf[i + size + syncAt] !== TS_SYNC) continue;
    const third = i + RESYNC_CONFIRM * size + syncAt;
    if (third < limit && buf[third] !== TS_SYNC) continue;
    return i;
  }
  return -1;
}

/** Called for each aligned packet: `buf[at .. at+packing.size)`, `streamOffset` of its first byte. */
export type TsPacketCallback = (buf: Uint8Array, at: number, streamOffset: number) => void;

/**
 * Streaming packet aligner: give it byte chunks as they arrive, it calls back
 * once per aligned packet (188 bytes, or 192 with M2TS's packing) and counts
 * the garbage bytes it skipped.
 *
 * While locked it takes each packet whose first byte is 0x47 once the next
 * packet's sync byte is there too, so a push's last packet waits for the next
 * push (or flush). Where that byte is missing and another packet starts inside
 * this one, confirmed, the packet was cut short: it is garbage, and the next
 * goes whole (it had gone out spliced onto the cut one's bytes). When a sync
 * byte is missing it resynchronises with `tsFindSync`, fully confirmed (three
 * sync bytes), so what is found and skipped does not depend on how the input
 * was chunked. Bytes held between pushes are joined with the next push's
 * first bytes only (chunk_carry.ts; none is copied per packet).
 *
 * @example
 * ```ts
 * const scanner = new TsScanner();
 * for (const chunk of chunks) scanner.push(chunk, (buf, at, off) => handle(buf, at));
 * scanner.flush(handle);
 * console.log(scanner.skipped, "garbage bytes");
 * ```
 */
const noPacket: TsPacketCallback = () => {};

export class TsScanner {
  /** Garbage bytes skipped so far. */
  skipped = 0;
  /** Stream offset of the next byte `push` expects. */
  nextOffset: number;
  private readonly carry = new Carry();
  private locked = false;
  /** A bit for each PID a packet found has carried: a cut's next packet is one the stream has (see startWithin). */
  private readonly pidsSeen = new Uint8Array(1024);
  private readonly size: number;
  private readonly syncAt: number;
  /** The push being scanned: the stream offset of its first byte (the held ones included) and its callback; fields, where a closure for each push was garbage. */
  private pushBase = 0;
  private pushCallback: TsPacketCallback = noPacket;
  private readonly scanPush: CarryScan = (buf, from, end, pushed) => this.scan(buf, from, end, this.pushBase + pushed - from, this.pushCallback, false);
  /**
   * Hears of every run of garbage bytes skipped between packets, with its stream offset, as soon
   * as it is certain (not the unconfirmed tail that flush drops at the very end).
   */
  onSkip: ((offset: number, length: number) => void) | null = null;

  constructor(streamOffset = 0, readonly packing: TsPacking = TS_PACKING) {
    this.nextOffset = streamOffset;
    this.size = packing.size;
    this.syncAt = packing.syncAt;
  }

  /** Stream offset up to which every byte is decided: a packet, or garbage already reported. */
  get settledOffset(): number {
    return this.nextOffset - this.carry.length;
  }

  /** Forgets any partial packet and lock, as after a seek to `streamOffset`. */
  reset(streamOffset: number): void {
    this.nextOffset = streamOffset;
    this.carry.clear();
    this.locked = false;
  }

  /** Feeds the next chunk; calls `onPacket` for each packet completed by it. */
  push(chunk: Uint8Array, onPacket: TsPacketCallback): void {
    this.pushRange(chunk, 0, chunk.length, onPacket);
  }

  /** Feeds chunk[start, end) as the next chunk (a part of a larger buffer, with no view made of it). */
  pushRange(chunk: Uint8Array, start: number, end: number, onPacket: TsPacketCallback): void {
    this.pushBase = this.nextOffset - this.carry.length;
    this.nextOffset += end - start;
    this.pushCallback = onPacket;
    try {
      this.carry.scan(chunk, start, end, this.scanPush);
    } finally {
      this.pushCallback = noPacket;
    }
  }

  /**
   * End of stream: takes what can still be confirmed (and a last packet nothing follows, where it
   * is all that is left or carries a PID the stream has: see scan), counts the rest as skipped. Garbage found
   * on the way is reported to onSkip; a cut-off last packet is counted but not reported (it is the
   * stream's own tail, not garbage between packets), unless `reportTail` says more follows (a loop).
   */
  flush(onPacket: TsPacketCallback, reportTail = false): void {
    const held = this.carry.length;
    const base = this.nextOffset - held;
    const keep = this.scan(this.carry.held, 0, held, base, onPacket, true);
    // With reportTail (the input starts over after this), a cut-off last packet is garbage too.
    if (reportTail) this.skip(base + keep, held - keep);
    else this.skipped += held - keep;
    this.carry.clear();
    this.locked = false;
  }

  /**
   * No more bytes for now (the input is dry, a reader waits): a whole packet held only for want
   * of the next one's sync byte goes as it is, as at the end. Bytes held for anything else (a cut
   * still to be told from garbage, an unfinished packet) wait on.
   */
  release(onPacket: TsPacketCallback): void {
    const held = this.carry.length;
    if (!this.locked || held < this.size || held > this.size + this.syncAt || this.carry.held[this.syncAt] !== TS_SYNC) return;
    onPacket(this.carry.held, 0, this.nextOffset - held);
    this.carry.drop(this.size);
  }

  private skip(offset: number, length: number): void {
    if (length <= 0) return;
    this.skipped += length;
    this.onSkip?.(offset, length);
  }

  /** Scans buf[from, end), whose byte i is at stream offset base + i; returns the index from which bytes must wait for more input. */
  private scan(buf: Uint8Array, from: number, end: number, base: number, onPacket: TsPacketCallback, atEnd: boolean): number {
    const { size, syncAt } = this;
    let pos = from;
    while (end - pos >= size) {
      if (this.locked && buf[pos + syncAt] === TS_SYNC) {
        // A packet goes once the next one's sync byte (or the stream's end) says it is whole.
        const next = pos + size + syncAt;
        if (next >= end && !atEnd) return pos;
        const start = next < end && buf[next] !== TS_SYNC ? this.startWithin(buf, pos, end, atEnd) : pos;
        if (start < 0) return pos;
        if (start > pos) {
          // Cut short where another packet starts: its bytes are garbage, the next goes whole.
          this.skip(base + pos, start - pos);
          pos = start;
          continue;
        }
        const pid = tsGetPid(buf, pos + syncAt);
        this.pidsSeen[pid >> 3] |= 1 << (pid & 7);
        onPacket(buf, pos, base + pos);
        pos += size;
        continue;
      }
      this.locked = false;
      const at = tsFindSync(buf, pos, end, this.packing);
      if (at < 0) {
        // At the end nothing follows to confirm a last packet on its own (--start in the last
        // packet's time reads only it): the last `size` bytes, sync byte in place, are one, and
        // what lies before them is garbage, if they are all that is left or carry a PID the
        // stream has (junk at a file's end has a 0x47 where a packet would start 1 time in 256).
        const last = end - size;
        if (atEnd && last >= pos && buf[last + syncAt] === TS_SYNC && (last === pos || this.seen(tsGetPid(buf, last + syncAt)))) {
          this.skip(base + pos, last - pos);
          onPacket(buf, last, base + last);
          return end;
        }
        // Every candidate that could be checked failed; only the last
        // packet's worth of bytes may still start a packet once more data arrives.
        // At the end nothing more will come: the rest counts as garbage.
        const undecided = atEnd ? end : Math.max(pos, end - size - syncAt);
        this.skip(base + pos, undecided - pos);
        return undecided;
      }
      if (!atEnd && at + RESYNC_CONFIRM * size + syncAt >= end) {
        // Found but not yet confirmed by a third sync byte: wait for more data.
        this.skip(base + pos, at - pos);
        return at;
      }
      this.skip(base + pos, at - pos);
      pos = at;
      this.locked = true;
    }
    return pos;
  }

  /**
   * The packet at `pos` is not followed by a sync byte: where another packet starts inside it,
   * confirmed as a resync is (it was cut short there), else `pos` (it is whole, garbage follows);
   * -1 while that needs bytes past `end`.
   */
  private startWithin(buf: Uint8Array, pos: number, end: number, atEnd: boolean): number {
    const { size, syncAt } = this;
    // The last start inside it, pos + size - 1, is confirmed by sync bytes one and two packets on.
    const decided = pos + (RESYNC_CONFIRM + 1) * size + syncAt;
    if (end < decided && !atEnd) return -1;
    const at = tsFindSync(buf, pos + 1, Math.min(end, decided), this.packing);
    if (at < 0 || at >= pos + size) return pos;
    // A whole packet's payload full of 0x47 (as a stuffing run can be) followed by garbage shows
    // a chain of sync bytes inside it too, where the garbage's length falls on one; its "header"
    // is payload then, with a PID the stream has not carried. A cut's next packet is the stream's.
    return this.seen(tsGetPid(buf, at + syncAt)) ? at : pos;
  }

  /** Whether a packet found has carried `pid` (the null PID always counts). */
  private seen(pid: number): boolean {
    return pid === TS_PID_NULL || (this.pidsSeen[pid >> 3]! & (1 << (pid & 7))) !== 0;
  }
}
