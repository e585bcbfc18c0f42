/**
 * `udp://@[GROUP]:PORT[?iface=ADDR&source=ADDR]`: datagrams as they come, their bytes in
 * arrival order. Unicast on a local address (or every address with `@:PORT`), or a multicast
 * group joined for any source, or for one (`source=`, IPv4 or IPv6).
 *
 * @example
 * ```ts
 * const input = openUdpInput(parseEndpoint("udp://@239.1.2.3:5000?iface=10.0.0.2"));
 * ```
 */
import { type Endpoint, intParam } from "../foundation/net/endpoint.ts";
import { MAX_DATAGRAM, openUdpReceiver, type UdpReceiver } from "../foundation/net/udp_receive.ts";
import { liveInput, type LiveSource, newLiveStats } from "./live_input.ts";

/** The URL options a receive endpoint takes. */
export const RECEIVE_PARAMS = ["iface", "source", "rcvbuf"] as const;

/** `rcvbuf=`: a whole number of bytes, under 64 KiB raised to it (less would drop at any real rate); a UsageError otherwise. */
export function receiveBufferBytes(endpoint: Endpoint): number | undefined {
  const rcvbuf = intParam(endpoint, "rcvbuf", 1, 1 << 30);
  return rcvbuf === undefined ? undefined : Math.max(65536, rcvbuf);
}

/** Binds and joins from the URL's parts (parsed by the one endpoint parser). */
export function openReceiver(endpoint: Endpoint): UdpReceiver {
  return openUdpReceiver({
    host: endpoint.host,
    port: endpoint.port,
    iface: endpoint.params.get("iface") ?? undefined,
    source: endpoint.params.get("source") ?? undefined,
    rcvbufBytes: receiveBufferBytes(endpoint),
    scheme: endpoint.scheme,
  });
}

export function openUdpInput(label: string, endpoint: Endpoint): LiveSource {
  const receiver = openReceiver(endpoint);
  const stats = newLiveStats();
  return liveInput(label, {
    poll(push, _now, room) {
      stats.datagrams += receiver.drain(push, room);
      stats.tooLong = receiver.truncated;
      return room < MAX_DATAGRAM;
    },
    kernelDrops: () => receiver.kernelDrops,
    close: () => receiver.close(),
  }, stats);
}
