/**
 * pacer's one binding to the C library (bun:ffi), with one symbol table: the precise sleeper's
 * clock calls, the non-blocking pipes of cmd: and a file: FIFO, the memory ALSA's name hints hand back, and the socket
 * calls that the kernel-stamped receiver and the
 * network inputs use (buffer size, multicast joins, recvmmsg with the kernel's drop count), the
 * batched sender's sendmmsg and error queue, and flock. Loaded on first use, once per process.
 *
 * @example
 * ```ts
 * const c = libc();
 * if (c) c.prctl(PR_SET_TIMERSLACK, 1, 0, 0, 0);
 * ```
 */
import { dlopen, FFIType, type Library, ptr as pointerTo, read } from "bun:ffi";
import { systemLibrary } from "./system_library.ts";

const { i32, u32, u64, i64, ptr, cstring, void: v } = FFIType;

const SYMBOLS = {
  // time
  clock_nanosleep: { args: [i32, i32, ptr, ptr], returns: i32 },
  clock_gettime: { args: [i32, ptr], returns: i32 },
  prctl: { args: [i32, u64, u64, u64, u64], returns: i32 },
  // files and pipes
  pipe2: { args: [ptr, i32], returns: i32 },
  fcntl: { args: [i32, i32, i32], returns: i32 },
  ioctl: { args: [i32, u64, ptr], returns: i32 },
  read: { args: [i32, ptr, u64], returns: i64 },
  poll: { args: [ptr, u64, i32], returns: i32 },
  close: { args: [i32], returns: i32 },
  // the recorder's lock on its output: released by the kernel when the process dies, even by kill -9
  flock: { args: [i32, i32], returns: i32 },
  // system calls glibc has no wrapper for (openat2)
  syscall: { args: [i64, i64, ptr, ptr, u64], returns: i64 },
  // why the last call failed (a pointer to this thread's errno)
  __errno_location: { args: [], returns: ptr },
  // memory that C libraries hand back
  free: { args: [ptr], returns: v },
  // sockets
  socket: { args: [i32, i32, i32], returns: i32 },
  setsockopt: { args: [i32, i32, i32, ptr, u32], returns: i32 },
  bind: { args: [i32, ptr, u32], returns: i32 },
  getsockname: { args: [i32, ptr, ptr], returns: i32 },
  getsockopt: { args: [i32, i32, i32, ptr, ptr], returns: i32 },
  if_nametoindex: { args: [cstring], returns: u32 },
  // sd_notify's datagram to a unix socket, which Bun's own sockets cannot send
  sendto: { args: [i32, ptr, u64, i32, ptr, u32], returns: i64 },
  recvmmsg: { args: [i32, ptr, u32, i32, ptr], returns: i32 },
  // batched sends to many destinations from one socket, and that socket's error queue (IP_RECVERR)
  sendmmsg: { args: [i32, ptr, u32, i32], returns: i32 },
  recvmsg: { args: [i32, ptr, i32], returns: i64 },
  epoll_create1: { args: [i32], returns: i32 },
  epoll_ctl: { args: [i32, i32, i32, ptr], returns: i32 },
  epoll_wait: { args: [i32, ptr, i32, i32], returns: i32 },
  // whether this process is the terminal's foreground job (play's keys)
  tcgetpgrp: { args: [i32], returns: i32 },
  getpgrp: { args: [], returns: i32 },
  // the environment C libraries read (libasound's ALSA_CONFIG_PATH)
  setenv: { args: [cstring, cstring, i32], returns: i32 },
  unsetenv: { args: [cstring], returns: i32 },
  getenv: { args: [cstring], returns: cstring },
} as const;

export type Libc = Library<typeof SYMBOLS>["symbols"];

let loaded: Libc | null | undefined;

/** The C library's symbols, or null where it cannot be loaded (callers fall back or say why). */
export function libc(): Libc | null {
  if (loaded === undefined) {
    try {
      // Never ./libc.so.6 (systemLibrary): Bun tries a bare name from the current directory too.
      const path = systemLibrary("libc.so.6");
      loaded = path === null ? null : dlopen(path, SYMBOLS).symbols;
    } catch {
      loaded = null;
    }
  }
  return loaded;
}

export const POLLOUT = 0x004;
export const POLLERR = 0x008;

/**
 * A poll of `fd` for `events` with no wait, made once and asked many times: it returns the
 * revents (0 when nothing is ready). Null without libc.
 */
export function pollNow(fd: number, events: number): (() => number) | null {
  const c = libc();
  if (c === null) return null;
  // struct pollfd { int fd; short events; short revents; }: the buffer first, then its pointer.
  const memory = new ArrayBuffer(8);
  const view = new DataView(memory);
  view.setInt32(0, fd, true);
  view.setInt16(4, events, true);
  const at = pointerTo(memory);
  return () => (c.poll(at, 1, 0) === 1 ? view.getInt16(6, true) : 0);
}

/** Why the last libc call on this thread failed. */
export function errno(c: Libc): number {
  const at = c.__errno_location();
  return at === null ? 0 : read.i32(at, 0);
}
