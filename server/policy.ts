/**
 * What `pacer serve` lets a control request touch (DESIGN.md, "Policy"):
 * - media names resolve inside the media root, symlinks included, or are `forbidden`;
 * - a stream goes only to the requester's own IP address, or into an `allow_destinations` network;
 * - never to the server's own ports (control, HTTP, live) on this host: a stream into its own
 *   control socket would flood the server with itself.
 *
 * @example
 * ```ts
 * const media = await resolveMediaPath("./media", args.name);
 * if (!media.ok) return errorReply(req.id, media.code, media.message);
 * if (!destinationAllowed("10.0.0.5", rinfo.address, config.allowDestinations)) {
 *   return errorReply(req.id, "forbidden", "destination 10.0.0.5 is not the requester's address");
 * }
 * ```
 */

import { closeSync, fstatSync } from "node:fs";
import { realpath, stat } from "node:fs/promises";
import { networkInterfaces } from "node:os";
import { isAbsolute, join } from "node:path";
import { errnoOf } from "../foundation/errors.ts";
import { codeText, fsErrorText, isShortage, shortageOf } from "../foundation/fs_error.ts";
import { currentUserName } from "../foundation/user_name.ts";
import { BeneathError, liesBeneath, openBeneath } from "../foundation/open_beneath.ts";
import { type Cidr, cidrContains, isLoopbackHost, type IpAddress, parseCidr, parseIp, sameIp } from "../foundation/net/address.ts";

export type MediaPathResult =
  | { readonly ok: true; readonly path: string }
  | { readonly ok: false; readonly code: MediaRefusal; readonly message: string };

/** Why a media name cannot be played: not_available while the server is short of descriptors or memory. */
export type MediaRefusal = "forbidden" | "not_found" | "not_available";

/**
 * Resolves a client-supplied media `name` to a real path inside `root`. Names that are absolute,
 * contain a `..` segment or a NUL byte are refused before touching the disk; everything else is
 * resolved with realpath (the root too), and a result outside the root — a symlink out — is
 * `forbidden`. The returned path has no symlinks left; open it, not the name, so that the check
 * and the open see the same file (a directory swapped in between can still race; keep the media
 * root writable only by its owner).
 *
 * @example
 * ```ts
 * await resolveMediaPath("/srv/media", "news/evening.ts"); // { ok: true, path: "/srv/media/news/evening.ts" }
 * await resolveMediaPath("/srv/media", "../../etc/passwd"); // { ok: false, code: "forbidden", … }
 * ```
 */
export async function resolveMediaPath(root: string, name: string): Promise<MediaPathResult> {
  const forbidden = (why: string): MediaPathResult => ({
    ok: false,
    code: "forbidden",
    message: `media name ${JSON.stringify(name)} ${why}; name a file inside the media root`,
  });
  if (name.length === 0) return forbidden("is empty");
  if (name.includes("\0")) return forbidden("contains a NUL byte");
  if (isAbsolute(name)) return forbidden("is an absolute path");
  if (name.split(/[\\/]/).includes("..")) return forbidden("contains ..");

  let realRoot: string;
  try {
    realRoot = await realpath(root);
  } catch (e) {
    if (isShortage(e)) return mediaShortage(name, e);
    return { ok: false, code: "not_found", message: `media root ${root} is unavailable (${errnoOf(e)}); check media_root in the config` };
  }
  let real: string;
  try {
    real = await realpath(join(realRoot, name));
  } catch (e) {
    const code = errnoOf(e);
    if (code === "ENOENT" || code === "ENOTDIR") {
      return { ok: false, code: "not_found", message: `media ${JSON.stringify(name)} not found in the media root` };
    }
    if (code === "EACCES") return { ok: false, code: "forbidden", message: unreadable(name) };
    if (isShortage(e)) return mediaShortage(name, e);
    return forbidden(`cannot be resolved (${fsErrorText(e)})`);
  }
  // The root itself is no file, not somewhere outside it.
  if (real === realRoot) return forbidden("is the media root itself, not a file in it");
  if (!liesBeneath(realRoot, real)) return forbidden("resolves outside the media root");
  // A FIFO or a device would be read as a stream that never ends, holding a job (and a file
  // descriptor) for as long as a writer keeps it open: the server plays stored files only.
  const kind = await stat(real).catch(() => null);
  if (!kind?.isFile()) return forbidden("is not a regular file");
  return { ok: true, path: real };
}

