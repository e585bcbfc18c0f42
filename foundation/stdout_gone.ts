/**
 * Whether the reader of pacer's own stdout has gone (`pacer play … | head` after head exits): a
 * pipe whose read end is closed polls as POLLERR. A `cmd:` output writes to pacer's stdout; when
 * it dies of SIGPIPE (or exits failing on EPIPE) and this is so, a new one would meet the same closed pipe.
 *
 * @example
 * ```ts
 * if (stdoutReaderGone()) fail("the reader of its output went away");
 * ```
 */
import { POLLERR, POLLOUT, pollNow } from "./libc.ts";

const STDOUT = 1;

export function stdoutReaderGone(): boolean {
  const revents = pollNow(STDOUT, POLLOUT);
  return revents !== null && (revents() & POLLERR) !== 0;
}
