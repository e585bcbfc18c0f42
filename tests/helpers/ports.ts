/** Loopback ports that were free a moment ago, for servers the tests and the bench start. */

/** A UDP port on 127.0.0.1 that was free a moment ago. */
export async function freeUdpPort(): Promise<number> {
  const socket = await Bun.udpSocket({ hostname: "127.0.0.1", port: 0 });
  const port = socket.port;
  socket.close();
  return port;
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freeTcpPort(): number {
  const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = server.port;
  server.stop(true);
  return port;
}
