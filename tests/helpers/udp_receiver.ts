/** A plain UDP receiver on 127.0.0.1 that keeps every datagram with its arrival time. */
import { openUdpReceiver } from "../../foundation/net/udp_receive.ts";
import { freeUdpPort } from "./ports.ts";

export interface Received {
  data: Buffer;
  atUs: number;
}

/**
 * `rcvbufBytes`: a receive buffer that large (Bun's socket takes the kernel's default, about
 * 200 KiB), drained every millisecond; for a test whose pacer sends faster than real time, so a
 * busy test process never overflows it. Arrival times are then drain times.
 */
export async function udpReceiver(port = 0, options: { rcvbufBytes?: number } = {}) {
  const packets: Received[] = [];
  if (options.rcvbufBytes !== undefined) {
    // This receiver reports the port asked for, not the one bound: so ask for a free one.
    const rx = openUdpReceiver({ host: "127.0.0.1", port: port || (await freeUdpPort()), rcvbufBytes: options.rcvbufBytes });
    const drain = () => rx.drain((datagram) => packets.push({ data: Buffer.from(datagram), atUs: Bun.nanoseconds() / 1000 }));
    const timer = setInterval(drain, 1);
    return {
      port: rx.port,
      packets,
      close: () => {
        clearInterval(timer);
        drain();
        rx.close();
      },
    };
  }
  const socket = await Bun.udpSocket({
    hostname: "127.0.0.1",
    port,
    socket: {
      data(_s, data) {
        packets.push({ data: Buffer.from(data), atUs: Bun.nanoseconds() / 1000 });
      },
      error() {},
    },
  });
  return {
    port: socket.port,
    packets,
    close: () => socket.close(),
  };
}
