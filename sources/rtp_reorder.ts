/**
 * Puts RTP packets back in sequence-number order (RFC 3550 §5.1, §A.1) within a small window,
 * drops duplicates and packets that come after their place has gone, and counts the holes. A
 * hole is waited for up to `holdMs` (or until the window is full), then declared lost; the first
 * packets are held as long, so one that comes before them is still put first. A jump far ahead
 * or behind is taken only when the next packet is in sequence with it (§A.1's probation): then
 * the sender restarted its numbering and both go on; a lone one is a stray, dropped. A packet
 * from another sender (SSRC) is kept on probation the same way: followed by its own next one, the
 * sender changed (an encoder restarted) and both go on; one the sender followed interleaves with
 * (a second sender to the same port) is dropped, not mixed in. Everything dropped is counted.
 * Payloads are copied into slots allocated once; nothing is allocated per packet.
 *
 * @example
 * ```ts
 * const reorder = new RtpReorder({ deliver: (payload) => queue.push(payload), onLoss: (n, first) => log(n) });
 * reorder.push(datagram, performance.now());
 * reorder.tick(performance.now()); // declares overdue holes lost
 * ```
 */
import { isRtcpPayloadType } from "../protocol/rtcp.ts";
import { rtpGetPayloadType, rtpGetSeqnum, rtpGetSsrc, rtpPayloadEnd, rtpPayloadOffset } from "../protocol/rtp.ts";

/** Packets held at most while a hole is open (at 1316 bytes, 42 KiB). */
export const REORDER_WINDOW = 32;
/** How long a hole is waited for: well past a swap in a switch, short of a visible delay. */
export const REORDER_HOLD_MS = 50;
/** This many packets in a row from a little behind mean the sender restarted its numbering close by. */
const RESYNC_AFTER = 8;
/** A jump ahead by this many or more is put on probation (§A.1's MAX_DROPOUT)... */
const MAX_DROPOUT = 3000;
/** ...as is one behind by more than this (§A.1's MAX_MISORDER); nearer, it is late or a duplicate. */
const MAX_MISORDER = 100;
const SEQ_MOD = 65536;
const DELIVERED = 1;
const LOST = 2;

export interface RtpReorderOptions {
  deliver(payload: Uint8Array): void;
  /** The payload type changed, from `from` to `to`, at the packet about to be delivered: the sender's format changed. */
  onPayloadType?(from: number, to: number): void;
  /** `count` packets lost, the first being `firstSeq`. */
  onLoss(count: number, firstSeq: number): void;
  window?: number;
  holdMs?: number;
  /** Longest payload kept. */
  maxPayload?: number;
  /**
   * Bytes of one PCM frame in a payload of this type, or 1 where payloads are bytes (MPEG, data):
   * a PCM payload of a part frame is malformed, since taken it would shift every sample after it.
   */
  frameBytes?(payloadType: number): number;
}

export class RtpReorder {
  lost = 0;
  late = 0;
  duplicates = 0;
  malformed = 0;
  /** RTCP packets on the RTP port (a sender with rtcp-mux, RFC 5761): set aside, no loss. */
  rtcp = 0;
  /** Empty datagrams: a keep-alive (RFC 6263 section 4.1), which carries nothing to lose. */
  keepAlives = 0;
  /** Packets from another sender (SSRC) that its own next packet did not follow. */
  otherSource = 0;
  /** Packets far out of sequence that the next one did not follow (§A.1's probation). */
  strays = 0;
  /** Payload type of the first packet, then of the last delivered; -1 before one. */
  payloadType = -1;
  /** Times the payload type changed between packets delivered in sequence. */
  payloadTypeChanges = 0;
  private readonly window: number;
  private readonly holdMs: number;
  private readonly slots: Uint8Array[];
  private readonly lengths: Int32Array;
  /** The sequence number each slot holds, or -1 when empty; and its payload type. */
  private readonly slotSeq: Int32Array;
  private readonly slotPt: Uint8Array;
  /** When each slot's packet came. */
  private readonly slotArrivedMs: Float64Array;
  /** What became of recent sequence numbers: told apart as duplicate or late when they come again. */
  private readonly fate = new Uint8Array(SEQ_MOD);
  private started = false;
  private ssrc = 0;
  private next = 0;
  private held = 0;
  private holeSinceMs = 0;
  private lateRun = 0;
  /** The run of lost numbers not yet reported: reported whole when the next packet goes out. */
  private lossRun = 0;
  private lossFirst = 0;
  /** The first packets are held until `holdMs` has passed: one before them may still come. */
  private opening = false;
  /** The highest number held while opening: how far back the start may still move. */
  private openingTop = 0;
  /** A packet far out of sequence, kept until the next one says whether the sender restarted. */
  private readonly probation: Uint8Array;
  private probationLength = 0;
  private probationSeq = -1;
  private probationPt = 0;
  private probationSsrc = 0;

