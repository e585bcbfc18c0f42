/**
 * An unconnected UDP socket that sends to many destinations in few system calls: datagrams are
 * staged, each with its destination's sockaddr, and go out together with sendmmsg. Opened through
 * libc (Bun's sockets give no file descriptor), non-blocking, with IP_RECVERR / IPV6_RECVERR so
 * that an ICMP error names its destination in the socket's error queue.
 *
 * Why the error queue: on an unconnected socket the kernel also records the latest ICMP error in
 * the socket's pending error, and the next send fails with it (and is not sent), whatever its own
 * destination. So a failed message is retried after the error queue is read (which clears the
 * pending error), and each error is reported against the address the queue names, never against
 * the message that happened to meet it. A full send buffer (EAGAIN: the socket's, shared by every
 * destination) keeps the unsent messages staged, in order, for the next flush. ENOBUFS is a full
 * queue on the message's own route (a device, or a traffic-control class that shapes one
 * destination): that message, and its destination's later ones (to keep their order), are kept
 * back while the rest of the batch goes on, so a congested route never holds back another.
 *
 * Nothing is allocated per datagram: the mmsghdr, iovec and sockaddr arrays and the payload arena
 * are views of one ArrayBuffer made before any pointer is taken (asking a small typed array for
 * its .buffer moves its storage in JSC, and a pointer taken before would go stale).
 *
 * @example
 * ```ts
 * const s = openUdpBatchSocket({ family: 4 }, { dropped: (owner, e) => {}, error: (name, e) => {} });
 * const at = s.reserve(name, nameLength, owner, now, datagram.length); // -1 when full: flush first
 * s.bytes.set(datagram, at);
 * s.flush(now);
 * ```
 */
import { type Pointer, ptr } from "bun:ffi";
import { PacerError } from "../errors.ts";
import { errnoCode, errnoText } from "../fs_error.ts";
import { bindError } from "./bind_error.ts";
import { errno, type Libc, libc } from "../libc.ts";
import { parseIp } from "./address.ts";
import {
  AF_INET,
  AF_INET6,
  CMSG_DATA,
  CMSG_LEVEL,
  CMSG_TYPE,
  EAGAIN,
  ECONNREFUSED,
  EINTR,
  ENOBUFS,
  IOVEC_SIZE,
  IPPROTO_IP,
  IPPROTO_IPV6,
  MMSGHDR_SIZE,
  MSG_DONTWAIT,
  MSGHDR_CONTROL,
  MSGHDR_CONTROLLEN,
  MSGHDR_IOV,
  MSGHDR_IOVLEN,
  MSGHDR_NAME,
  MSGHDR_NAMELEN,
  setU64,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  SOCKADDR_SIZE,
  SOL_SOCKET,
  writeSockaddr,
} from "./socket_abi.ts";

const SO_BROADCAST = 6;
const SO_SNDBUF = 7;
const SO_SNDBUFFORCE = 32;
const IP_TTL = 2;
const IP_RECVERR = 11;
const IP_MULTICAST_IF = 32;
const IP_MULTICAST_TTL = 33;
const IP_MULTICAST_LOOP = 34;
const IPV6_UNICAST_HOPS = 16;
const IPV6_MULTICAST_IF = 17;
const IPV6_MULTICAST_HOPS = 18;
const IPV6_MULTICAST_LOOP = 19;
const IPV6_RECVERR = 25;
const MSG_ERRQUEUE = 0x2000;

/** Messages per sendmmsg call (the kernel takes up to UIO_MAXIOV, 1024). */
export const BATCH_MESSAGES = 256;
/** Payload bytes staged at most: 256 datagrams of a 1500-byte MTU, and a 64 KiB one always fits. */
const ARENA_BYTES = 384 * 1024;
/** One socket carries every destination of its local address: room for bursts of them all. */
const DEFAULT_SNDBUF_BYTES = 4 << 20;
/** A message that meets another destination's error is tried again this many times (each after reading the queue). */
const MAX_ERROR_RETRIES = 4;
/** One error-queue entry: its cmsg (sock_extended_err and the offender's sockaddr) fits easily. */
const ERR_CONTROL_SIZE = 256;
const ERR_PAYLOAD_SIZE = 64;

