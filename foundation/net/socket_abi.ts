/**
 * The Linux socket ABI that pacer's libc sockets share (udp_receive.ts, udp_batch_socket.ts):
 * address families and socket constants, the LP64 layouts of struct mmsghdr and iovec, errno, and
 * struct sockaddr_in / sockaddr_in6 written in place. Named once here, so both sockets agree.
 *
 * @example
 * ```ts
 * const name = new Uint8Array(SOCKADDR_SIZE);
 * const length = writeSockaddr(name, AF_INET, parseIp("127.0.0.1")!.bytes, 5004); // 16
 * ```
 */

export const AF_INET = 2;
export const AF_INET6 = 10;
export const SOCK_DGRAM = 2;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const IPPROTO_IP = 0;
export const IPPROTO_IPV6 = 41;
export const MSG_DONTWAIT = 0x40;

export const EINTR = 4;
export const EAGAIN = 11;
export const EACCES = 13;
export const ENODEV = 19;
export const EADDRINUSE = 98;
export const EADDRNOTAVAIL = 99;
export const ENOBUFS = 105;
export const ECONNREFUSED = 111;

/** LP64 Linux layouts: struct mmsghdr is a 56-byte msghdr plus msg_len, padded to 64. */
export const MMSGHDR_SIZE = 64;
export const MSGHDR_NAME = 0;
export const MSGHDR_NAMELEN = 8;
export const MSGHDR_IOV = 16;
export const MSGHDR_IOVLEN = 24;
export const MSGHDR_CONTROL = 32;
export const MSGHDR_CONTROLLEN = 40;
export const MSGHDR_FLAGS = 48;
export const MMSG_LEN = 56;
export const IOVEC_SIZE = 16;
/** struct cmsghdr: a u64 length, then level and type (i32 each); data from byte 16. */
export const CMSG_LEVEL = 8;
export const CMSG_TYPE = 12;
export const CMSG_DATA = 16;
/** Room for a sockaddr_in6 (28 bytes), kept 8-byte aligned. */
export const SOCKADDR_SIZE = 32;

/**
 * Writes a sockaddr for `bytes` (16 bytes, IPv4 mapped, as address.ts parses them) and `port`
 * into `out`; returns its length (16 for AF_INET, 28 for AF_INET6).
 */
export function writeSockaddr(out: Uint8Array, family: number, bytes: Uint8Array, port: number): number {
  out.fill(0, 0, family === AF_INET ? 16 : 28);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  view.setUint16(0, family, true);
  view.setUint16(2, port, false);
  if (family === AF_INET) {
    out.set(bytes.subarray(12), 4);
    return 16;
  }
  out.set(bytes, 8);
  return 28;
}

/**
 * A key for the address and port in a sockaddr, equal for equal destinations: a number for IPv4
 * (address × 65536 + port, no allocation) and a string for IPv6.
 */
export function sockaddrKey(name: Uint8Array): number | string {
  const family = name[0]! | (name[1]! << 8);
  const port = (name[2]! << 8) | name[3]!;
  if (family === AF_INET) return (((name[4]! << 24) | (name[5]! << 16) | (name[6]! << 8) | name[7]!) >>> 0) * 2 ** 16 + port;
  let key = `${port}@`;
  for (let i = 8; i < 24; i++) key += name[i]!.toString(16).padStart(2, "0");
  return key;
}

/** Writes `value` (a pointer or length below 2^53) as a little-endian u64 at word `at` of `words`, without a BigInt. */
export function setU64(words: Uint32Array, at: number, value: number): void {
  words[at] = value % 2 ** 32;
  words[at + 1] = Math.floor(value / 2 ** 32);
}