  constructor(private readonly options: RtpReorderOptions) {
    this.window = options.window ?? REORDER_WINDOW;
    this.holdMs = options.holdMs ?? REORDER_HOLD_MS;
    const max = options.maxPayload ?? 9216;
    this.slots = Array.from({ length: this.window }, () => new Uint8Array(max));
    this.lengths = new Int32Array(this.window);
    this.slotSeq = new Int32Array(this.window).fill(-1);
    this.slotPt = new Uint8Array(this.window);
    this.slotArrivedMs = new Float64Array(this.window);
    this.probation = new Uint8Array(max);
  }

  push(packet: Uint8Array, nowMs: number): void {
    if (packet.length === 0) {
      this.keepAlives++;
      return;
    }
    // Told apart by type before anything else: read as RTP, its length was a sequence number and
    // its timestamp an SSRC, so it restarted the stream twice and its report went out as payload.
    if (packet.length >= 8 && packet[0]! >> 6 === 2 && isRtcpPayloadType(packet[1]!)) {
      this.rtcp++;
      return;
    }
    const start = rtpPayloadOffset(packet);
    const end = start < 0 ? -1 : rtpPayloadEnd(packet);
    // start < 0 alone: -1 for both passed `end < start`, and a datagram that was no RTP went on as one.
    if (start < 0 || end < start || end - start > this.slots[0]!.length || (end - start) % (this.options.frameBytes?.(rtpGetPayloadType(packet)) ?? 1) !== 0) {
      this.malformed++;
      return;
    }
    const seq = rtpGetSeqnum(packet);
    const ssrc = rtpGetSsrc(packet);
    if (!this.started) {
      this.started = true;
      this.ssrc = ssrc;
      this.next = seq;
      this.opening = true;
      this.openingTop = seq;
      this.payloadType = rtpGetPayloadType(packet);
    }
    if (ssrc !== this.ssrc) {
      this.onProbation(packet, ssrc, seq, start, end, nowMs);
      return;
    }
    let ahead = ((seq - this.next + SEQ_MOD) % SEQ_MOD) << 16 >> 16;
    if (this.opening && ahead < 0 && ((this.openingTop - seq + SEQ_MOD) % SEQ_MOD) < this.window) {
      // Before the first held: it becomes the first.
      this.next = seq;
      ahead = 0;
    }
    if (ahead >= MAX_DROPOUT || ahead < -MAX_MISORDER) {
      this.onProbation(packet, ssrc, seq, start, end, nowMs);
      return;
    }
    this.dropProbation();
    if (ahead < 0) {
      if (++this.lateRun < RESYNC_AFTER) {
        if (this.fate[seq] === DELIVERED) this.duplicates++;
        else this.late++;
        return;
      }
      this.flush();
      this.next = seq;
      ahead = 0;
    }
    this.lateRun = 0;
    this.hold(packet, seq, start, end, ahead, nowMs, rtpGetPayloadType(packet));
  }

  /** Declares a hole lost once it has been waited for long enough. */
  tick(nowMs: number): void {
    if (this.held > 0 && this.holeSinceMs && nowMs - this.holeSinceMs >= this.holdMs) {
      if (this.opening) {
        // The first packets have waited; a hole after them is waited for from when the oldest
        // packet held past it came. The opening's wait had been taken for its, and a swap just
        // then lost a packet (and dropped it late when it came).
        this.endOpening();
        this.holeSinceMs = this.held > 0 ? this.oldestHeldMs() : 0;
        if (this.held === 0 || nowMs - this.holeSinceMs < this.holdMs) return;
      }
      this.skipHole();
      this.holeSinceMs = this.held > 0 ? nowMs : 0;
    }
  }

  /** Sends on everything held, counting the holes between as lost. */
  flush(): void {
    this.dropProbation();
    this.opening = false;
    while (this.held > 0) this.skipHole();
    this.holeSinceMs = 0;
    this.endLossRun();
  }

  private hold(packet: Uint8Array, seq: number, start: number, end: number, ahead: number, nowMs: number, pt: number): void {
    if (ahead >= this.window) {
      this.opening = false;
      this.skipTo((seq - this.window + 1 + SEQ_MOD) % SEQ_MOD);
    }
    const slot = seq % this.window;
    if (this.slotSeq[slot] === seq) {
      this.duplicates++;
      return;
    }
    this.slots[slot]!.set(packet.subarray(start, end));
    this.lengths[slot] = end - start;
    this.slotPt[slot] = pt;
    this.slotArrivedMs[slot] = nowMs;
    this.slotSeq[slot] = seq;
    if (this.opening && ((seq - this.openingTop + SEQ_MOD) % SEQ_MOD) < this.window) this.openingTop = seq;
    if (this.held++ === 0 || seq !== this.next || this.opening) this.holeSinceMs ||= nowMs;
    this.release();
    if (this.held === 0) this.holeSinceMs = 0;
  }