export interface BatchSocketOptions {
  family: 4 | 6;
  /** Local address and port to send from (bound); the wildcard and a kernel-chosen port when left out. */
  source?: { host: string; port: number };
  /** TTL (hop limit) for unicast and multicast alike. */
  ttl?: number;
  /** Outgoing interface for multicast: an IPv4 address, or an IPv6 interface name or index. */
  iface?: string;
  sndbufBytes?: number;
}

export interface BatchSocketEvents {
  /**
   * A staged message of `length` bytes was not sent: its own error (`errno`: a route, a
   * firewall) or, EAGAIN or ENOBUFS, it waited longer than the flush's `maxHoldUs` for room.
   */
  dropped(owner: number, errnoValue: number, length: number): void;
  /** The error queue reported `errnoValue` for the destination in `name` (its sockaddr, valid during the call). */
  error(name: Uint8Array, errnoValue: number): void;
}

export interface UdpBatchSocket {
  readonly localPort: number;
  /** Messages staged and not yet sent. */
  readonly staged: number;
  /** True when the last flush left messages staged for a full send buffer or route (EAGAIN/ENOBUFS): flush again soon. */
  readonly blocked: boolean;
  /** sendmmsg calls made, and datagrams they sent, since the socket opened. */
  readonly calls: number;
  readonly sent: number;
  /** The socket's own memory: a datagram reserved with `reserve` is written here, at the index it returned. */
  readonly bytes: Uint8Array;
  /**
   * Stages a datagram of `length` bytes for the destination `name` (a SOCKADDR_SIZE buffer, its
   * first `nameLength` bytes used), on behalf of `owner` (reported back in `dropped`): returns
   * where in `bytes` the caller writes it, before the next flush. -1 when no room is left: flush,
   * then reserve again.
   */
  reserve(name: Uint8Array, nameLength: number, owner: number, now: number, length: number): number;
  /** Takes back the datagram just reserved, unsent and unreported (its bytes turned out not to be wanted). */
  unreserve(): void;
  /** Sends what is staged, in order; what a full buffer kept back stays staged, unless older than `maxHoldUs`. */
  flush(now: number, maxHoldUs: number): void;
  /** Reads the error queue, reporting each entry; returns how many were read. */
  readErrors(): number;
  /** Drops what `owner` still has staged, each reported in `dropped`: its destination is closing. */
  discard(owner: number): void;
  close(): void;
}

function optionError(c: Libc, what: string): never {
  throw new PacerError(`cannot set ${what} on a UDP socket: ${errnoText(errno(c))}`);
}

