/**
 * A live UDP source for tests: a transport stream sent to a loopback port in 1316-byte datagrams
 * (seven packets) every 10.5 ms, about 1 Mbit/s, over and over until stopped.
 *
 * @example
 * ```ts
 * const stop = await feedUdp(CLIP, port);
 * stop();
 * ```
 */
const DATAGRAM = 1316;
const EVERY_MS = 10.5;

export async function feedUdp(ts: Uint8Array, port: number): Promise<() => void> {
  // A receiver that has gone (a recording that ended) answers with port unreachable: that comes
  // back as an error event, or as the next send throwing, and unhandled it failed the test it
  // happened in. A feed goes on regardless, as a real source would.
  const socket = await Bun.udpSocket({ hostname: "127.0.0.1", port: 0, socket: { error() {} } });
  let at = 0;
  const timer = setInterval(() => {
    if (at + DATAGRAM > ts.length) at = 0;
    try {
      socket.send(ts.subarray(at, at + DATAGRAM), port, "127.0.0.1");
    } catch {
      // ECONNREFUSED from an earlier datagram's port unreachable
    }
    at += DATAGRAM;
  }, EVERY_MS);
  return () => {
    clearInterval(timer);
    socket.close();
  };
}
