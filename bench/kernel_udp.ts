/**
 * UDP receiving with kernel arrival stamps, through FFI to glibc (x86-64
 * Linux): SO_TIMESTAMPNS on each socket, epoll to wait, recvmmsg to read in
 * batches. The stamp is taken when the datagram is queued on the socket, so
 * the receiver's own scheduling delays (GC, being descheduled) do not show
 * in the figures, as long as the socket buffers hold.
 *
 * The loop blocks its thread, which suits a process that only receives.
 * It also watches stdin: end of file there stops it.
 *
 * @example
 * ```ts
 * const rx = openKernelStampedSockets(2, 1 << 20); // ports in rx.ports
 * rx.run((stream, monoNs, bytes) => {...}, deadlineMonoNs);
 * ```
 */
import { ptr } from "bun:ffi";
import { type Libc, libc } from "../foundation/libc.ts";

const AF_INET = 2;
const SOCK_DGRAM = 2;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_RCVBUF = 8;
const SO_TIMESTAMPNS = 35;
const SCM_TIMESTAMPNS = SO_TIMESTAMPNS;
const EPOLL_CTL_ADD = 1;
const EPOLLIN = 1;
const MSG_DONTWAIT = 0x40;
const CLOCK_REALTIME = 0;
const CLOCK_MONOTONIC = 1;
const LOOPBACK_BE = [127, 0, 0, 1];

/** x86-64 layouts: struct mmsghdr is a 56-byte msghdr plus msg_len, padded to 64. */
const MMSGHDR_SIZE = 64;
const MSGHDR_IOV = 16;
const MSGHDR_IOVLEN = 24;
const MSGHDR_CONTROL = 32;
const MSGHDR_CONTROLLEN = 40;
const MMSG_LEN = 56;
const IOVEC_SIZE = 16;
const CONTROL_SIZE = 64;
/** struct epoll_event is packed on x86-64: u32 events, u64 data. */
const EPOLL_EVENT_SIZE = 12;
const BATCH = 64;
const MAX_DATAGRAM = 2048;
const MAX_EVENTS = 256;
const WAIT_MS = 100;
const STDIN_TAG = 0xffffffff;
const NS_PER_S = 1e9;


/** Called per datagram: stream index, arrival (system-wide monotonic ns), the datagram's bytes (valid only during the call). */
export type OnDatagram = (stream: number, arrivalMonoNs: number, datagram: Uint8Array) => void;

export interface KernelStampedSockets {
  ports: number[];
  /** Receives until stdin ends or `deadlineMonoNs` passes. */
  run(onDatagram: OnDatagram, deadlineMonoNs: number): void;
  close(): void;
}

function clockNs(c: Libc, clock: number, ts: BigInt64Array, baseS: number): number {
  c.clock_gettime(clock, ptr(ts));
  return (Number(ts[0]) - baseS) * NS_PER_S + Number(ts[1]);
}

