/**
 * Whether the reader of pacer's own stdout has gone (`pacer play … | head` after head exits): a
 * pipe whose read end is closed polls as POLLERR. A `cmd:` output writes to pacer's stdout; when
 * it dies of SIGPIPE and this is so, a new one would meet the same closed pipe.
 *
 * @example
 * ```ts
 * if (stdoutReaderGone()) fail("the reader of its output went away");
 * ```
 */
import { ptr } from "bun:ffi";
import { libc } from "./libc.ts";

const POLLOUT = 0x004;
const POLLERR = 0x008;
const STDOUT = 1;

export function stdoutReaderGone(): boolean {
  const c = libc();
  if (!c) return false;
  // struct pollfd { int fd; short events; short revents; }: the buffer made before the pointer.
  const memory = new ArrayBuffer(8);
  const view = new DataView(memory);
  const bytes = new Uint8Array(memory);
  view.setInt32(0, STDOUT, true);
  view.setInt16(4, POLLOUT, true);
  if (c.poll(ptr(bytes), 1, 0) < 0) return false;
  return (view.getInt16(6, true) & POLLERR) !== 0;
}
