/**
 * `rtp://@[GROUP]:PORT[?iface=ADDR&source=ADDR]`: the same receive socket as `udp://@`, with
 * the RTP header stripped and the payloads put back in sequence order (RtpReorder). Each run of
 * lost packets is one gap; late and duplicate packets are dropped and counted, and so are
 * datagrams too long or not RTP and strays far out of sequence (each burst a gap too), and a
 * second sender's packets (another SSRC) interleaved with those followed (no gap: nothing of the
 * stream is missing). Lost PCM (L16's
 * payload types, or any when the format is given) is filled with silence as long as the packet
 * before it, so what follows stays where its timestamps put it (a recording keeps the time it
 * covered, a relay its pace), up to MAX_FILLED_PACKETS at once: a longer hole is more likely a
 * sender that started its numbering again than so much loss. Nor may silence put the stream more
 * than FILL_AHEAD_MS ahead of the time that passed: numbers jumped at once are no lost time.
 *
 * @example
 * ```ts
 * const input = openRtpInput("rtp://@:5004", parseEndpoint("rtp://@:5004"));
 * input.payloadType; // 33 for MPEG-TS, 10/11 for L16 at 44.1 kHz, once a packet has come
 * ```
 */
import { type Endpoint } from "../foundation/net/endpoint.ts";
import { MAX_DATAGRAM } from "../foundation/net/udp_receive.ts";
import { PT_L16_MONO, PT_L16_STEREO } from "../protocol/rtp.ts";
import { bytesPerFrame, type SampleFormat } from "../protocol/sample_format.ts";
import { liveInput, type LiveSource, newLiveStats } from "./live_input.ts";
import { REORDER_HOLD_MS, REORDER_WINDOW, RtpReorder } from "./rtp_reorder.ts";
import { openReceiver } from "./udp_input.ts";

export interface RtpSource extends LiveSource {
  /** The payload type of the first packet, or -1 before one came. */
  readonly payloadType: number;
}

/** Payload type changes an input says one by one (the rest are counted). */
const FORMAT_LINES = 10;
/** The most lost packets in one run filled with silence (10 s of 20 ms packets). */
const MAX_FILLED_PACKETS = 500;
/**
 * How far silence may put the stream ahead of the time that passed since its first payload. A
 * real loss took the time its packets would have; a jump of 499 numbers that the next packet
 * made at once did not, and had 4.6 MB of silence written for one datagram of 9 KB.
 */
const FILL_AHEAD_MS = 10_000;
/** L16's static payload types (10, 11) are 44.1 kHz (RFC 3551). */
const L16_RATE = 44_100;

/**
 * `pcm`: the payload's format when it is known to be PCM (--format); L16's payload types are anyway.
 * `pacedLatencyMs`: the latency of a reader that paces the stream as it comes (a gateway, whose
 * latency_hold.ts starts again after a stall with that much in hand). A hole whose packets on
 * either side came further apart than that is not filled: the reader has starved through it
 * already, and filled, its silence came on top, each outage putting the output that much further
 * behind the input for good (3 s lost, 3 s later, until the queue overflowed).
 */
