/**
 * What `pacer serve` lets a control request touch (DESIGN.md, "Policy"):
 * - media names resolve inside the media root, symlinks included, or are `forbidden`;
 * - a stream goes only to the requester's own IP address, or into an `allow_destinations` network.
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

import { realpath } from "node:fs/promises";
import { isAbsolute, join, sep } from "node:path";
import { errnoOf } from "../cli/errors.ts";

export type MediaPathResult =
  | { readonly ok: true; readonly path: string }
  | { readonly ok: false; readonly code: "forbidden" | "not_found"; readonly message: string };

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
    return forbidden(`cannot be resolved (${code})`);
  }
  const inside = realRoot === sep ? real !== sep : real.startsWith(realRoot + sep);
  if (!inside) return forbidden("resolves outside the media root");
  return { ok: true, path: real };
}

// ---------------------------------------------------------------------------------------------
// Addresses and networks

/** An IP address as 16 bytes; IPv4 is kept in its IPv4-mapped IPv6 form (::ffff:a.b.c.d). */
export interface IpAddress {
  readonly v4: boolean;
  readonly bytes: Uint8Array;
}

export interface Cidr {
  readonly address: IpAddress;
  /** Prefix length over the 16-byte form: an IPv4 /8 is 96 + 8 = 104. */
  readonly prefix128: number;
  /** As written, for messages. */
  readonly text: string;
}

/** Thrown by parseCidr; the message names the entry and the expected form. */
export class CidrError extends Error {
  override name = "CidrError";
}

const V4_MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];
const V4_MAPPED_BITS = 96;

function parseIpv4Into(text: string, out: Uint8Array, offset: number): boolean {
  const parts = text.split(".");
  if (parts.length !== 4) return false;
  for (let i = 0; i < 4; i++) {
    const part = parts[i]!;
    // No leading zeros: "010" is octal to some parsers and decimal to others.
    if (!/^(0|[1-9]\d{0,2})$/.test(part)) return false;
    const n = Number(part);
    if (n > 255) return false;
    out[offset + i] = n;
  }
  return true;
}

function parseIpv6(text: string): Uint8Array | null {
  const out = new Uint8Array(16);
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const parseGroups = (s: string): number[] | null => {
    if (s === "") return [];
    const groups: number[] = [];
    const parts = s.split(":");
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      if (i === parts.length - 1 && part.includes(".")) {
        const v4 = new Uint8Array(4);
        if (!parseIpv4Into(part, v4, 0)) return null;
        groups.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(part)) {
        groups.push(parseInt(part, 16));
      } else {
        return null;
      }
    }
    return groups;
  };
  const head = parseGroups(halves[0]!);
  const tail = halves.length === 2 ? parseGroups(halves[1]!) : [];
  if (!head || !tail) return null;
  const total = head.length + tail.length;
  if (halves.length === 1 ? total !== 8 : total > 7) return null;
  const groups = [...head, ...new Array<number>(8 - total).fill(0), ...tail];
  groups.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

function isV4Mapped(bytes: Uint8Array): boolean {
  return V4_MAPPED_PREFIX.every((b, i) => bytes[i] === b);
}

/**
 * Parses an IP address literal: IPv4 dotted quad, or IPv6 (optionally in brackets, optionally with a
 * `%zone`, which is ignored). IPv4-mapped IPv6 (::ffff:127.0.0.1) becomes plain IPv4. Returns null
 * for anything else, hostnames included.
 */
export function parseIp(text: string): IpAddress | null {
  let s = text.trim();
  if (s.startsWith("[") && s.endsWith("]")) s = s.slice(1, -1);
  const zone = s.indexOf("%");
  if (zone >= 0) s = s.slice(0, zone);
  const bytes = new Uint8Array(16);
  if (parseIpv4Into(s, bytes, 12)) {
    bytes.set(V4_MAPPED_PREFIX);
    return { v4: true, bytes };
  }
  if (!s.includes(":")) return null;
  const v6 = parseIpv6(s);
  if (!v6) return null;
  return { v4: isV4Mapped(v6), bytes: v6 };
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

/** True if two addresses are the same host; ::ffff:127.0.0.1 equals 127.0.0.1. */
export function sameIp(a: IpAddress, b: IpAddress): boolean {
  return a.bytes.every((byte, i) => byte === b.bytes[i]);
}

/**
 * Parses `ADDRESS/PREFIX` (IPv4 or IPv6), or a bare address meaning that one host.
 * Host bits below the prefix are ignored (10.1.2.3/8 is 10.0.0.0/8).
 *
 * @example
 * ```ts
 * cidrContains(parseCidr("10.0.0.0/8"), parseIp("10.20.30.40")!); // true
 * cidrContains(parseCidr("2001:db8::/32"), parseIp("2001:db8::1")!); // true
 * ```
 */
export function parseCidr(text: string): Cidr {
  const slash = text.indexOf("/");
  const addressText = slash >= 0 ? text.slice(0, slash) : text;
  const address = parseIp(addressText);
  if (!address || addressText.includes("%")) {
    throw new CidrError(`"${text}" is not a network; write it as 10.0.0.0/8 or 2001:db8::/32`);
  }
  // A v4 network written as mapped IPv6 (::ffff:10.0.0.0/104) counts its prefix over 128 bits already.
  const mappedV6 = address.v4 && addressText.includes(":");
  const max = address.v4 && !mappedV6 ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const prefixText = text.slice(slash + 1);
    prefix = Number(prefixText);
    if (!/^\d{1,3}$/.test(prefixText) || prefix > max) {
      throw new CidrError(`"${text}": the prefix length must be a whole number from 0 to ${max}`);
    }
  }
  if (mappedV6 && slash >= 0 && prefix < V4_MAPPED_BITS) {
    throw new CidrError(`"${text}": an IPv4-mapped network needs a prefix of at least ${V4_MAPPED_BITS}`);
  }
  const prefix128 = address.v4 && !mappedV6 ? V4_MAPPED_BITS + prefix : slash >= 0 ? prefix : 128;
  return { address, prefix128, text };
}

/** True if `ip` lies inside `cidr`. */
export function cidrContains(cidr: Cidr, ip: IpAddress): boolean {
  // A v6 network never holds a v4 host and vice versa, so ::/0 does not open all of IPv4.
  if (cidr.address.v4 !== ip.v4) return false;
  let bits = cidr.prefix128;
  for (let i = 0; i < 16 && bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((cidr.address.bytes[i]! & mask) !== (ip.bytes[i]! & mask)) return false;
  }
  return true;
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
