/**
 * `rtp://@[GROUP]:PORT[?iface=ADDR&source=ADDR]`: the same receive socket as `udp://@`, with
 * the RTP header stripped and the payloads put back in sequence order (RtpReorder). Each run of
 * lost packets is one gap; late and duplicate packets are dropped and counted.
 *
 * @example
 * ```ts
 * const input = openRtpInput("rtp://@:5004", parseEndpoint("rtp://@:5004"));
 * input.payloadType; // 33 for MPEG-TS, 10/11 for L16 at 44.1 kHz, once a packet has come
 * ```
 */
import { type Endpoint } from "../foundation/net/endpoint.ts";
import { MAX_DATAGRAM } from "../foundation/net/udp_receive.ts";
import { liveInput, type LiveSource, newLiveStats } from "./live_input.ts";
import { RtpReorder } from "./rtp_reorder.ts";
import { openReceiver } from "./udp_input.ts";

export interface RtpSource extends LiveSource {
  /** The payload type of the first packet, or -1 before one came. */
  readonly payloadType: number;
}

export function openRtpInput(label: string, endpoint: Endpoint): RtpSource {
  const receiver = openReceiver(endpoint);
  const stats = newLiveStats();
  let sink: (bytes: Uint8Array) => void = () => {};
  let lossAt = 0;
  const reorder = new RtpReorder({
    deliver: (payload) => {
      reportLosses();
      sink(payload);
    },
    onLoss: (count, firstSeq) => {
      stats.lost = reorder.lost;
      lossAt = Date.now();
      const last = (firstSeq + count - 1) % 65536;
      lossEvents.push({ count, what: `${count} RTP packet${count === 1 ? "" : "s"} lost (seq ${firstSeq}${count > 1 ? `-${last}` : ""})` });
    },
    maxPayload: MAX_DATAGRAM,
  });
  // Loss found inside a poll is reported after it, at the stream offset where the hole is.
  const lossEvents: { count: number; what: string }[] = [];
  const input = liveInput(label, {
    poll(pushBytes, now) {
      sink = pushBytes;
      stats.datagrams += receiver.drain((datagram) => reorder.push(datagram, now));
      reorder.tick(now);
      reportLosses();
      stats.late = reorder.late;
      stats.duplicates = reorder.duplicates;
      stats.malformed = reorder.malformed + receiver.truncated;
    },
    kernelDrops: () => receiver.kernelDrops,
    close() {
      reorder.flush();
      reportLosses();
      receiver.close();
    },
  }, stats);
  const reportLosses = () => {
    for (const loss of lossEvents) {
      stats.gaps++;
      input.onGap?.({ kind: "lost", count: loss.count, streamOffset: input.stats.bytes, wallMs: lossAt, what: loss.what });
    }
    lossEvents.length = 0;
  };
  return Object.defineProperty(input, "payloadType", { get: () => reorder.payloadType, enumerable: true }) as RtpSource;
}
