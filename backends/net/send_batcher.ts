/**
 * Batched sends: every udp:// and rtp:// destination of a process that shares a local address
 * (family, source, ttl, iface) shares one unconnected socket (foundation/net/udp_batch_socket.ts),
 * and the datagrams due within BATCH_WINDOW_US go out together, one sendmmsg per socket.
 *
 * Timing: the scheduler lets send events fire up to the window before their deadline and flushes
 * after each pass, before any other kind of event, and whenever a pass has gathered for the
 * window (scheduler.batchSends). So a datagram leaves at most the window early, and batching
 * decides only which datagrams share a system call.
 *
 * Errors stay with their destination: an ICMP error is read from the socket's error queue, which
 * names the destination address and port, and is counted and logged for the destinations sending
 * there only (DESIGN.md, "Unreachable destinations"). A datagram that meets another
 * destination's pending error is sent again. A full send buffer keeps the rest of a batch staged,
 * retried RETRY_US later; what waits longer than MAX_HOLD_US is counted "nobufs" against its own
 * destination.
 *
 * @example
 * ```ts
 * const sender = openBatchedSender(dest, { ttl: 4 }, counters, ctx); // null where libc is missing
 * sender?.send(datagram); // staged; sent at the end of this scheduler pass
 * ```
 */
import { PacerError, TemporaryError } from "../../foundation/errors.ts";
import { describeFsError } from "../../foundation/fs_error.ts";
import type { SharedBytes } from "../../foundation/shared_bytes.ts";
import { libc } from "../../foundation/libc.ts";
import { wholeNumberOrNull } from "../../foundation/units.ts";
import { hostPortText, parseIp } from "../../foundation/net/address.ts";
import { AF_INET, AF_INET6, SOCKADDR_SIZE, sockaddrKey, writeSockaddr } from "../../foundation/net/socket_abi.ts";
import { openUdpBatchSocket, type UdpBatchSocket } from "../../foundation/net/udp_batch_socket.ts";
import type { Scheduler, Timer } from "../../scheduler/scheduler.ts";
import type { BackendContext, BackendCounters } from "../backend.ts";
import type { UdpSender, UdpSenderOptions } from "./udp_sender.ts";

/**
 * How early a send event may fire to share a batch, µs; passes also come at most once a window
 * (scheduler.ts batchedWakeAt). 200 µs: 2.8 % of a 1.5 Mbit/s TS stream's 7 ms datagram interval
 * and a fifth of AES67's 1 ms packet time, early only, well inside receivers' jitter buffers; one
 * stream alone leaves the same 200 µs early every time, so its evenness is untouched. Each pass
 * costs the kernel about 13 µs whatever it sends (the C loop with WINDOW_US 100 against 300, 1000
 * streams: 0.51 against 0.42 CPU s/s), so the window buys CPU. Measured (bench scale section, 20 s,
 * one job of 1000 1.5 Mbit/s streams, receivers off the host, three sittings, windows alternating),
 * CPU s per stream-minute at 100 / 150 / 200 µs: 0.041-0.045 / 0.038-0.040 / 0.036-0.039, with the
 * sampled residual p99 0.07-0.11 / 0.11-0.45 / 0.12-0.34 ms. An AES67 stream alone read 0.084-0.095
 * ms at 100 and 0.080-0.096 at 200. PACER_BATCH_WINDOW_US overrides it, for the bench.
 */
export const BATCH_WINDOW_US = wholeNumberOrNull(process.env.PACER_BATCH_WINDOW_US, 10_000) ?? 200;
/** A datagram kept back by a full send buffer waits at most this long (the pacing catch-up bound). */
const MAX_HOLD_US = 20_000;
/** A batch stopped by a full send buffer is tried again this much later. */
const RETRY_US = 250;

/**
 * Which send path udp:// and rtp:// use: "batched" (sendmmsg on shared sockets, the default where
 * libc can be reached) or "socket" (a connected Bun socket per destination). PACER_SEND picks one.
 */
export function sendMode(): "batched" | "socket" {
  if (process.env.PACER_SEND === "socket") return "socket";
  const usable = process.platform === "linux" && (process.arch === "x64" || process.arch === "arm64") && libc() !== null;
  return usable ? "batched" : "socket";
}

const EAGAIN = 11;
const ENOBUFS = 105;
/** The warning for a datagram dropped for want of room: the socket's buffer or its route's queue is full. */
export const NO_ROOM = "no room to send (send buffer or interface queue full); datagram dropped";

const ERRNO_KINDS: Record<number, string> = {
  1: "eperm",
  11: "nobufs",
  13: "eacces",
  22: "einval",
  64: "enonet",
  90: "emsgsize",
  101: "enetunreach",
  105: "nobufs",
  111: "refused",
  112: "ehostdown",
  113: "ehostunreach",
};

