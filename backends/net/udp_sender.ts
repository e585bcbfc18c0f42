/**
 * A destination's UDP sender, one of two kinds:
 *
 * - **batched** (the default where libc can be reached): the destination's datagrams are staged
 *   on the one unconnected socket of its local address and go out with other destinations' in one
 *   sendmmsg (send_batcher.ts); ICMP errors come back through the socket's error queue, which
 *   names the destination they belong to.
 * - **socket** (the fallback, and `PACER_SEND=socket`): one connected Bun socket per destination,
 *   since on a shared unconnected socket without the error queue one receiver's ICMP "port
 *   unreachable" makes the next send fail whatever its destination (measured on Bun 1.4.5). The
 *   socket comes from foundation/net/udp_socket.ts, which gives every socket an error handler.
 *
 * Either way a refused send (ICMP port unreachable) is that destination's non-fatal event: it is
 * counted, logged once, and the schedule goes on, since a receiver may start later.
 *
 * @example
 * ```ts
 * const out = await openUdpSender({ address: "127.0.0.1", family: 4, port: 5004 }, {}, counters, ctx);
 * out.send(packet);
 * out.close();
 * ```
 */
import type { udp } from "bun";
import type { SendPacing } from "../../scheduler/send_pacing.ts";
import type { SharedBytes } from "../../foundation/shared_bytes.ts";
import type { Logger } from "../../foundation/log.ts";
import { PacerError } from "../../foundation/errors.ts";
import { type BackendContext, type BackendCounters, countError } from "../backend.ts";
import { hostPortText, isMulticast } from "../../foundation/net/address.ts";
import { openUdpSocket } from "../../foundation/net/udp_socket.ts";
import { cannotOpen, lostStreamBytes, NO_ROOM, openBatchedSender, sendMode } from "./send_batcher.ts";
import { openThreadedSender } from "./senders/pool.ts";

export interface UdpSenderOptions {
  /** Multicast (or unicast) TTL / hop limit. */
  ttl?: number;
  /** Local interface address for multicast. */
  iface?: string;
  /** Local address and port to send from. */
  source?: { host: string; port: number };
  /** Log errors at debug level only: for side channels (RTCP, SAP) whose peers may not listen. */
  quiet?: boolean;
  /** Bytes at the head of each datagram that are not the stream's (RTP's 12), for lost-byte counts. */
  headerBytes?: number;
  /** The largest datagram it will send: known, and small enough, it may go to a sender thread (senders/pool.ts). */
  datagramBytes?: number;
}

export interface UdpSender {
  /**
   * Sends one datagram, due at `dueUs` on the scheduler's clock: a sender thread sends it then,
   * the others at once. `marker`: it starts a new stretch of the schedule (the stream's start,
   * or after a gap), for the pacing a sender thread measures. False if it was dropped (counted).
   * `media` false: it carries none of the stream (RTCP on the stream's own port, `rtcp=mux`), so
   * one dropped is reported but not counted in the stream's lost bytes.
   */
  send(datagram: Uint8Array, dueUs?: number, marker?: boolean, media?: boolean): boolean;
  /**
   * Sends `header` (its first `headerLength` bytes; none when null) followed by `length` bytes of
   * `media` from stream offset `offset` (at `position` in its data), read in place where the
   * datagram leaves: present on batched senders (copied into the batch at once) and sender
   * threads' (read when due). False if it was dropped (counted).
   */
  sendInPlace?(header: Uint8Array | null, headerLength: number, media: SharedBytes, offset: number, position: number, length: number, dueUs: number, marker: boolean): boolean;
  /**
   * Gives the sender thread `media`, the job's read-ahead buffer, before the first datagram that
   * lies in it (a sender thread's only; a datagram in a buffer it was not given is copied over).
   */
  shareMedia?(media: SharedBytes): Promise<void>;
  /**
   * The lowest stream offset of in-place datagrams handed over and not yet sent, Infinity when
   * none (a sender thread's; it reads them when due): their bytes must stay (senders/hand_overs.ts).
   */
  heldFrom?(): number;
  /**
   * True while it cannot take a datagram without dropping it: a sender thread that has fallen
   * behind (senders/pool.ts); `ready` is then called once it can. The caller offers the datagram
   * again then, so the stream goes late rather than losing it, as on the main thread. Absent: never.
   */
  full?(ready: () => void): boolean;
  /** Closes it; a sender thread's resolves once the datagrams handed to it have gone out. */
  close(): void | Promise<void>;
  readonly localPort: number;
  /** How long before its due time a datagram should be handed over, µs (a sender thread's lead; else 0). */
  readonly leadUs: number;
  /** The pacing as measured where the datagrams leave (a sender thread), if not on this thread. */
  readonly pacing?: SendPacing;
}