  /**
   * A packet far from `next`, or from another sender: kept if it is the first so; if the one kept
   * is of the same sender and close before or after it, the sender restarted its numbering there
   * (or a new sender took over), and both go on from the earlier.
   */
  private onProbation(packet: Uint8Array, ssrc: number, seq: number, start: number, end: number, nowMs: number): void {
    const after = this.probationSeq < 0 || ssrc !== this.probationSsrc ? this.window : ((seq - this.probationSeq + SEQ_MOD) % SEQ_MOD) << 16 >> 16;
    if (after === 0) {
      this.duplicates++;
      return;
    }
    if (Math.abs(after) >= this.window) {
      this.dropProbation();
      this.probation.set(packet.subarray(start, end));
      this.probationLength = end - start;
      this.probationPt = rtpGetPayloadType(packet);
      this.probationSeq = seq;
      this.probationSsrc = ssrc;
      return;
    }
    const keptSeq = this.probationSeq;
    this.probationSeq = -1;
    this.flush();
    this.lateRun = 0;
    const from = after > 0 ? keptSeq : seq;
    if (ssrc !== this.ssrc) {
      // A new sender: its numbers are its own, so none of them was lost, and none came before.
      this.ssrc = ssrc;
      this.next = from;
      this.fate.fill(0);
    }
    // A jump ahead that the stream then follows looks just like an outage (no receiver can tell a
    // sender that restarted ahead from one whose packets were lost): its numbers are counted lost,
    // a gap. A jump back can only be a restart: nothing was lost.
    if (((((from - this.next + SEQ_MOD) % SEQ_MOD) << 16) >> 16) > 0) {
      this.skipTo(from);
      this.endLossRun();
    }
    this.next = from;
    this.hold(this.probation, keptSeq, 0, this.probationLength, after > 0 ? 0 : -after, nowMs, this.probationPt);
    this.push(packet, nowMs);
  }

  /** The packet on probation was not followed: a stray. */
  private dropProbation(): void {
    if (this.probationSeq < 0) return;
    this.probationSeq = -1;
    if (this.probationSsrc === this.ssrc) this.strays++;
    else this.otherSource++;
  }

  /** The first packets have waited: nothing before them is coming. */
  private endOpening(): void {
    this.opening = false;
    this.release();
  }

  /** Hands over the packets in order from `next` while they are there. */
  private release(): void {
    if (this.opening) return;
    for (;;) {
      const slot = this.next % this.window;
      if (this.slotSeq[slot] !== this.next) return;
      this.endLossRun();
      const pt = this.slotPt[slot]!;
      if (pt !== this.payloadType) {
        this.payloadTypeChanges++;
        this.options.onPayloadType?.(this.payloadType, pt);
        this.payloadType = pt;
      }
      this.options.deliver(this.slots[slot]!.subarray(0, this.lengths[slot]));
      this.slotSeq[slot] = -1;
      this.held--;
      this.settle(this.next, DELIVERED);
    }
  }

  /** When the packet held longest came. */
  private oldestHeldMs(): number {
    let oldest = Infinity;
    for (let slot = 0; slot < this.window; slot++) if (this.slotSeq[slot] !== -1 && this.slotArrivedMs[slot]! < oldest) oldest = this.slotArrivedMs[slot]!;
    return oldest;
  }

  /** Gives up on the hole at `next`: every missing number up to the next held packet is lost. */
  private skipHole(): void {
    for (let missing = 0; this.slotSeq[this.next % this.window] !== this.next && missing < SEQ_MOD; missing++) {
      this.settle(this.next, LOST);
    }
    this.release();
  }

  /** Moves `next` up to `seq`, delivering what is held and counting what is not on the way. */
  private skipTo(seq: number): void {
    // Until `seq` or past it: what is held may run on beyond it (compared with !==, that ran a whole cycle).
    while ((((seq - this.next + SEQ_MOD) % SEQ_MOD) << 16 >> 16) > 0) {
      if (this.slotSeq[this.next % this.window] === this.next) this.release();
      else this.settle(this.next, LOST);
    }
  }

  private endLossRun(): void {
    if (this.lossRun === 0) return;
    const count = this.lossRun;
    this.lossRun = 0;
    this.lost += count;
    this.options.onLoss(count, this.lossFirst);
  }

  /** Records what became of `seq` and moves `next` past it; forgets the fate of numbers half a cycle back. */
  private settle(seq: number, fate: number): void {
    if (fate === LOST && this.lossRun++ === 0) this.lossFirst = seq;
    this.fate[seq] = fate;
    this.fate[(seq + SEQ_MOD / 2) % SEQ_MOD] = 0;
    this.next = (seq + 1) % SEQ_MOD;
  }
}