/** Opens the socket, sets its options and binds it; throws PacerError where libc is missing or an option fails. */
export function openUdpBatchSocket(options: BatchSocketOptions, events: BatchSocketEvents): UdpBatchSocket {
  const c = libc();
  if (!c || process.platform !== "linux" || !(process.arch === "x64" || process.arch === "arm64")) {
    throw new PacerError("batched sends need Linux with glibc (libc.so.6) on x86-64 or arm64");
  }
  const v6 = options.family === 6;
  const family = v6 ? AF_INET6 : AF_INET;
  const fd = c.socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    // Its code too, so the caller's line names the shortage as any other (describeFsError); its
    // own words repeated "cannot open a UDP socket" after the caller's.
    const code = errno(c);
    throw Object.assign(new PacerError(`cannot open a UDP socket: ${errnoText(code)}`), { code: errnoCode(code) });
  }
  // Option values and the bound address: made before any pointer into them is taken.
  const scratch = new ArrayBuffer(64);
  const int = new Int32Array(scratch, 0, 1);
  const intLen = new Uint32Array(scratch, 4, 1);
  const addr = new Uint8Array(scratch, 8, SOCKADDR_SIZE);
  const setInt = (level: number, name: number, value: number) => {
    int[0] = value;
    return c.setsockopt(fd, level, name, ptr(int), 4) === 0;
  };
  try {
    if (!setInt(v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_RECVERR : IP_RECVERR, 1)) optionError(c, "IP_RECVERR");
    const sndbuf = options.sndbufBytes ?? DEFAULT_SNDBUF_BYTES;
    if (!setInt(SOL_SOCKET, SO_SNDBUFFORCE, sndbuf)) setInt(SOL_SOCKET, SO_SNDBUF, sndbuf);
    if (!v6) setInt(SOL_SOCKET, SO_BROADCAST, 1);
    setInt(v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_MULTICAST_LOOP : IP_MULTICAST_LOOP, 1);
    if (options.ttl !== undefined) {
      // IPv4 has no unicast TTL of 0 (EINVAL); a ttl=0 socket carries only groups kept on this host.
      if (options.ttl > 0 || v6) {
        if (!setInt(v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_UNICAST_HOPS : IP_TTL, options.ttl)) optionError(c, "the TTL");
      }
      if (!setInt(v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_MULTICAST_HOPS : IP_MULTICAST_TTL, options.ttl)) optionError(c, "the multicast TTL");
    }
    if (options.iface) setMulticastInterface(c, fd, v6, options.iface);
    const sourceIp = options.source ? parseIp(options.source.host) : null;
    if (options.source && (!sourceIp || sourceIp.v4 === v6)) {
      throw new PacerError(`source=${options.source.host}: expected an IPv${options.family} address`);
    }
    const length = writeSockaddr(addr, family, sourceIp?.bytes ?? new Uint8Array(16), options.source?.port ?? 0);
    const port = options.source?.port ?? 0;
    if (c.bind(fd, ptr(addr), length) !== 0) throw bindError(`cannot bind to ${options.source?.host ?? "the wildcard"}:${port}`, errno(c), port);
    intLen[0] = SOCKADDR_SIZE;
    c.getsockname(fd, ptr(addr), ptr(intLen));
    const localPort = (addr[2]! << 8) | addr[3]!;
    return batchSender(c, fd, localPort, events, [scratch, int, intLen, addr]);
  } catch (error) {
    c.close(fd);
    throw error;
  }
}

function setMulticastInterface(c: Libc, fd: number, v6: boolean, iface: string): void {
  const value = new Uint8Array(new ArrayBuffer(4));
  if (!v6) {
    const ip = parseIp(iface);
    if (!ip || !ip.v4) throw new PacerError(`iface=${iface}: expected an IPv4 address`);
    value.set(ip.bytes.subarray(12));
    if (c.setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, ptr(value), 4) !== 0) optionError(c, `iface=${iface}`);
    return;
  }
  const index = /^\d+$/.test(iface) ? Number(iface) : c.if_nametoindex(Buffer.from(`${iface}\0`));
  if (!index) throw new PacerError(`iface=${iface}: no such interface (IPv6 takes a name or index)`);
  new DataView(value.buffer).setUint32(0, index, true);
  if (c.setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, ptr(value), 4) !== 0) optionError(c, `iface=${iface}`);
}