/** Opens `streams` sockets on 127.0.0.1 (ephemeral ports). Throws if FFI or a call fails. */
export function openKernelStampedSockets(streams: number, rcvbufBytes: number): KernelStampedSockets {
  if (process.platform !== "linux" || process.arch !== "x64") throw new Error("kernel stamps need x86-64 Linux");
  const c = libc();
  if (!c) throw new Error("libc.so.6 could not be loaded");
  const fds: number[] = [];
  const ports: number[] = [];
  const one = new Int32Array([1]);
  const rcvbuf = new Int32Array([rcvbufBytes]);
  const addr = new Uint8Array(16);
  const addrLen = new Uint32Array([16]);
  const epfd = c.epoll_create1(0);
  if (epfd < 0) throw new Error("epoll_create1 failed");
  const event = new DataView(new ArrayBuffer(EPOLL_EVENT_SIZE));
  const addToEpoll = (fd: number, tag: number) => {
    event.setUint32(0, EPOLLIN, true);
    event.setBigUint64(4, BigInt(tag), true);
    if (c.epoll_ctl(epfd, EPOLL_CTL_ADD, fd, ptr(event)) !== 0) throw new Error(`epoll_ctl(${fd}) failed`);
  };
  for (let s = 0; s < streams; s++) {
    const fd = c.socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) throw new Error("socket() failed");
    fds.push(fd);
    c.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, ptr(rcvbuf), 4);
    if (c.setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, ptr(one), 4) !== 0) throw new Error("SO_TIMESTAMPNS failed");
    addr.fill(0);
    addr[0] = AF_INET; // sin_family, little-endian u16
    addr.set(LOOPBACK_BE, 4);
    if (c.bind(fd, ptr(addr), 16) !== 0) throw new Error("bind failed");
    addrLen[0] = 16;
    if (c.getsockname(fd, ptr(addr), ptr(addrLen)) !== 0) throw new Error("getsockname failed");
    ports.push((addr[2]! << 8) | addr[3]!);
    addToEpoll(fd, s);
  }
  try {
    addToEpoll(0, STDIN_TAG);
  } catch {
    // stdin is not pollable (/dev/null): only the deadline stops the loop.
  }

  // One batch of message headers, iovecs, payload and control buffers, reused for every recvmmsg.
  const payload = new Uint8Array(BATCH * MAX_DATAGRAM);
  const control = new Uint8Array(BATCH * CONTROL_SIZE);
  const iov = new DataView(new ArrayBuffer(BATCH * IOVEC_SIZE));
  const msgs = new DataView(new ArrayBuffer(BATCH * MMSGHDR_SIZE));
  const controlView = new DataView(control.buffer);
  const payloadAt = ptr(payload);
  const controlAt = ptr(control);
  const iovAt = ptr(iov);
  for (let i = 0; i < BATCH; i++) {
    iov.setBigUint64(i * IOVEC_SIZE, BigInt(payloadAt + i * MAX_DATAGRAM), true);
    iov.setBigUint64(i * IOVEC_SIZE + 8, BigInt(MAX_DATAGRAM), true);
    const m = i * MMSGHDR_SIZE;
    msgs.setBigUint64(m + MSGHDR_IOV, BigInt(iovAt + i * IOVEC_SIZE), true);
    msgs.setBigUint64(m + MSGHDR_IOVLEN, 1n, true);
    msgs.setBigUint64(m + MSGHDR_CONTROL, BigInt(controlAt + i * CONTROL_SIZE), true);
  }
  const msgsAt = ptr(msgs);
  const events = new DataView(new ArrayBuffer(MAX_EVENTS * EPOLL_EVENT_SIZE));
  const eventsAt = ptr(events);
  const scratch = new Uint8Array(4096);
  // The kernel holds raw pointers into these; they must outlive the loop (GC would free them).
  const pinned = [payload, control, iov, msgs, events, scratch, one, rcvbuf, addr, addrLen];

  // Kernel stamps are CLOCK_REALTIME; turn them into the bench's monotonic clock.
  const ts = new BigInt64Array(2);
  c.clock_gettime(CLOCK_REALTIME, ptr(ts));
  const baseS = Number(ts[0]);
  let realMinusMono = 0;
  let best = Infinity;
  for (let i = 0; i < 20; i++) {
    const m0 = clockNs(c, CLOCK_MONOTONIC, ts, 0);
    const r = clockNs(c, CLOCK_REALTIME, ts, baseS);
    const m1 = clockNs(c, CLOCK_MONOTONIC, ts, 0);
    if (m1 - m0 < best) {
      best = m1 - m0;
      realMinusMono = r - (m0 + m1) / 2;
    }
  }

  const drain = (fd: number, stream: number, onDatagram: OnDatagram) => {
    for (;;) {
      for (let i = 0; i < BATCH; i++) msgs.setBigUint64(i * MMSGHDR_SIZE + MSGHDR_CONTROLLEN, BigInt(CONTROL_SIZE), true);
      const n = c.recvmmsg(fd, msgsAt, BATCH, MSG_DONTWAIT, null);
      if (n <= 0) return;
      for (let i = 0; i < n; i++) {
        const len = msgs.getUint32(i * MMSGHDR_SIZE + MMSG_LEN, true);
        const cm = i * CONTROL_SIZE;
        let arrival = NaN;
        const controlLen = Number(msgs.getBigUint64(i * MMSGHDR_SIZE + MSGHDR_CONTROLLEN, true));
        if (controlLen >= 32 && controlView.getInt32(cm + 8, true) === SOL_SOCKET && controlView.getInt32(cm + 12, true) === SCM_TIMESTAMPNS) {
          const sec = Number(controlView.getBigInt64(cm + 16, true));
          const nsec = Number(controlView.getBigInt64(cm + 24, true));
          arrival = (sec - baseS) * NS_PER_S + nsec - realMinusMono;
        }
        onDatagram(stream, arrival, payload.subarray(i * MAX_DATAGRAM, i * MAX_DATAGRAM + Math.min(len, MAX_DATAGRAM)));
      }
      if (n < BATCH) return;
    }
  };

  return {
    ports,
    run(onDatagram, deadlineMonoNs) {
      const keep = pinned;
      for (;;) {
        if (keep.length === 0) return;
        if (clockNs(c, CLOCK_MONOTONIC, ts, 0) >= deadlineMonoNs) return;
        const n = c.epoll_wait(epfd, eventsAt, MAX_EVENTS, WAIT_MS);
        for (let e = 0; e < n; e++) {
          const tag = Number(events.getBigUint64(e * EPOLL_EVENT_SIZE + 4, true));
          if (tag === STDIN_TAG) {
            if (Number(c.read(0, ptr(scratch), scratch.length)) <= 0) return;
            continue;
          }
          drain(fds[tag]!, tag, onDatagram);
        }
      }
    },
    close() {
      for (const fd of fds) c.close(fd);
      c.close(epfd);
    },
  };
}

