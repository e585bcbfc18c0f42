/**
 * Where a transport stream starts over (a `--loop` turn, the next file of a
 * sequence, a live channel's next source), every PID's continuity_counter
 * jumps and each PCR steps. Receivers count a continuity error per PID at
 * every such seam, and a decoder that trusts the counters drops what follows.
 * A looping head-end mends the seam instead, in the packets' own headers, so
 * the bytes sent stay the input's bytes and nothing is added:
 * - each PID's counter goes on from the last one sent (the first packet of a
 *   PID after the seam sets how far that PID's counters are moved, until the
 *   next seam);
 * - the first PCR after the seam on each PID that carries them gets
 *   discontinuity_indicator where it is not a sane step from the last one
 *   (back, or more than MAX_CLOCK_STEP_TICKS on): a new time base begins
 *   there (ISO/IEC 13818-1 §2.4.3.5).
 *
 * The mended bytes are written where the stream is sent from (`out`), by
 * stream offset, since a packet split across two loads reaches the scanner as
 * a joined copy. Nothing is allocated per packet. A PID's state lives in a
 * small table of the PIDs seen (a stream has a handful), not in 8192-entry
 * arrays: a server loops a thousand jobs.
 *
 * @example
 * ```ts
 * const seams = new TsSeams({ setByteAt: (offset, value) => (ring[offset % ring.length] = value) });
 * scanner.push(firstTurn, (buf, at, offset) => seams.packet(buf, at, offset));
 * seams.seamAt(firstTurn.length);   // the input starts over here
 * scanner.push(secondTurn, (buf, at, offset) => seams.packet(buf, at, offset));
 * ```
 */
import {
  AF_DISCONTINUITY, MAX_CLOCK_STEP_TICKS, PCR_WRAP, TS_PID_NULL, tsGetCc, tsGetPcr, tsGetPid, tsHasPayload, tsHasPcr,
} from "./mpegts.ts";

/** Where a mended header byte goes: the buffer the stream is sent from, by stream offset. */
export interface ByteSink {
  /** That buffer itself, where the scanner is given it in place: a packet found in it is mended where it lies. */
  readonly data?: Uint8Array;
  setByteAt(offset: number, value: number): void;
}

/** Its first packet since the last seam is still to come: it sets the PID's counter shift. */
const CC_PENDING = 1;
/** It has carried a PCR (lastPcr holds the latest). */
const CARRIES_PCR = 2;
/** Its first PCR since the last seam is still to come. */
const PCR_PENDING = 4;
/** Slots the PID table starts with; it doubles when three quarters full. */
const FIRST_SLOTS = 16;

export class TsSeams {
  /** The PID in each slot, -1 where none (open addressing from the PID's low bits). */
  private pids = new Int16Array(FIRST_SLOTS).fill(-1);
  private flags = new Uint8Array(FIRST_SLOTS);
  /** The last continuity_counter sent on the PID (after its shift). */
  private lastCc = new Uint8Array(FIRST_SLOTS);
  /** What is added to the PID's counters, mod 16, since the last seam. */
  private shift = new Uint8Array(FIRST_SLOTS);
  private lastPcr = new Float64Array(FIRST_SLOTS);
  private used = 0;
  /** The last packet's PID and slot: a stream's packets come in runs of one PID. */
  private lastPid = -1;
  private lastSlot = 0;
  /** Stream offset of a seam the packets have not reached yet (Infinity: none). */
  private nextSeam = Infinity;
  /** Seams the packets have passed. */
  seams = 0;

  constructor(private readonly out: ByteSink) {}

  /** The stream starts over at `offset`: packets from there on are after the seam. */
  seamAt(offset: number): void {
    if (offset === this.nextSeam) return;
    // One seam not yet reached is taken at once: marking a PID early costs nothing where its
    // counters run on (its shift comes out unchanged), and a turn that short has none to mend.
    if (this.nextSeam !== Infinity) this.begin();
    this.nextSeam = offset;
  }