/** A destination's name for errno `e` in its counters ("refused" for ECONNREFUSED). */
function errnoKind(e: number): string {
  return ERRNO_KINDS[e] ?? `errno${e}`;
}

interface BatchedDestination {
  readonly owner: number;
  readonly label: string;
  readonly counters: BackendCounters;
  /** Bytes of each datagram that are not the stream's (an RTP header), left out of lost bytes. */
  readonly headerBytes: number;
  /** False for a destination's control owner (SendBatcher.addOwner): its datagrams carry none of the stream. */
  readonly carriesStream: boolean;
  readonly report: (kind: string, message: string) => void;
}

/**
 * The stream bytes a dropped datagram of `length` bytes took with it: none of its header (RTP's
 * 12), and none at all of one that carries none of the stream (`media` false: RTCP on the
 * stream's own port). One rule for every send path: batched, a sender thread's, a socket each.
 */
export function lostStreamBytes(length: number, headerBytes: number, media: boolean): number {
  return media ? Math.max(0, length - headerBytes) : 0;
}

/**
 * Why a destination's socket could not be opened, one line naming it; a `source=` port another
 * process holds is temporary (exit 75), as a receiver's port in use is. One rule for both send
 * paths (this one's shared socket, a connected socket each).
 */
export function cannotOpen(label: string, error: unknown, sourcePort?: number): Error {
  const inUse = (error as NodeJS.ErrnoException).code === "EADDRINUSE";
  const Failure = inUse || error instanceof TemporaryError ? TemporaryError : PacerError;
  // In words: Bun's own text for a socket's failure is its syscall and code (`bind EMFILE 0.0.0.0`).
  return new Failure(`cannot open a UDP socket to ${label}: ${inUse ? `port ${sourcePort} is in use` : describeFsError(error)}`);
}

interface SharedSocket {
  readonly key: string;
  readonly socket: UdpBatchSocket;
  /** Destinations by address and port (sockaddrKey), for the error queue's reports. */
  readonly byAddress: Map<number | string, Set<BatchedDestination>>;
  users: number;
}

class SendBatcher {
  private readonly sockets: SharedSocket[] = [];
  /** Destinations by owner id (the socket reports drops by id); ids are reused. */
  private readonly owners: (BatchedDestination | null)[] = [];
  private readonly freeOwners: number[] = [];
  private readonly retry: Timer;
  private readonly flushAll = () => this.flush();

  constructor(readonly scheduler: Scheduler) {
    this.retry = scheduler.timer("flush", () => this.flush());
  }

  /** Opens (or shares) the socket for `key` and registers a destination on it. */
  add(key: string, options: UdpSenderOptions & { family: 4 | 6 }, make: (owner: number) => BatchedDestination): { shared: SharedSocket; destination: BatchedDestination } {
    let shared = this.sockets.find((s) => s.key === key);
    if (!shared) {
      const byAddress = new Map<number | string, Set<BatchedDestination>>();
      const socket = openUdpBatchSocket(options, {
        dropped: (owner, e, length) => {
          const d = this.owners[owner];
          if (!d) return;
          if (e === EAGAIN || e === ENOBUFS) {
            // pacer's own loss (no room to send), unlike an error the network answered: the job reports it.
            d.counters.lostBytes += lostStreamBytes(length, d.headerBytes, d.carriesStream);
            d.report("nobufs", NO_ROOM);
          } else {
            d.report(errnoKind(e), `send failed (errno ${e}); still sending on schedule`);
          }
        },
        error: (name, e) => {
          const kind = errnoKind(e);
          for (const d of byAddress.get(sockaddrKey(name)) ?? []) {
            d.report(kind, kind === "refused" ? "port unreachable (nothing listening yet?); still sending on schedule" : `ICMP error (errno ${e}); still sending on schedule`);
          }
        },
      });
      shared = { key, socket, byAddress, users: 0 };
      this.sockets.push(shared);
      if (this.sockets.length === 1) this.scheduler.batchSends(BATCH_WINDOW_US, this.flushAll);
    }
    const destination = this.addOwner(make);
    shared.users++;
    return { shared, destination };
  }

  /**
   * An owner id (the socket reports drops by it). Also a second one for a destination already on
   * a socket, for datagrams that carry none of its stream (RTCP on its own port): what the socket
   * drops of them is reported, never counted as lost stream bytes. That one is not in byAddress:
   * an ICMP error for the address is reported once.
   */
  addOwner(make: (owner: number) => BatchedDestination): BatchedDestination {
    const owner = this.freeOwners.pop() ?? this.owners.length;
    const destination = make(owner);
    this.owners[owner] = destination;
    return destination;
  }