export type OpenedMedia =
  | { readonly ok: true; readonly path: string; readonly openPath: string; readonly fd: number; close(): void }
  | { readonly ok: false; readonly code: MediaRefusal; readonly message: string };

/**
 * The server is short of descriptors or memory (EMFILE at its LimitNOFILE): no fault of the name.
 * It was `forbidden`, "name a file inside the media root", or the media root "unavailable", which
 * sent a client, or the operator, looking for a fault in the name or the config.
 */
export function mediaShortage(name: string, e: unknown): MediaPathResult & { ok: false } {
  return { ok: false, code: "not_available", message: `media ${JSON.stringify(name)} cannot be opened now: ${serverShortage(e)}; try again once a stream ends` };
}

/** What the server is short of, in words, for `error` (isShortage): its descriptor limit named where that is it. */
export function serverShortage(error: unknown): string {
  const code = shortageOf(error) ?? "";
  return code === "EMFILE" ? "the server has too many open files (EMFILE), its descriptor limit (LimitNOFILE, ulimit -n)" : `the server is short of resources: ${codeText(code)}`;
}

/** A media file (or a folder on its way) the server's user may not read: the fix is its permissions, not its name. */
function unreadable(name: string): string {
  return `media ${JSON.stringify(name)} cannot be read: permission denied to the server's user (${serverUser()}); make it readable by that user`;
}

/** The name of the user the server runs as (after dropping root), or its uid. */
function serverUser(): string {
  return currentUserName() ?? `uid ${process.getuid?.()}`;
}

/**
 * resolveMediaPath, then the file itself held open beneath the root (foundation/open_beneath.ts:
 * openat2 RESOLVE_BENEATH, or the descriptor's own path checked), so a symlink swapped in after
 * the check cannot lead the open out of the root. Open `openPath` (/proc/self/fd/N: the file the
 * descriptor holds) while it is held, then `close()`; `path` names it for keys and logs.
 */
export async function openMediaFile(root: string, name: string): Promise<OpenedMedia> {
  const resolved = await resolveMediaPath(root, name);
  if (!resolved.ok) return resolved;
  let fd: number;
  try {
    fd = openBeneath(await realpath(root), name);
  } catch (e) {
    if (e instanceof BeneathError && e.reason === "missing") return { ok: false, code: "not_found", message: `media ${JSON.stringify(name)} not found in the media root` };
    if (e instanceof BeneathError && e.reason === "denied") return { ok: false, code: "forbidden", message: unreadable(name) };
    if (isShortage(e)) return mediaShortage(name, e);
    return { ok: false, code: "forbidden", message: `media name ${JSON.stringify(name)} ${e instanceof BeneathError && e.reason === "escapes" ? "resolves outside the media root" : `cannot be opened (${e instanceof BeneathError ? e.why : fsErrorText(e)})`}; name a file inside the media root` };
  }
  if (!fstatSync(fd).isFile()) {
    closeSync(fd);
    return { ok: false, code: "forbidden", message: `media name ${JSON.stringify(name)} is not a regular file; name a file inside the media root` };
  }
  return { ok: true, path: resolved.path, openPath: `/proc/self/fd/${fd}`, fd, close: () => closeSync(fd) };
}

/**
 * The key per-source limits count under. An IPv4 host (also when written as ::ffff:a.b.c.d) is
 * itself. A global unicast IPv6 address (2000::/3) counts by its /64, the block one site or one
 * customer line gets, since a single host can send from any of its 2^64 addresses, except Teredo
 * (2001::/32), whose /64s hold every client of a relay. Every other address (loopback, link-local
 * with its zone, unique local, NAT64's 64:ff9b::/96, IPv4-compatible ::a.b.c.d) is itself, so
 * unrelated hosts never share a limit. Text that is not an address is its own key.
 *
 * @example
 * ```ts
 * sourceKey("2001:db8:1:2:aaaa::1"); // "2001:db8:1:2::/64"
 * sourceKey("::ffff:10.0.0.1");      // "10.0.0.1"
 * sourceKey("fe80::1%eth0");         // "fe80:0:0:0:0:0:0:1%eth0"
 * ```
 */
