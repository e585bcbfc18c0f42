/** Loopback ports that were free a moment ago, for servers the tests and the bench start. */
import { readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";

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

/** The /proc/net rows (IPv4 and IPv6), split into fields, of UDP sockets bound to `port`. */
function udpSocketRows(port: number): string[][] {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  const rows: string[][] = [];
  for (const table of ["/proc/net/udp", "/proc/net/udp6"]) {
    try {
      for (const line of readFileSync(table, "utf8").split("\n").slice(1)) {
        const fields = line.trim().split(/\s+/);
        if (fields[1]?.endsWith(hex)) rows.push(fields);
      }
    } catch {
      // no IPv6 table on this host
    }
  }
  return rows;
}

/** Whether some process has a UDP socket bound to `port` (IPv4 or IPv6), per /proc/net. */
function udpPortBound(port: number): boolean {
  return udpSocketRows(port).length > 0;
}

/** Bytes waiting unread in the receive queues of UDP sockets bound to `port` (its tx_queue:rx_queue's second), 0 when none is bound. */
export function udpQueuedBytes(port: number): number {
  return udpSocketRows(port).reduce((queued, fields) => queued + Number.parseInt(fields[4]?.split(":")[1] ?? "0", 16), 0);
}

/**
 * Waits until a child has bound its receive socket: a fixed sleep is too short on a loaded CI
 * host, and datagrams sent before the bind are lost without a trace.
 */
export async function waitUdpBound(port: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!udpPortBound(port)) {
    if (Date.now() > deadline) throw new Error(`nothing bound UDP port ${port} within ${timeoutMs} ms`);
    await Bun.sleep(20);
  }
}

/** Connects to pacer's `tcp://:PORT` once it listens. */
export async function connectWhenListening(port: number): Promise<Socket> {
  for (const until = Date.now() + 15_000; Date.now() < until; await Bun.sleep(50)) {
    const socket = connect({ host: "127.0.0.1", port });
    const ok = await new Promise<boolean>((resolve) => {
      socket.once("connect", () => resolve(true));
      socket.once("error", () => resolve(false));
    });
    if (ok) return socket;
  }
  throw new Error(`nothing listened on ${port}`);
}
