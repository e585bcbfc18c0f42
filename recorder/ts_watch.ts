/**
 * What the recorder watches in a TS as it writes it: where each packet starts (cuts go only on
 * a 188-byte boundary), which packets open a PAT (a rotation cuts just before one, so each file
 * plays on its own), and continuity-counter errors per PID (ISO/IEC 13818-1 §2.4.3.3: a packet
 * with payload adds one, mod 16; one repeat is allowed; discontinuity_indicator resets), and
 * whether what was recorded as TS was TS at all (notTsNote): a file of anything else ended
 * "cc errors 0", as clean as a good recording.
 *
 * @example
 * ```ts
 * const watch = new TsWatch();
 * watch.check(buf, at); // counts a continuity error, if any
 * isPatStart(buf, at);  // PID 0 with payload_unit_start
 * ```
 */
import { TS_PACKING, TS_SYNC, type TsPacking, tsGetCc, tsGetDiscontinuity, tsGetPayloadUnitStart, tsGetPid, tsHasAdaptation, tsHasPayload } from "../protocol/mpegts.ts";

const PID_COUNT = 8192;
const PAT_PID = 0;
const NULL_PID = 0x1fff;

/** True when the packet at `at` starts a PAT section. */
export function isPatStart(buf: Uint8Array, at: number): boolean {
  return buf[at] === TS_SYNC && tsGetPid(buf, at) === PAT_PID && tsGetPayloadUnitStart(buf, at);
}

/** True when `at` looks like a unit's start: a sync byte, and another one a unit on where there is room. */
export function atPacket(buf: Uint8Array, at: number, end: number, { size, syncAt }: TsPacking = TS_PACKING): boolean {
  return buf[at + syncAt] === TS_SYNC && (at + size + syncAt >= end || buf[at + size + syncAt] === TS_SYNC);
}

export class TsWatch {
  ccErrors = 0;
  /** Packets seen in sync, and bytes passed over looking for the sync (kept as they came). */
  packets = 0;
  strayBytes = 0;
  /** Last CC per PID, or -1 before the first packet with payload. */
  private readonly lastCc = new Int8Array(PID_COUNT).fill(-1);
  private readonly repeated = new Uint8Array(PID_COUNT);

  /** Checks the packet at `at`; returns true when its CC shows packets missing before it. */
  check(buf: Uint8Array, at: number): boolean {
    this.packets++;
    const pid = tsGetPid(buf, at);
    if (pid === NULL_PID || !tsHasPayload(buf, at)) return false;
    const cc = tsGetCc(buf, at);
    const last = this.lastCc[pid]!;
    this.lastCc[pid] = cc;
    if (last < 0 || (tsHasAdaptation(buf, at) && tsGetDiscontinuity(buf, at))) return false;
    if (cc === ((last + 1) & 0xf)) {
      this.repeated[pid] = 0;
      return false;
    }
    if (cc === last && this.repeated[pid] === 0) {
      this.repeated[pid] = 1; // a duplicate packet is allowed once
      return false;
    }
    this.ccErrors++;
    return true;
  }
}

/**
 * What a recording of kind TS says when most of it was not TS: `no MPEG-TS packets found` (no
 * 0x47 sync, 188 bytes apart), or `not MPEG-TS: P packets in B bytes`; null when it was TS.
 * Most, not all: random bytes hold a false packet about every 64 KiB.
 */
export function notTsNote(packets: number, strayBytes: number, bytes: number): string | null {
  if (packets === 0) return bytes === 0 ? null : "no MPEG-TS packets found";
  return strayBytes * 2 > bytes ? `not MPEG-TS: ${packets} packets in ${bytes} bytes` : null;
}
