/**
 * Why a UDP socket pacer opens itself (a receiver, a batched sender's shared socket) could not be
 * bound, in words: a port another process holds is temporary (exit 75), as a locked output is;
 * anything else (not an address of this host, a port below 1024) is the caller's to fix.
 *
 * @example
 * ```ts
 * throw bindError("udp://@127.0.0.1:5000", errno(c), 5000); // TemporaryError "…: port 5000 is in use"
 * ```
 */
import { PacerError, TemporaryError } from "../errors.ts";
import { errnoText } from "../fs_error.ts";
import { EACCES, EADDRINUSE } from "./socket_abi.ts";

export function bindError(where: string, errno: number, port: number): Error {
  if (errno === EADDRINUSE) return new TemporaryError(`${where}: port ${port} is in use`);
  const privileged = errno === EACCES && port < 1024 ? " (ports below 1024 need privileges)" : "";
  return new PacerError(`${where}: ${errnoText(errno)}${privileged}`);
}
