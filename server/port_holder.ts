/**
 * Why a socket could not be bound, in one line a person can act on. "bind EADDRINUSE 127.0.0.1"
 * names neither the port nor who has it, so for a port in use this looks the holder up, best
 * effort, the way `ss -p` does on Linux: the socket's inode from /proc/net/{udp,tcp}[6], then the
 * process with a descriptor on `socket:[inode]` under /proc/PID/fd. Another user's processes are
 * not readable unless we are root; then the line names the owning uid instead.
 *
 * A port in use is a TemporaryError (exit 75: it may clear when the other process goes); anything
 * else is a PacerError (exit 1).
 *
 * @example
 * ```ts
 * await openUdpSocket({ hostname: "127.0.0.1", port: 7070, onError }).catch((error) => {
 *   throw bindFailure("control socket", "control", "udp", { host: "127.0.0.1", port: 7070 }, error);
 * });
 * // TemporaryError: cannot bind the control socket on 127.0.0.1:7070: UDP port 7070 is in use by pid 4242 (pacer serve); …
 * ```
 */

import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { basename } from "node:path";
import { cutText } from "../foundation/cut_text.ts";
import { errnoOf, PacerError, TemporaryError } from "../foundation/errors.ts";
import { hostPortText } from "../foundation/net/address.ts";

export type Transport = "udp" | "tcp";

/** Who holds a local port: a process when visible, else at least the uid that owns the socket. */
export interface PortHolder {
  readonly uid: number;
  readonly pid?: number;
  /** Its command line, shortened. */
  readonly command?: string;
}

/** /proc/PID directories looked at before giving up on naming a process. */
const MAX_PROCESSES = 10_000;
/** Longest command line quoted in a message. */
const MAX_COMMAND = 60;
/** TCP_LISTEN in /proc/net/tcp's `st` column: for TCP only a listener holds the port. */
const TCP_LISTEN = "0A";

/**
 * The error to throw for a failed bind of `what` (e.g. "control socket") at `at`; `configKey`
 * is the config key that chose the address, for the advice.
 */
export function bindFailure(
  what: string,
  configKey: string,
  transport: Transport,
  at: { readonly host: string; readonly port: number },
  error: unknown,
): Error {
  const prefix = `cannot bind the ${what} on ${hostPortText(at.host, at.port)}`;
  const code = errnoOf(error);
  if (code === "EADDRINUSE") {
    const holder = portHolder(transport, at.port);
    const by = holder === null ? "" : holder.pid === undefined ? ` by a process of uid ${holder.uid}` : ` by pid ${holder.pid}${holder.command ? ` (${holder.command})` : ""}`;
    return new TemporaryError(
      `${prefix}: ${transport.toUpperCase()} port ${at.port} is in use${by}; stop that process, or set ${configKey} to another port`,
    );
  }
  if (code === "EADDRNOTAVAIL") return new PacerError(`${prefix}: ${at.host} is not an address of this host; check ${configKey}`);
  if (code === "EACCES") return new PacerError(`${prefix}: permission denied (ports below 1024 need root); check ${configKey}`);
  return new PacerError(`${prefix}: ${(error as Error).message ?? error}`);
}

/** Who holds local `transport` port `port`, or null when nothing can be found out. Never throws. */
export function portHolder(transport: Transport, port: number): PortHolder | null {
  try {
    const sockets = socketsOnPort(transport, port);
    if (sockets.size === 0) return null;
    const process = processWithSocket(new Set(sockets.keys()));
    const uid = process ? sockets.get(process.inode)! : sockets.values().next().value!;
    return process ? { uid, pid: process.pid, command: process.command } : { uid };
  } catch {
    return null;
  }
}

/** Inodes of the sockets bound to `port` (listening, for TCP), with their owners' uids. */
function socketsOnPort(transport: Transport, port: number): Map<string, number> {
  const found = new Map<string, number>();
  for (const table of [`/proc/net/${transport}`, `/proc/net/${transport}6`]) {
    let text: string;
    try {
      text = readFileSync(table, "utf8");
    } catch {
      continue;
    }
    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode …
    for (const line of text.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10) continue;
      const localPort = Number.parseInt(fields[1]!.split(":")[1] ?? "", 16);
      if (localPort !== port) continue;
      if (transport === "tcp" && fields[3] !== TCP_LISTEN) continue;
      if (fields[9] !== "0") found.set(fields[9]!, Number(fields[7]));
    }
  }
  return found;
}

/** The first process with a descriptor on one of `inodes`. */
function processWithSocket(inodes: Set<string>): { pid: number; inode: string; command: string } | null {
  const pids = readdirSync("/proc").filter((name) => /^\d+$/.test(name)).slice(0, MAX_PROCESSES);
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue; // gone, or another user's
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      if (inode !== undefined && inodes.has(inode)) return { pid: Number(pid), inode, command: commandOf(pid) };
    }
  }
  return null;
}

function commandOf(pid: string): string {
  try {
    const words = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter((w) => w !== "");
    if (words.length > 0) words[0] = basename(words[0]!);
    // An argument may hold newlines (`python3 -c SCRIPT`): the message stays one line.
    const text = words.join(" ").replace(/\s+/g, " ");
    return cutText(text, MAX_COMMAND);
  } catch {
    return "";
  }
}
