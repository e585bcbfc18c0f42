/** A plain UDP receiver on 127.0.0.1 that keeps every datagram with its arrival time. */
export interface Received {
  data: Buffer;
  atUs: number;
}

export async function udpReceiver(port = 0) {
  const packets: Received[] = [];
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