export function openRtpInput(label: string, endpoint: Endpoint, pcm?: SampleFormat, pacedLatencyMs?: number): RtpSource {
  const receiver = openReceiver(endpoint);
  const stats = newLiveStats();
  let sink: (bytes: Uint8Array) => void = () => {};
  /** Bytes passed on since the datagram being read came: what its read costs the queue's room. */
  let passedOn = 0;
  const pass = (bytes: Uint8Array) => {
    passedOn += bytes.length;
    sink(bytes);
  };
  /** The poll's time, for the datagrams it reads (one callback for every poll: none made per poll). */
  let pollNow = 0;
  const readDatagram = (datagram: Uint8Array) => {
    passedOn = 0;
    reorder.push(datagram, pollNow);
    return passedOn;
  };
  let lossAt = 0;
  /** Packets lost just before the payload about to be delivered, and the length of the one before them. */
  let lostRun = 0;
  let lastPayloadBytes = 0;
  const pcmFrameBytes = pcm ? bytesPerFrame(pcm) : null;
  const silence = new Uint8Array(MAX_DATAGRAM).fill(pcm?.encoding === "u8" ? 0x80 : 0);
  const isPcm = () => pcm !== undefined || reorder.payloadType === PT_L16_STEREO || reorder.payloadType === PT_L16_MONO;
  const frameBytesOf = (pt: number) => pcmFrameBytes ?? (pt === PT_L16_STEREO ? 4 : pt === PT_L16_MONO ? 2 : 1);
  /** PCM bytes a millisecond of the stream takes now, at the payload type last delivered. */
  const bytesPerMs = () => (frameBytesOf(reorder.payloadType) * (pcm?.rate ?? L16_RATE)) / 1000;
  /** The poll's time of the first payload, and the ms of stream passed on since (fills included). */
  let firstPayloadAt = -1;
  let streamMs = 0;
  /** The poll's time of the last payload passed on: how long the hole after it kept the reader waiting. */
  let lastPayloadAt = 0;
  /** A held hole is delivered past up to REORDER_HOLD_MS after the packet that ends it came. */
  const starvedThrough = () => pacedLatencyMs !== undefined && pollNow - lastPayloadAt > pacedLatencyMs + REORDER_HOLD_MS;
  const fillLost = () => {
    if (!isPcm() || lostRun > MAX_FILLED_PACKETS) return;
    const perMs = bytesPerMs();
    const frame = frameBytesOf(reorder.payloadType);
    const room = Math.max(0, pollNow - firstPayloadAt + FILL_AHEAD_MS - streamMs) * perMs;
    let fill = Math.min(lostRun * lastPayloadBytes, room - (room % frame));
    streamMs += fill / perMs;
    for (; fill > 0; fill -= lastPayloadBytes) pass(silence.subarray(0, Math.min(fill, lastPayloadBytes)));
  };
  const reorder = new RtpReorder({
    deliver: (payload) => {
      reportLosses();
      if (lostRun > 0 && !starvedThrough()) fillLost();
      lostRun = 0;
      lastPayloadBytes = payload.length;
      lastPayloadAt = pollNow;
      if (firstPayloadAt < 0) firstPayloadAt = pollNow;
      if (isPcm()) streamMs += payload.length / bytesPerMs();
      pass(payload);
    },
    onLoss: (count, firstSeq) => {
      lostRun += count;
      stats.lost = reorder.lost;
      lossAt = Date.now();
      const last = (firstSeq + count - 1) % 65536;
      lossEvents.push({ count, what: `${count} RTP packet${count === 1 ? "" : "s"} lost (seq ${firstSeq}${count > 1 ? `-${last}` : ""})` });
    },
    maxPayload: MAX_DATAGRAM,
    // A part frame is dropped as malformed, and its place filled with silence as a lost packet's.
    frameBytes: frameBytesOf,
    onPayloadType: (from, to) => {
      // Counted every time; said (a gap log line, a string made) for the first few only: a sender
      // that interleaves comfort noise (PT 13) changes type every few packets.
      if (stats.formatChanges++ < FORMAT_LINES) {
        formatEvents.push(`RTP payload type changed from ${from} to ${to} (the sender's format changed); what follows is taken as it comes${stats.formatChanges === FORMAT_LINES ? "; further changes are counted, not logged" : ""}`);
      }
    },
  });
  // Loss found inside a poll is reported after it, at the stream offset where the hole is.
  const lossEvents: { count: number; what: string }[] = [];
  const formatEvents: string[] = [];
  const input = liveInput(label, {
    poll(pushBytes, now, room) {
      sink = pushBytes;
      // Less what the reorder may hold and deliver later, and one hole's silence: those must fit
      // too. Each datagram is charged what it passed on, fills included, so the next holes count.
      const budget = room - REORDER_WINDOW * MAX_DATAGRAM - (isPcm() ? MAX_FILLED_PACKETS * lastPayloadBytes : 0);
      pollNow = now;
      stats.datagrams += receiver.drain(readDatagram, budget);
      reorder.tick(now);
      reportLosses();
      countDropped();
      return budget < MAX_DATAGRAM;
    },
    kernelDrops: () => receiver.kernelDrops,
    close() {
      reorder.flush();
      reportLosses();
      countDropped();
      receiver.close();
    },
  }, stats);
  const countDropped = () => {
    stats.late = reorder.late;
    stats.duplicates = reorder.duplicates;
    stats.malformed = reorder.malformed;
    stats.strays = reorder.strays;
    stats.otherSource = reorder.otherSource;
    stats.tooLong = receiver.truncated;
  };
  const reportLosses = () => {
    for (const loss of lossEvents) {
      stats.gaps++;
      input.onGap?.({ kind: "lost", count: loss.count, streamOffset: input.stats.bytes, wallMs: lossAt, what: loss.what });
    }
    lossEvents.length = 0;
    // Not a gap (nothing was lost), but a line in a gap log where the file's format stops being its header's.
    for (const what of formatEvents) input.onGap?.({ kind: "format", count: 1, streamOffset: input.stats.bytes, wallMs: Date.now(), what });
    formatEvents.length = 0;
  };
  return Object.defineProperty(input, "payloadType", { get: () => reorder.payloadType, enumerable: true }) as RtpSource;
}