export function sourceKey(address: string): string {
  const ip = parseIp(address);
  if (!ip) return address;
  const b = ip.bytes;
  if (ip.v4) return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  const globalUnicast = (b[0]! & 0xe0) === 0x20;
  const teredo = b[0] === 0x20 && b[1] === 0x01 && b[2] === 0 && b[3] === 0;
  if (globalUnicast && !teredo) return `${groups.slice(0, 4).join(":")}::/64`;
  const zone = address.indexOf("%");
  return groups.join(":") + (zone >= 0 ? address.slice(zone).replace(/\]$/, "") : "");
}


/**
 * True if a stream may go to `destHost`: it is the requester's own IP address (any port), or it lies
 * in one of `allowNetworks` (CIDR text as in the config's `allow_destinations`, or parsed Cidrs).
 * `destHost` must be an IP literal: resolve hostnames first, and check every address you will send
 * to — a hostname is refused here, so a DNS answer can never widen the policy. A malformed network
 * entry matches nothing (the config loader rejects them up front).
 */
export function destinationAllowed(
  destHost: string,
  requesterIp: string,
  allowNetworks: readonly (string | Cidr)[],
): boolean {
  const dest = parseIp(destHost);
  if (!dest) return false;
  const requester = parseIp(requesterIp);
  if (requester && sameIp(dest, requester)) return true;
  for (const network of allowNetworks) {
    let cidr: Cidr;
    try {
      cidr = typeof network === "string" ? parseCidr(network) : network;
    } catch {
      continue;
    }
    if (cidrContains(cidr, dest)) return true;
  }
  return false;
}

/** A port the server itself listens on, named for messages ("control", "HTTP", "live studio"). */
export interface OwnPort {
  readonly port: number;
  readonly what: string;
  /** The multicast group it receives on (a live input's, a recording's): a stream to the group there reaches it too. */
  readonly group?: string;
}

/**
 * The server's own port that a stream to `destHost`:`port` would reach, if any: the port is one of
 * `own`, and the address is this host's (loopback, the unspecified address, or an address of one
 * of its interfaces), or the multicast group that port receives on. `destHost` must be an IP literal, resolved as for destinationAllowed.
 *
 * @example
 * ```ts
 * ownPortAt("127.0.0.1", 7070, [{ port: 7070, what: "control" }]); // { port: 7070, what: "control" }
 * ownPortAt("192.0.2.9", 7070, [{ port: 7070, what: "control" }]); // undefined (another host)
 * ownPortAt("239.1.1.1", 5000, [{ port: 5000, what: "x", group: "239.1.1.1" }]); // found (the group it receives)
 * ```
 */
export function ownPortAt(destHost: string, port: number, own: readonly OwnPort[]): OwnPort | undefined {
  const dest = parseIp(destHost);
  if (!dest) return undefined;
  for (const p of own) {
    if (p.port !== port) continue;
    const group = p.group === undefined ? null : parseIp(p.group);
    if (group ? sameIp(group, dest) : isThisHost(destHost, dest)) return p;
  }
  return undefined;
}

/** Loopback, unspecified (which the kernel delivers here), or an interface address of this host. */
function isThisHost(text: string, ip: IpAddress): boolean {
  const unspecified = (ip.v4 ? ip.bytes.subarray(12) : ip.bytes).every((b) => b === 0);
  if (unspecified || isLoopbackHost(text)) return true;
  for (const addresses of Object.values(networkInterfaces())) {
    for (const a of addresses ?? []) {
      const local = parseIp(a.address);
      if (local && sameIp(local, ip)) return true;
    }
  }
  return false;
}
