/**
 * One connected UDP socket per destination: on a shared unconnected socket,
 * one receiver's ICMP "port unreachable" makes the next send fail whatever
 * its destination (measured on Bun 1.4.5). The socket comes from
 * foundation/net/udp_socket.ts, which gives every socket an error handler.
 *
 * A refused send (ECONNREFUSED after an ICMP unreachable) is that
 * destination's non-fatal event: it is counted, logged once, and the
 * schedule goes on, since a receiver may start later.
 *
 * @example
 * ```ts
 * const out = await openUdpSender({ address: "127.0.0.1", family: 4, port: 5004 }, {}, counters, log);
 * out.send(packet);
 * out.close();
 * ```
 */
import type { udp } from "bun";
import type { Logger } from "../../foundation/log.ts";
import { PacerError } from "../../foundation/errors.ts";
import { type BackendCounters, countError } from "../backend.ts";
import { isMulticast } from "../../foundation/net/address.ts";
import { openUdpSocket } from "../../foundation/net/udp_socket.ts";

export interface UdpSenderOptions {
  /** Multicast (or unicast) TTL / hop limit. */
  ttl?: number;
  /** Local interface address for multicast. */
  iface?: string;
  /** Local address and port to send from. */
  source?: { host: string; port: number };
}

export interface UdpSender {
  /** Sends one datagram; false if it was dropped (counted). */
  send(datagram: Uint8Array): boolean;
  close(): void;
  readonly localPort: number;
}

export async function openUdpSender(
  dest: { address: string; family: 4 | 6; port: number },
  options: UdpSenderOptions,
  counters: BackendCounters,
  log: Logger,
): Promise<UdpSender> {
  const label = `${dest.family === 6 ? `[${dest.address}]` : dest.address}:${dest.port}`;
  const onError = (error: Error & { code?: string }) => {
    const kind = error.code === "ECONNREFUSED" ? "refused" : (error.code ?? "error").toLowerCase();
    if (countError(counters, kind)) {
      const why = kind === "refused" ? "port unreachable (nothing listening yet?); still sending on schedule" : error.message;
      log.warn(`${label}: ${why}`, { error: kind });
    }
  };
  let socket: udp.ConnectedSocket<"buffer">;
  try {
    socket = await openUdpSocket({
      hostname: options.source?.host ?? (dest.family === 6 ? "::" : "0.0.0.0"),
      port: options.source?.port ?? 0,
      connect: { hostname: dest.address, port: dest.port },
      onError,
    });
  } catch (error) {
    throw new PacerError(`cannot open a UDP socket to ${label}: ${(error as Error).message}`);
  }
  try {
    if (isMulticast(dest.address)) {
      socket.setMulticastLoopback(true);
      if (options.ttl !== undefined) socket.setMulticastTTL(options.ttl);
      if (options.iface) socket.setMulticastInterface(options.iface);
    } else {
      if (options.ttl !== undefined) socket.setTTL(options.ttl);
      if (dest.family === 4) socket.setBroadcast(true);
    }
  } catch (error) {
    socket.close();
    throw new PacerError(`${label}: cannot set socket options: ${(error as Error).message}`);
  }
  return {
    localPort: socket.port,
    send(datagram: Uint8Array): boolean {
      try {
        if (socket.send(datagram)) return true;
        // false: the kernel queue is full; drop this datagram rather than stall the schedule.
        countError(counters, "nobufs");
        return false;
      } catch (error) {
        onError(error as Error);
        return false;
      }
    },
    close() {
      socket.close();
    },
  };
}
