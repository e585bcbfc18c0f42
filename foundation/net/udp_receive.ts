/**
 * A UDP receive socket for the network inputs (`udp://@`, `rtp://@`), opened through libc because
 * Bun's sockets give no file descriptor: a large SO_RCVBUF (forced past rmem_max where allowed),
 * the kernel's drop counter (SO_MEMINFO), multicast joins (any-source, and source-specific for
 * IPv4) and recvmmsg to read up to a batch of datagrams per call into buffers reused for ever.
 * Nothing here waits: the caller drains on its own timer.
 *
 * @example
 * ```ts
 * const rx = openUdpReceiver({ host: "239.1.2.3", port: 5000, iface: "10.0.0.2" });
 * setInterval(() => rx.drain((datagram) => queue.push(datagram)), 2); // datagram valid during the call
 * rx.kernelDrops; // datagrams the kernel dropped on a full buffer, or null where it does not say
 * ```
 */
import { ptr } from "bun:ffi";
import { errnoText } from "../fs_error.ts";
import { bindError } from "./bind_error.ts";
import { PacerError, UsageError } from "../errors.ts";
import { errno, type Libc, libc } from "../libc.ts";
import { hostPortText, isMulticast, parseIp } from "./address.ts";
import {
  AF_INET,
  AF_INET6,
  EADDRNOTAVAIL,
  ENODEV,
  IOVEC_SIZE,
  IPPROTO_IP,
  IPPROTO_IPV6,
  MMSG_LEN,
  MMSGHDR_SIZE,
  MSG_DONTWAIT,
  MSGHDR_FLAGS,
  MSGHDR_IOV,
  MSGHDR_IOVLEN,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  SOL_SOCKET,
  writeSockaddr as sockaddr,
} from "./socket_abi.ts";

const SO_REUSEADDR = 2;
const SO_RCVBUF = 8;
const SO_RCVBUFFORCE = 33;
/**
 * getsockopt: the socket's memory figures, u32[SK_MEMINFO_VARS]; the last is its drop count. Read
 * when asked, not from each datagram's SO_RXQ_OVFL, which carries the count as it was when that
 * datagram was queued: drops after the last one queued (the tail of a flood) reached no datagram.
 */
const SO_MEMINFO = 55;
const SK_MEMINFO_VARS = 9;
const SK_MEMINFO_DROPS = 8;
const IP_ADD_MEMBERSHIP = 35;
const IP_ADD_SOURCE_MEMBERSHIP = 39;
const IPV6_JOIN_GROUP = 20;
/** Source-specific joins for IPv6 (RFC 3678's protocol-independent API). */
const MCAST_JOIN_SOURCE_GROUP = 46;
const SOCKADDR_STORAGE_SIZE = 128;
const GROUP_SOURCE_REQ_SIZE = 8 + 2 * SOCKADDR_STORAGE_SIZE;
const IPV6_V6ONLY = 26;
const MSG_TRUNC = 0x20;

/** Datagrams per recvmmsg call. */
const BATCH = 64;
/** The largest datagram kept (a jumbo frame's payload); longer ones are cut by the kernel and counted. */
export const MAX_DATAGRAM = 9216;
/** Default receive buffer: 1.3 s of a 100 Mbit/s stream, for a loop held up by a slow disk sync. */
export const DEFAULT_RCVBUF_BYTES = 16 << 20;

export interface UdpReceiveOptions {
  /** Address to receive on: a multicast group (joined), a local unicast address, or "" for all. */
  host: string;
  port: number;
  /** Local interface address the group is joined on (IPv4), or an interface name or index (IPv6). */
  iface?: string;
  /** Source-specific multicast: only this sender's datagrams (IPv4). */
  source?: string;
  rcvbufBytes?: number;
  /** The input's scheme, for messages (`rtp` for rtp://@); udp by default. */
  scheme?: string;
}

export interface UdpReceiver {
  /** The port bound (as asked). */
  readonly port: number;
  /** The buffer the kernel granted (Linux reports twice the usable size). */
  readonly rcvbufBytes: number;
  /**
   * Reads the datagrams queued now, passing each to `onDatagram` (its bytes are valid only
   * during the call), but no more bytes than `room`: what does not fit stays in the socket's
   * buffer for the next call (where the kernel counts what it has to drop). A callback that
   * passes on other than the datagram's own bytes (a reorder that holds some back, or fills a
   * hole) returns how many it passed on, and that is what `room` is charged. Returns how many
   * were read.
   */
  drain(onDatagram: (datagram: Uint8Array) => number | void, room?: number): number;
  /** Datagrams the kernel dropped on a full buffer since the socket opened (its own count, read when asked); null where it does not say. */
  readonly kernelDrops: number | null;
  /** Datagrams longer than MAX_DATAGRAM, cut and left out. */
  readonly truncated: number;
  close(): void;
}

