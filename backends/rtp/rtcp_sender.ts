/**
 * An RTP output's RTCP: a sender report with its CNAME (RFC 3550 section 6.4.1 and 6.5) about
 * every 5 s, and SR, SDES and BYE when the stream ends (6.6). One compound packet buffer is
 * reused; nothing is allocated per report.
 *
 * Timing (6.2, 6.3.1): the first report comes after half the interval, and each interval is drawn
 * uniformly from 0.5 to 1.5 times its length, so senders started together spread out. A lone
 * sender does no timer reconsideration, so the RFC's division by e - 3/2, which only offsets
 * reconsideration's bias, is left out.
 *
 * The timer first marks a report as due: the RTP send path calls {@link RtcpSender.report} with
 * the packet it is sending, so the report's NTP time and RTP timestamp describe one instant
 * exactly, the scheduled instant of that packet, instead of being estimated between packets.
 * Where no packet carries it within {@link RTCP_CARRY_WAIT_US} (a pause, an idle speaker, a
 * stalled input), {@link RtcpSender.reportAlone} sends it with the timestamp carried on from the
 * last pairing (6.4.1): RTCP goes on without data, or receivers time the source out after five
 * silent intervals (6.3.5). A source that sent no data since the report before last reports as
 * a receiver, an empty RR in place of the SR (6.4).
 *
 * @example
 * ```ts
 * const rtcp = new RtcpSender(scheduler, sender, ssrc, cnameBytes);
 * rtcp.start(scheduler.now());
 * // in send(): if (rtcp.due) rtcp.report(unixUs, rtpTimestamp, packets, octets);
 * // at close:  rtcp.bye(unixUs, rtpTimestamp, packets, octets);
 * ```
 */
import { hostname } from "node:os";
import { currentUserName } from "../../foundation/user_name.ts";
import {
  ntpFractionOfUnixUs,
  ntpSecondsOfUnixUs,
  RTCP_MAX_COMPOUND,
  rtcpWriteBye,
  rtcpWriteEmptyReceiverReport,
  rtcpWriteSdesCname,
  rtcpWriteSenderReport,
} from "../../protocol/rtcp.ts";
import { US_PER_S } from "../../scheduler/clock.ts";
import type { Scheduler, Timer } from "../../scheduler/scheduler.ts";

/** RFC 3550 section 6.2: the minimum interval between reports, and so pacer's mean interval. */
export const RTCP_INTERVAL_US = 5 * US_PER_S;
/** How long a due report waits for a data packet to carry it before it goes alone, µs. */
export const RTCP_CARRY_WAIT_US = 100_000;

let processCname: Uint8Array | undefined;

/**
 * `user@host` (RFC 3550 section 6.5.1), one per process, so a receiver that syncs streams by
 * CNAME syncs every output of one pacer.
 */
export function defaultCname(): Uint8Array {
  if (!processCname) {
    // From the passwd entry: os.userInfo() reads $USER, and said "unknown" under cron or systemd.
    const user = currentUserName() ?? "pacer";
    processCname = new TextEncoder().encode(`${user}@${hostname()}`.slice(0, 255));
  }
  return processCname;
}

export interface RtcpOut {
  send(datagram: Uint8Array): boolean;
}

export class RtcpSender {
  /** A report is due: the next data packet that can carry the pairing sends it. */
  due = false;
  /** Reports sent, BYE included. */
  sent = 0;
  /**
   * Sends the due report when no data packet came to carry it, calling {@link report} with the
   * instant `now` and the timestamp the stream's clock gives it; one that cannot leaves it due.
   */
  reportAlone: ((now: number) => void) | null = null;
  private readonly buffer = new Uint8Array(RTCP_MAX_COMPOUND);
  private readonly timer: Timer;
  /** Data packets counted at the last report and the one before: a source that sent none since is a receiver (6.4). */
  private packetsAtLast = 0;
  private packetsBefore = 0;

  constructor(
    private readonly scheduler: Scheduler,
    private readonly out: RtcpOut,
    private readonly ssrc: number,
    private readonly cname: Uint8Array = defaultCname(),
    private readonly intervalUs = RTCP_INTERVAL_US,
    private readonly random: () => number = Math.random,
  ) {
    this.timer = scheduler.timer("rtcp", (_t, now) => {
      if (!this.due) {
        this.due = true;
        scheduler.schedule(this.timer, now + RTCP_CARRY_WAIT_US);
        return;
      }
      this.reportAlone?.(now);
      if (this.due) scheduler.schedule(this.timer, now + this.randomised(this.intervalUs));
    });
  }

  /** The first report falls due after half an interval, randomised (section 6.2). */
  start(now: number): void {
    this.scheduler.schedule(this.timer, now + this.randomised(this.intervalUs / 2));
  }

  /** Sends SR (or an empty RR, 6.4) + SDES for the instant `unixUs` ↔ `rtpTimestamp`, and sets the next due time. */
  report(unixUs: number, rtpTimestamp: number, packets: number, octets: number): void {
    const end = this.writeReport(unixUs, rtpTimestamp, packets, octets);
    this.out.send(this.buffer.subarray(0, end));
    this.sent++;
    this.due = false;
    this.scheduler.schedule(this.timer, this.scheduler.now() + this.randomised(this.intervalUs));
  }

  /** The stream ended: SR (or RR) + SDES + BYE (section 6.6), and no more reports. */
  bye(unixUs: number, rtpTimestamp: number, packets: number, octets: number): void {
    this.close();
    const end = rtcpWriteBye(this.buffer, this.writeReport(unixUs, rtpTimestamp, packets, octets), this.ssrc);
    this.out.send(this.buffer.subarray(0, end));
    this.sent++;
  }

  close(): void {
    this.scheduler.cancel(this.timer);
    this.due = false;
  }

  private writeReport(unixUs: number, rtpTimestamp: number, packets: number, octets: number): number {
    const p = this.buffer;
    const sender = packets !== this.packetsBefore;
    this.packetsBefore = this.packetsAtLast;
    this.packetsAtLast = packets;
    const at = sender
      ? rtcpWriteSenderReport(p, 0, this.ssrc, ntpSecondsOfUnixUs(unixUs), ntpFractionOfUnixUs(unixUs), rtpTimestamp, packets, octets)
      : rtcpWriteEmptyReceiverReport(p, 0, this.ssrc);
    return rtcpWriteSdesCname(p, at, this.ssrc, this.cname);
  }

  /** Uniform in [0.5, 1.5) × `us` (section 6.3.1). */
  private randomised(us: number): number {
    return Math.round(us * (0.5 + this.random()));
  }
}
