/** A plain UDP receiver on 127.0.0.1 that keeps every datagram with its arrival time. */
import { openUdpReceiver } from "../../foundation/net/udp_receive.ts";
import { freeUdpPort, udpQueuedBytes } from "./ports.ts";

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
      /** Nothing to wait for: close drains the kernel's queue itself. */
      settled: async () => {},
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
    /**
     * Resolves once the kernel holds nothing unread for this socket (at most 2 s): what it held
     * when close() came was lost to `packets`, and a test process that stalled past its settling
     * sleep as a play ended missed the stream's last datagrams (a fresh-clone CI run here did).
     */
    settled: async () => {
      for (const until = performance.now() + 2_000; udpQueuedBytes(socket.port) > 0 && performance.now() < until; ) await Bun.sleep(5);
      await Bun.sleep(0);
    },
    close: () => socket.close(),
  };
}