function ipv4(text: string, what: string): Uint8Array {
  const ip = parseIp(text);
  if (!ip || !ip.v4) throw new UsageError(`${what} "${text}": expected an IPv4 address`);
  return ip.bytes.subarray(12);
}

/** Opens and binds the socket and joins the group; a one-line error names what failed. */
export function openUdpReceiver(options: UdpReceiveOptions): UdpReceiver {
  const c = libc();
  if (!c || process.platform !== "linux" || !(process.arch === "x64" || process.arch === "arm64")) {
    throw new PacerError("network inputs need Linux with glibc (libc.so.6) on x86-64 or arm64");
  }
  const where = `${options.scheme ?? "udp"}://@${hostPortText(options.host, options.port)}`;
  const ip = options.host === "" ? null : parseIp(options.host);
  if (options.host !== "" && !ip) throw new UsageError(`${where}: the address must be an IP address, not a name`);
  const v6 = ip !== null && !ip.v4;
  const multicast = ip !== null && isMulticast(options.host);
  if (!multicast && (options.source || options.iface)) {
    throw new UsageError(`${where}: source= and iface= apply to a multicast group only`);
  }
  const fd = c.socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new PacerError(`${where}: cannot open a socket: ${errnoText(errno(c))}`);
  // Everything the kernel holds a pointer to lives as long as the receiver (see `pinned`).
  const int = new Int32Array(1);
  const intLen = new Uint32Array(1);
  const setInt = (level: number, name: number, value: number) => {
    int[0] = value;
    return c.setsockopt(fd, level, name, ptr(int), 4) === 0;
  };
  try {
    const want = options.rcvbufBytes ?? DEFAULT_RCVBUF_BYTES;
    // FORCE passes net.core.rmem_max with CAP_NET_ADMIN; without it the kernel caps the plain request.
    if (!setInt(SOL_SOCKET, SO_RCVBUFFORCE, want)) setInt(SOL_SOCKET, SO_RCVBUF, want);
    // Several recorders of one group on one host each get every datagram.
    if (multicast) setInt(SOL_SOCKET, SO_REUSEADDR, 1);
    if (v6) setInt(IPPROTO_IPV6, IPV6_V6ONLY, 0);
    const addr = new Uint8Array(28);
    const any = new Uint8Array(16);
    const length = sockaddr(addr, v6 ? AF_INET6 : AF_INET, ip?.bytes ?? any, options.port);
    if (c.bind(fd, ptr(addr), length) !== 0) throw bindError(where, errno(c), options.port);
    if (multicast) join(c, fd, ip!.bytes, v6, options, where);
    intLen[0] = 4;
    c.getsockopt(fd, SOL_SOCKET, SO_RCVBUF, ptr(int), ptr(intLen));
    const granted = int[0]!;
    return batchReader(c, fd, options.port, granted, [int, intLen, addr]);
  } catch (error) {
    c.close(fd);
    throw error;
  }
}

function join(c: Libc, fd: number, group: Uint8Array, v6: boolean, options: UdpReceiveOptions, where: string): void {
  let ok: boolean;
  if (!v6) {
    const iface = options.iface ? ipv4(options.iface, "iface") : new Uint8Array(4);
    let request: Uint8Array;
    let name = IP_ADD_MEMBERSHIP;
    if (options.source) {
      // struct ip_mreq_source (Linux order): group, interface, source.
      request = new Uint8Array(12);
      request.set(group.subarray(12), 0);
      request.set(iface, 4);
      request.set(ipv4(options.source, "source"), 8);
      name = IP_ADD_SOURCE_MEMBERSHIP;
    } else {
      request = new Uint8Array(8); // struct ip_mreq: group, interface
      request.set(group.subarray(12), 0);
      request.set(iface, 4);
    }
    ok = c.setsockopt(fd, IPPROTO_IP, name, ptr(request), request.length) === 0;
  } else {
    let index = 0;
    if (options.iface) {
      index = /^\d+$/.test(options.iface) ? Number(options.iface) : c.if_nametoindex(Buffer.from(`${options.iface}\0`));
      if (!index) throw new UsageError(`${where}: iface "${options.iface}": no such interface (IPv6 takes a name or index)`);
    }
    if (options.source) {
      const source = parseIp(options.source);
      if (!source || source.v4) throw new UsageError(`source "${options.source}": expected an IPv6 address, as the group is`);
      // struct group_source_req (64-bit Linux): u32 interface, 4 bytes padding, then two sockaddr_storage.
      const request = new Uint8Array(GROUP_SOURCE_REQ_SIZE);
      new DataView(request.buffer).setUint32(0, index, true);
      sockaddr(request.subarray(8), AF_INET6, group, 0);
      sockaddr(request.subarray(8 + SOCKADDR_STORAGE_SIZE), AF_INET6, source.bytes, 0);
      ok = c.setsockopt(fd, IPPROTO_IPV6, MCAST_JOIN_SOURCE_GROUP, ptr(request), request.length) === 0;
    } else {
      const request = new Uint8Array(20); // struct ipv6_mreq: group, interface index
      request.set(group, 0);
      new DataView(request.buffer).setUint32(16, index, true);
      ok = c.setsockopt(fd, IPPROTO_IPV6, IPV6_JOIN_GROUP, ptr(request), request.length) === 0;
    }
  }
  if (!ok) {
    const e = errno(c);
    const why = e === ENODEV ? "no interface routes multicast (add a multicast route or give iface=)" : e === EADDRNOTAVAIL ? "iface is not an address of this host" : errnoText(e);
    throw new PacerError(`${where}: cannot join the group: ${why}`);
  }
}

