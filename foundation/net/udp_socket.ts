/**
 * The one way pacer opens a UDP socket. Every socket gets an error handler, because Bun kills
 * the process on an unhandled socket error (an ICMP unreachable reported on a connected socket,
 * a throw from the data handler), and this is where Bun's error-argument order is put right.
 *
 * @example
 * ```ts
 * const socket = await openUdpSocket({ port: 0, onError: (e) => log.warn(e.message) });
 * const out = await openUdpSocket({ connect: { hostname: "127.0.0.1", port: 5004 }, onError });
 * ```
 */
import type { udp } from "bun";

interface CommonOptions {
  /** Local address to bind; every address of the destination's family (or IPv4) when left out. */
  hostname?: string;
  /** Local port; 0 (the kernel chooses) when left out. */
  port?: number;
  /** One received datagram; `socket` is the socket it came in on, for replies. */
  onData?(data: Buffer, port: number, address: string, socket: udp.Socket<"buffer">): void;
  /** A socket error: a refused send, a throw from onData. Never fatal to the process. */
  onError(error: Error & { code?: string }): void;
}

export interface ConnectedUdpOptions extends CommonOptions {
  connect: { hostname: string; port: number };
}

export function openUdpSocket(options: ConnectedUdpOptions): Promise<udp.ConnectedSocket<"buffer">>;
export function openUdpSocket(options: CommonOptions): Promise<udp.Socket<"buffer">>;
export function openUdpSocket(options: CommonOptions & { connect?: { hostname: string; port: number } }) {
  const { onData, onError } = options;
  return Bun.udpSocket({
    ...(options.hostname !== undefined && { hostname: options.hostname }),
    port: options.port ?? 0,
    ...(options.connect && { connect: options.connect }),
    socket: {
      ...(onData && { data: (s: udp.Socket<"buffer">, data: Buffer, port: number, address: string) => onData(data, port, address, s) }),
      // Bun 1.4.5 passes the error first at run time, though its types say (socket, error).
      error: (a: unknown, b?: unknown) => onError(((a instanceof Error ? a : b) as Error | undefined) ?? new Error("socket error")),
    },
  } as Parameters<typeof Bun.udpSocket>[0]);
}