  /** One packet: buf[at] is its sync byte, and it lies at `streamOffset` of the stream. */
  packet(buf: Uint8Array, at: number, streamOffset: number): void {
    if (streamOffset >= this.nextSeam) {
      this.nextSeam = Infinity;
      this.begin();
    }
    const pid = tsGetPid(buf, at);
    if (pid === TS_PID_NULL) return;
    const slot = pid === this.lastPid ? this.lastSlot : this.slotOf(pid);
    this.lastPid = pid;
    this.lastSlot = slot;
    let flags = this.flags[slot]!;
    const cc = tsGetCc(buf, at);
    if (flags & CC_PENDING) {
      // A packet without payload does not move the counter (§2.4.3.3).
      const expected = (this.lastCc[slot]! + (tsHasPayload(buf, at) ? 1 : 0)) & 0xf;
      this.shift[slot] = (expected - cc) & 0xf;
      flags &= ~CC_PENDING;
    }
    const shift = this.shift[slot]!;
    const sent = (cc + shift) & 0xf;
    this.lastCc[slot] = sent;
    if (shift !== 0) this.write(buf, at, streamOffset, 3, (buf[at + 3]! & 0xf0) | sent);
    if (tsHasPcr(buf, at)) {
      const pcr = tsGetPcr(buf, at);
      if (flags & PCR_PENDING) {
        const step = (pcr - this.lastPcr[slot]! + PCR_WRAP) % PCR_WRAP;
        if (step === 0 || step > MAX_CLOCK_STEP_TICKS) this.write(buf, at, streamOffset, 5, buf[at + 5]! | AF_DISCONTINUITY);
        flags &= ~PCR_PENDING;
      }
      this.lastPcr[slot] = pcr;
      flags |= CARRIES_PCR;
    }
    this.flags[slot] = flags;
  }

  private begin(): void {
    const { pids, flags } = this;
    for (let slot = 0; slot < pids.length; slot++) {
      if (pids[slot]! >= 0) flags[slot] = flags[slot]! | CC_PENDING | (flags[slot]! & CARRIES_PCR ? PCR_PENDING : 0);
    }
    this.seams++;
  }

  /** The PID's slot, taken the first time it is seen (its first packet sets its counter: no shift). */
  private slotOf(pid: number): number {
    const mask = this.pids.length - 1;
    for (let slot = pid & mask; ; slot = (slot + 1) & mask) {
      const held = this.pids[slot]!;
      if (held === pid) return slot;
      if (held >= 0) continue;
      if (4 * (this.used + 1) > 3 * this.pids.length) {
        this.grow();
        return this.slotOf(pid);
      }
      this.pids[slot] = pid;
      this.used++;
      return slot;
    }
  }

  /** Twice the slots, every PID moved to its place in them (a new PID, so rare). */
  private grow(): void {
    const { pids, flags, lastCc, shift, lastPcr } = this;
    const size = 2 * pids.length;
    this.pids = new Int16Array(size).fill(-1);
    this.flags = new Uint8Array(size);
    this.lastCc = new Uint8Array(size);
    this.shift = new Uint8Array(size);
    this.lastPcr = new Float64Array(size);
    this.used = 0;
    this.lastPid = -1;
    for (let old = 0; old < pids.length; old++) {
      if (pids[old]! < 0) continue;
      const slot = this.slotOf(pids[old]!);
      this.flags[slot] = flags[old]!;
      this.lastCc[slot] = lastCc[old]!;
      this.shift[slot] = shift[old]!;
      this.lastPcr[slot] = lastPcr[old]!;
    }
  }

  /** Byte `at + i` of the packet, in what the scanner has (which the clock reads next) and, if that is a copy, where it is sent from. */
  private write(buf: Uint8Array, at: number, streamOffset: number, i: number, value: number): void {
    buf[at + i] = value;
    if (buf !== this.out.data) this.out.setByteAt(streamOffset + i, value);
  }
}