function batchReader(c: Libc, fd: number, port: number, rcvbufBytes: number, keep: unknown[]): UdpReceiver {
  const payload = new Uint8Array(BATCH * MAX_DATAGRAM);
  const iov = new DataView(new ArrayBuffer(BATCH * IOVEC_SIZE));
  const msgs = new DataView(new ArrayBuffer(BATCH * MMSGHDR_SIZE));
  const payloadAt = ptr(payload);
  const iovAt = ptr(iov);
  for (let i = 0; i < BATCH; i++) {
    iov.setBigUint64(i * IOVEC_SIZE, BigInt(payloadAt + i * MAX_DATAGRAM), true);
    iov.setBigUint64(i * IOVEC_SIZE + 8, BigInt(MAX_DATAGRAM), true);
    const m = i * MMSGHDR_SIZE;
    msgs.setBigUint64(m + MSGHDR_IOV, BigInt(iovAt + i * IOVEC_SIZE), true);
    msgs.setBigUint64(m + MSGHDR_IOVLEN, 1n, true);
  }
  const msgsAt = ptr(msgs);
  // The kernel holds raw pointers into these: they must live as long as the socket.
  const pinned = [payload, iov, msgs, ...keep];
  const views = Array.from({ length: BATCH }, (_, i) => payload.subarray(i * MAX_DATAGRAM, (i + 1) * MAX_DATAGRAM));
  let open = true;
  let truncated = 0;
  // ArrayBuffers first, then their views and pointers: a small typed array's storage moves when asked for it.
  const meminfo = new Uint32Array(new ArrayBuffer(SK_MEMINFO_VARS * 4));
  const meminfoLength = new Uint32Array(new ArrayBuffer(4));
  const meminfoAt = ptr(meminfo);
  const meminfoLengthAt = ptr(meminfoLength);
  /** The socket's drop count now, or null where the kernel does not say (before Linux 4.15). */
  const readDrops = (): number | null => {
    meminfoLength[0] = SK_MEMINFO_VARS * 4;
    if (c.getsockopt(fd, SOL_SOCKET, SO_MEMINFO, meminfoAt, meminfoLengthAt) !== 0) return null;
    return meminfoLength[0]! > SK_MEMINFO_DROPS * 4 ? meminfo[SK_MEMINFO_DROPS]! : null;
  };
  let drops = readDrops();

  return {
    port,
    rcvbufBytes,
    get kernelDrops() {
      if (open && drops !== null) drops = readDrops() ?? drops;
      return drops;
    },
    get truncated() {
      return truncated;
    },
    drain(onDatagram, room = Infinity) {
      let total = 0;
      while (open && pinned.length > 0) {
        // Only as many as surely fit: each may be as long as the longest datagram kept.
        const batch = Math.min(BATCH, Math.floor(room / MAX_DATAGRAM));
        if (batch <= 0) break;
        const n = c.recvmmsg(fd, msgsAt, batch, MSG_DONTWAIT, null);
        if (n <= 0) break;
        for (let i = 0; i < n; i++) {
          const m = i * MMSGHDR_SIZE;
          const length = msgs.getUint32(m + MMSG_LEN, true);
          if ((msgs.getInt32(m + MSGHDR_FLAGS, true) & MSG_TRUNC) !== 0) {
            truncated++;
            continue;
          }
          room -= onDatagram(views[i]!.subarray(0, length)) ?? length;
        }
        total += n;
        if (n < batch) break;
      }
      return total;
    },
    close() {
      if (!open) return;
      open = false;
      c.close(fd);
    },
  };
}