/** Opens `dest`'s sender: batched where it can be (sendMode), else a connected socket of its own. */
export async function openUdpSender(
  dest: { address: string; family: 4 | 6; port: number },
  options: UdpSenderOptions,
  counters: BackendCounters,
  ctx: Pick<BackendContext, "scheduler" | "log">,
): Promise<UdpSender> {
  const label = hostPortText(dest.address, dest.port);
  const report = errorReporter(label, counters, ctx.log, options.quiet ?? false);
  if (sendMode() === "batched") {
    // A stream's sender may go to a sender thread; a side channel's (RTCP, SAP; quiet) stays here.
    const threaded = options.quiet ? null : await openThreadedSender(dest, options, counters, ctx.scheduler, report);
    return threaded ?? openBatchedSender(dest, options, counters, ctx, report);
  }
  return openConnectedSender(dest, label, options, counters, report);
}

/** Counts an error of `kind` against one destination and logs the first of each kind. */
function errorReporter(label: string, counters: BackendCounters, log: Logger, quiet: boolean): (kind: string, message: string) => void {
  return (kind, message) => {
    if (!countError(counters, kind)) return;
    // A side channel's peer often does not listen (most RTP receivers ignore RTCP): no warning.
    if (quiet) log.debug(`${label}: ${kind === "refused" ? "no receiver there" : message}; side channel, carrying on`, { error: kind });
    else log.warn(`${label}: ${message}`, { error: kind });
  };
}

async function openConnectedSender(
  dest: { address: string; family: 4 | 6; port: number },
  label: string,
  options: UdpSenderOptions,
  counters: BackendCounters,
  report: (kind: string, message: string) => void,
): Promise<UdpSender> {
  const onError = (error: Error & { code?: string }) => {
    const kind = error.code === "ECONNREFUSED" ? "refused" : (error.code ?? "error").toLowerCase();
    report(kind, kind === "refused" ? "port unreachable (nothing listening yet?); still sending on schedule" : error.message);
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
    throw cannotOpen(label, error, options.source?.port);
  }
  try {
    if (isMulticast(dest.address)) {
      socket.setMulticastLoopback(true);
      // Bun's setMulticastTTL refuses 0 (EINVAL), which the kernel takes: say so, not errno.
      if (options.ttl === 0) throw new Error("ttl=0 needs the batched send path (libc), not a socket each");
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
  const headerBytes = options.headerBytes ?? 0;
  /** The kernel's queue is full: the datagram is dropped rather than stall the schedule, its stream bytes counted lost. */
  const noRoom = (datagram: Uint8Array, media: boolean): false => {
    counters.lostBytes += lostStreamBytes(datagram.length, headerBytes, media);
    report("nobufs", NO_ROOM);
    return false;
  };
  return {
    localPort: socket.port,
    leadUs: 0,
    send(datagram: Uint8Array, _dueUs?: number, _marker?: boolean, media = true): boolean {
      try {
        return socket.send(datagram) || noRoom(datagram, media);
      } catch (error) {
        // A full route's queue (ENOBUFS) throws where a full socket buffer returns false: the same loss.
        const code = (error as { code?: string }).code;
        if (code === "ENOBUFS" || code === "EAGAIN") return noRoom(datagram, media);
        onError(error as Error);
        return false;
      }
    },
    close() {
      socket.close();
    },
  };
}