  remove(shared: SharedSocket, destination: BatchedDestination, addressKey: number | string, control: BatchedDestination): void {
    // Its last datagrams go out first, and any error they drew is reported; what its congested
    // route still holds back is counted lost now, before its owner ids can be reused.
    this.flushSocket(shared);
    shared.socket.readErrors();
    shared.socket.discard(destination.owner);
    shared.socket.discard(control.owner);
    const set = shared.byAddress.get(addressKey);
    set?.delete(destination);
    if (set?.size === 0) shared.byAddress.delete(addressKey);
    for (const owner of [destination.owner, control.owner]) {
      this.owners[owner] = null;
      this.freeOwners.push(owner);
    }
    if (--shared.users > 0) return;
    shared.socket.close();
    this.sockets.splice(this.sockets.indexOf(shared), 1);
    if (this.sockets.length === 0) {
      this.scheduler.cancel(this.retry);
      this.scheduler.batchSends(0, null);
      batchers.delete(this.scheduler);
    }
  }

  /** Sends everything staged on every socket (the scheduler calls this after each pass). */
  flush(): void {
    const sockets = this.sockets;
    for (let i = 0; i < sockets.length; i++) if (sockets[i]!.socket.staged > 0) this.flushSocket(sockets[i]!);
  }

  flushSocket(shared: SharedSocket): void {
    const socket = shared.socket;
    socket.flush(this.scheduler.now(), MAX_HOLD_US);
    if (socket.blocked && !this.retry.scheduled) this.scheduler.schedule(this.retry, this.scheduler.now() + RETRY_US);
  }

  /** sendmmsg calls and datagrams sent on every socket, for the bench and tests. */
  totals(): { calls: number; sent: number } {
    let calls = 0;
    let sent = 0;
    for (const s of this.sockets) {
      calls += s.socket.calls;
      sent += s.socket.sent;
    }
    return { calls, sent };
  }
}

const batchers = new Map<Scheduler, SendBatcher>();

/** Sends what `scheduler`'s batched senders have staged, now (a sender thread's inline passes). */
export function flushBatches(scheduler: Scheduler): void {
  batchers.get(scheduler)?.flush();
}

/** sendmmsg calls and datagrams sent so far by `scheduler`'s batched senders (zeros when none is open). */
export function batchTotals(scheduler: Scheduler): { calls: number; sent: number } {
  return batchers.get(scheduler)?.totals() ?? { calls: 0, sent: 0 };
}

/**
 * A destination's sender on its local address's shared socket. `report` counts an error of a kind
 * against this destination (and logs the first of each kind).
 */
export function openBatchedSender(
  dest: { address: string; family: 4 | 6; port: number },
  options: UdpSenderOptions,
  counters: BackendCounters,
  ctx: Pick<BackendContext, "scheduler" | "log">,
  report: (kind: string, message: string) => void,
): BatchedSender {
  const ip = parseIp(dest.address);
  if (!ip) throw new PacerError(`${dest.address}: not an IP address`);
  const family = dest.family;
  const name = new Uint8Array(new ArrayBuffer(SOCKADDR_SIZE));
  const nameLength = writeSockaddr(name, family === 6 ? AF_INET6 : AF_INET, ip.bytes, dest.port);
  const addressKey = sockaddrKey(name);
  const label = hostPortText(dest.address, dest.port);
  const key = `${family}|${options.source ? `${options.source.host}:${options.source.port}` : ""}|${options.ttl ?? ""}|${options.iface ?? ""}`;
  const scheduler = ctx.scheduler;
  let batcher = batchers.get(scheduler);
  if (!batcher) {
    batcher = new SendBatcher(scheduler);
    batchers.set(scheduler, batcher);
  }
  let opened: ReturnType<SendBatcher["add"]>;
  try {
    opened = batcher.add(key, { ...options, family }, (owner) => ({ owner, label, counters, headerBytes: options.headerBytes ?? 0, carriesStream: true, report }));
  } catch (error) {
    throw cannotOpen(label, error, options.source?.port);
  }
  const { shared, destination } = opened;
  const control = batcher.addOwner((owner) => ({ ...destination, owner, carriesStream: false }));
  let set = shared.byAddress.get(addressKey);
  if (!set) shared.byAddress.set(addressKey, (set = new Set()));
  set.add(destination);
  return new BatchedUdpSender(batcher, shared, destination, control, name, nameLength, addressKey, counters, report);
}

/**
 * One destination's sender on a shared socket: a class, not closures over the opener's scope,
 * so a send touches this object and the shared socket's, and not a function object for each
 * step (a server's thousand destinations are each cold when they send: docs/scale.md).
 */
class BatchedUdpSender implements BatchedSender {
  readonly leadUs = 0;
  readonly localPort: number;
  private open = true;
  private readonly socket: UdpBatchSocket;
  private readonly bytes: Uint8Array;
  private readonly scheduler: Scheduler;