function batchSender(c: Libc, fd: number, localPort: number, events: BatchSocketEvents, keep: unknown[]): UdpBatchSocket {
  const { sendmmsg, recvmsg } = c;
  // One ArrayBuffer: messages, iovecs, sockaddrs, payload arena; then the views; then the pointers.
  const msgsBytes = BATCH_MESSAGES * MMSGHDR_SIZE;
  const iovBytes = BATCH_MESSAGES * IOVEC_SIZE;
  const namesBytes = BATCH_MESSAGES * SOCKADDR_SIZE;
  const memory = new ArrayBuffer(msgsBytes + iovBytes + namesBytes + ARENA_BYTES);
  const bytes = new Uint8Array(memory);
  const words = new Uint32Array(memory);
  const iovAtByte = msgsBytes;
  const namesAtByte = iovAtByte + iovBytes;
  const arenaAtByte = namesAtByte + namesBytes;
  const base = ptr(bytes);
  for (let i = 0; i < BATCH_MESSAGES; i++) {
    const m = (i * MMSGHDR_SIZE) >> 2;
    setU64(words, m + (MSGHDR_NAME >> 2), base + namesAtByte + i * SOCKADDR_SIZE);
    setU64(words, m + (MSGHDR_IOV >> 2), base + iovAtByte + i * IOVEC_SIZE);
    setU64(words, m + (MSGHDR_IOVLEN >> 2), 1);
  }
  /** Per staged message: its owner, where its payload sits in the arena, and when it was staged. */
  const owners = new Int32Array(BATCH_MESSAGES);
  const payloadAt = new Int32Array(BATCH_MESSAGES);
  const payloadLength = new Int32Array(BATCH_MESSAGES);
  const stagedAt = new Float64Array(BATCH_MESSAGES);
  /** Messages the route refused (ENOBUFS) in this flush, and their owners, whose later messages wait too. */
  const held = new Uint8Array(BATCH_MESSAGES);
  const heldOwners = new Int32Array(BATCH_MESSAGES);
  let heldCount = 0;
  const isHeldOwner = (owner: number): boolean => {
    for (let k = 0; k < heldCount; k++) if (heldOwners[k] === owner) return true;
    return false;
  };
  const hold = (i: number) => {
    held[i] = 1;
    if (!isHeldOwner(owners[i]!)) heldOwners[heldCount++] = owners[i]!;
  };

  // The error queue's recvmsg: one msghdr, one iovec, the name, the control buffer, a little payload.
  const errMemory = new ArrayBuffer(MMSGHDR_SIZE + IOVEC_SIZE + SOCKADDR_SIZE + ERR_CONTROL_SIZE + ERR_PAYLOAD_SIZE);
  const errBytes = new Uint8Array(errMemory);
  const errWords = new Uint32Array(errMemory);
  const errView = new DataView(errMemory);
  const errName = errBytes.subarray(MMSGHDR_SIZE + IOVEC_SIZE, MMSGHDR_SIZE + IOVEC_SIZE + SOCKADDR_SIZE);
  const errControlAt = MMSGHDR_SIZE + IOVEC_SIZE + SOCKADDR_SIZE;
  const errBase = ptr(errBytes);
  setU64(errWords, MSGHDR_NAME >> 2, errBase + MMSGHDR_SIZE + IOVEC_SIZE);
  setU64(errWords, MSGHDR_IOV >> 2, errBase + MMSGHDR_SIZE);
  setU64(errWords, MSGHDR_IOVLEN >> 2, 1);
  setU64(errWords, MSGHDR_CONTROL >> 2, errBase + errControlAt);
  setU64(errWords, (MMSGHDR_SIZE >> 2) + 0, errBase + errControlAt + ERR_CONTROL_SIZE);
  setU64(errWords, (MMSGHDR_SIZE >> 2) + 2, ERR_PAYLOAD_SIZE);
  // The kernel holds raw pointers into these: they live as long as the socket.
  const pinned: unknown[] = [memory, bytes, words, errMemory, errBytes, errWords, ...keep];

  let count = 0;
  let arenaUsed = 0;
  let open = true;
  let blocked = false;
  let calls = 0;
  let sent = 0;

  const readErrors = (): number => {
    let read = 0;
    while (open) {
      errWords[MSGHDR_NAMELEN >> 2] = SOCKADDR_SIZE;
      setU64(errWords, MSGHDR_CONTROLLEN >> 2, ERR_CONTROL_SIZE);
      const n = recvmsg(fd, errBase, MSG_ERRQUEUE | MSG_DONTWAIT);
      if (n < 0) {
        if (errno(c) === EINTR) continue;
        break;
      }
      read++;
      // One cmsg: IP_RECVERR (SOL_IP) or IPV6_RECVERR (SOL_IPV6), data a struct sock_extended_err.
      const controlLength = errView.getUint32(MSGHDR_CONTROLLEN, true);
      if (controlLength < CMSG_DATA + 4) continue;
      const level = errView.getInt32(errControlAt + CMSG_LEVEL, true);
      const type = errView.getInt32(errControlAt + CMSG_TYPE, true);
      if (!((level === IPPROTO_IP && type === IP_RECVERR) || (level === IPPROTO_IPV6 && type === IPV6_RECVERR))) continue;
      const eeErrno = errView.getUint32(errControlAt + CMSG_DATA, true);
      // msg_name holds the original destination (address and port) of the datagram that drew the error.
      events.error(errName, eeErrno);
    }
    return read;
  };

  /**
   * Moves the held messages and [from, count) to the front, payloads too, in order (the rare path:
   * a full send buffer or route). What waited longer than `maxHoldUs` is dropped instead.
   */
  const compact = (from: number, now: number, maxHoldUs: number) => {
    let kept = 0;
    let arena = 0;
    for (let i = 0; i < count; i++) {
      const keep = i >= from || held[i] === 1;
      held[i] = 0;
      if (!keep) continue;
      if (now - stagedAt[i]! > maxHoldUs) {
        events.dropped(owners[i]!, ENOBUFS, payloadLength[i]!);
        continue;
      }
      const length = payloadLength[i]!;
      bytes.copyWithin(arenaAtByte + arena, arenaAtByte + payloadAt[i]!, arenaAtByte + payloadAt[i]! + length);
      if (kept !== i) {
        bytes.copyWithin(namesAtByte + kept * SOCKADDR_SIZE, namesAtByte + i * SOCKADDR_SIZE, namesAtByte + (i + 1) * SOCKADDR_SIZE);
        words[((kept * MMSGHDR_SIZE + MSGHDR_NAMELEN) >> 2)] = words[(i * MMSGHDR_SIZE + MSGHDR_NAMELEN) >> 2]!;
        owners[kept] = owners[i]!;
        stagedAt[kept] = stagedAt[i]!;
      }
      place(kept, arena, length);
      arena += length;
      kept++;
    }
    count = kept;
    arenaUsed = arena;
  };

  /** Points message i's iovec at its payload. */
  const place = (i: number, at: number, length: number) => {
    payloadAt[i] = at;
    payloadLength[i] = length;
    const v = (iovAtByte + i * IOVEC_SIZE) >> 2;
    setU64(words, v, base + arenaAtByte + at);
    setU64(words, v + 2, length);
  };

  return {
    localPort,
    get staged() {
      return count;
    },
    get blocked() {
      return blocked;
    },
    get calls() {
      return calls;
    },
    get sent() {
      return sent;
    },
    bytes,
    reserve(name, nameLength, owner, now, length) {
      if (count === BATCH_MESSAGES || arenaUsed + length > ARENA_BYTES) return -1;
      const i = count++;
      bytes.set(name, namesAtByte + i * SOCKADDR_SIZE);
      words[(i * MMSGHDR_SIZE + MSGHDR_NAMELEN) >> 2] = nameLength;
      place(i, arenaUsed, length);
      const at = arenaAtByte + arenaUsed;
      arenaUsed += length;
      owners[i] = owner;
      stagedAt[i] = now;
      return at;
    },
    unreserve() {
      count--;
      arenaUsed = payloadAt[count]!;
    },
    flush(now, maxHoldUs) {
      blocked = false;
      let start = 0;
      let retries = 0;
      heldCount = 0;
      while (start < count && open) {
        // After a route refused a message, its destination's later ones wait with it, in order.
        let end = count;
        if (heldCount > 0) {
          end = start;
          while (end < count && !isHeldOwner(owners[end]!)) end++;
          if (end === start) {
            hold(start++);
            continue;
          }
        }
        const n = sendmmsg(fd, (base + start * MMSGHDR_SIZE) as Pointer, end - start, MSG_DONTWAIT);
        calls++;
        if (n > 0) {
          start += n;
          sent += n;
          retries = 0;
          continue;
        }
        const e = errno(c);
        if (e === EINTR) continue;
        if (e === EAGAIN) {
          blocked = true;
          break;
        }
        if (e === ENOBUFS) {
          blocked = true;
          hold(start++);
          retries = 0;
          continue;
        }
        // Perhaps another destination's ICMP error, pending on the socket: reading the queue
        // reports it against its own destination and clears it; then this message goes again.
        if (retries < MAX_ERROR_RETRIES && (readErrors() > 0 || (e === ECONNREFUSED && retries === 0))) {
          retries++;
          continue;
        }
        events.dropped(owners[start]!, e, payloadLength[start]!);
        start++;
        retries = 0;
      }
      if (start >= count && heldCount === 0) {
        count = 0;
        arenaUsed = 0;
      } else {
        compact(start, now, maxHoldUs);
      }
    },
    readErrors,
    discard(owner) {
      let any = false;
      for (let i = 0; i < count; i++) {
        if (owners[i] !== owner) continue;
        stagedAt[i] = -Infinity; // older than any hold: compact drops and reports it
        any = true;
      }
      if (any) compact(0, 0, 0);
    },
    close() {
      if (!open) return;
      open = false;
      count = 0;
      pinned.length = 0;
      c.close(fd);
    },
  };
}