  constructor(
    private readonly batcher: SendBatcher,
    private readonly shared: SharedSocket,
    private readonly destination: BatchedDestination,
    /** The owner its datagrams that carry none of the stream are staged under (rtcp=mux). */
    private readonly control: BatchedDestination,
    private readonly name: Uint8Array,
    private readonly nameLength: number,
    private readonly addressKey: number | string,
    private readonly counters: BackendCounters,
    private readonly report: (kind: string, message: string) => void,
  ) {
    this.socket = shared.socket;
    this.bytes = shared.socket.bytes;
    this.localPort = shared.socket.localPort;
    this.scheduler = batcher.scheduler;
  }

  send(datagram: Uint8Array, _dueUs?: number, _marker?: boolean, media = true): boolean {
    if (!this.open) return false;
    const at = this.reserve(datagram.length, media);
    if (at < 0) return false;
    this.bytes.set(datagram, at);
    return this.staged();
  }

  sendCopy(from: Buffer, at: number, length: number, media = true): boolean {
    if (!this.open) return false;
    const to = this.reserve(length, media);
    if (to < 0) return false;
    from.copy(this.bytes, to, at, at + length);
    return this.staged();
  }

  /**
   * A unit of the job's read-ahead, on this thread (a backend's sendInPlace): the bytes are held
   * while its reader is there, and nothing reuses them during the copy, so unlike a sender
   * thread's (sendGathered) there is nothing to check afterwards.
   */
  sendInPlace(head: Uint8Array | null, headLength: number, media: SharedBytes, _offset: number, position: number, length: number): boolean {
    return this.gather(head, 0, headLength, media, position, length) >= 0 && this.staged();
  }

  sendGathered(head: Uint8Array | null, headAt: number, headLength: number, media: SharedBytes, offset: number, position: number, length: number): boolean {
    if (this.gather(head, headAt, headLength, media, position, length) < 0) return false;
    // Checked after the copy: held until then, the copy is whole (shared_bytes.ts).
    if (!media.holds(offset)) {
      this.socket.unreserve();
      this.counters.lostBytes += length;
      this.report("behind", BEHIND);
      return false;
    }
    return this.staged();
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    this.batcher.remove(this.shared, this.destination, this.addressKey, this.control);
  }

  /**
   * Room for a datagram of `length` bytes in the socket's batch (flushing it once if full): where
   * to write it, or -1 (dropped, reported, and its stream bytes counted lost). `media` false: it
   * carries none of the stream (sent and dropped on behalf of the destination's control owner).
   */
  private reserve(length: number, media: boolean): number {
    const now = this.scheduler.now();
    const by = media ? this.destination : this.control;
    const socket = this.socket;
    let at = socket.reserve(this.name, this.nameLength, by.owner, now, length);
    if (at < 0) {
      this.batcher.flushSocket(this.shared);
      at = socket.reserve(this.name, this.nameLength, by.owner, now, length);
    }
    if (at < 0) {
      this.counters.lostBytes += lostStreamBytes(length, by.headerBytes, by.carriesStream);
      this.report("nobufs", NO_ROOM);
    }
    return at;
  }

  /** Stages the header and `length` bytes of `media` at `position` as one datagram: where it lies in the batch, or -1 (none: dropped, or closed). */
  private gather(head: Uint8Array | null, headAt: number, headLength: number, media: SharedBytes, position: number, length: number): number {
    if (!this.open) return -1;
    const to = this.reserve(headLength + length, true);
    if (to < 0) return -1;
    const bytes = this.bytes;
    // A few bytes, one by one: a subarray for set() would allocate per datagram.
    for (let i = 0; i < headLength; i++) bytes[to + i] = head![headAt + i]!;
    media.copyOut(position, length, bytes, to + headLength);
    return to;
  }

  /** Outside a scheduler pass (a direct call) nothing else would flush it: a batch of one. */
  private staged(): true {
    if (!this.scheduler.inPass) this.batcher.flushSocket(this.shared);
    return true;
  }
}

/** The warning for a datagram whose stream bytes were reused before its thread read them. */
export const BEHIND = "the sender thread fell so far behind that the stream had moved on; datagram dropped";

export interface BatchedSender extends UdpSender {
  /** Sends `length` bytes of `from` at `at` (a sender thread's inline datagram, in its ring); `media` as for send. */
  sendCopy(from: Buffer, at: number, length: number, media?: boolean): boolean;
  /**
   * Sends `headLength` bytes of `head` at `headAt` (a header in a ring slot, or RTP's packet),
   * then `length` bytes of `media` at `position`, stream offset `offset`: copied from there into
   * the batch, and dropped (counted "behind") when the stream had already reused them.
   */
  sendGathered(head: Uint8Array | null, headAt: number, headLength: number, media: SharedBytes, offset: number, position: number, length: number): boolean;
}
