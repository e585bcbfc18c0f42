/**
 * Network addresses, the one place that reads them: IP literals (v4 and v6 as 16 bytes), CIDR
 * networks, `HOST:PORT` text, host resolution, and the address classes (loopback, multicast)
 * that sockets and policy decide by. Outputs, inputs, the control server, its clients and the
 * config all parse through here, so they agree on IPv6 brackets and on errors.
 *
 * @example
 * ```ts
 * parseHostPort("[::1]:7070");               // { host: "::1", port: 7070, text: "[::1]:7070" }
 * cidrContains(parseCidr("10.0.0.0/8"), parseIp("10.1.2.3")!); // true
 * ```
 */
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { PacerError, UsageError } from "../errors.ts";

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

/** True if two addresses are the same host; ::ffff:127.0.0.1 equals 127.0.0.1. */
export function sameIp(a: IpAddress, b: IpAddress): boolean {
  return a.bytes.every((byte, i) => byte === b.bytes[i]);
}

/**
 * An address as a key: equal for the same host however it is written (::ffff:127.0.0.1 and
 * 127.0.0.1, 2001:DB8::1 and 2001:db8:0::1), as sameIp judges; the text itself when it is no IP
 * literal. Parsed once, it lets a table find a host's entries without parsing each one again.
 */
export function ipKey(text: string): string {
  const ip = parseIp(text);
  return ip === null ? text : Buffer.from(ip.bytes).toString("hex");
}

/**
 * One spelling per address, where a destination is named: IPv4 (also IPv4-mapped IPv6) as a
 * dotted quad, IPv6 as RFC 5952 writes it (lowercase, the longest run of zeros as `::`), its
 * `%zone` kept; the text itself when it is no IP literal. `::ffff:7f00:1` and `127.0.0.1` are
 * one host, and a server's play must know them as one destination.
 *
 * @example
 * ```ts
 * canonicalIpText("::ffff:127.0.0.1"); // "127.0.0.1"
 * canonicalIpText("2001:DB8:0:0::1"); // "2001:db8::1"
 * ```
 */
export function canonicalIpText(text: string): string {
  const ip = parseIp(text);
  if (ip === null) return text;
  if (ip.v4) return ip.bytes.subarray(12).join(".");
  const zone = text.indexOf("%");
  // WHATWG URL serializes an IPv6 host as RFC 5952 does.
  const host = new URL(`http://[${Buffer.from(ip.bytes).toString("hex").replace(/(.{4})(?!$)/g, "$1:")}]/`).hostname.slice(1, -1);
  return zone >= 0 ? host + text.slice(zone) : host;
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

/** True for localhost, 127.0.0.0/8 and ::1 (also as ::ffff:127.x.y.z). */
export function isLoopbackHost(host: string): boolean {
  if (host.toLowerCase() === "localhost") return true;
  const ip = parseIp(host);
  if (!ip) return false;
  if (ip.v4) return ip.bytes[12] === 127;
  return ip.bytes.every((b, i) => b === (i === 15 ? 1 : 0));
}

/** True for IPv4 224.0.0.0/4 and IPv6 ff00::/8. */
export function isMulticast(address: string): boolean {
  const ip = parseIp(address);
  if (!ip) return false;
  return ip.v4 ? ip.bytes[12]! >= 224 && ip.bytes[12]! <= 239 : ip.bytes[0] === 0xff;
}

// ---------------------------------------------------------------------------------------------
// Host and port text

export interface HostPort {
  /** The host as written, brackets removed; "" for `:PORT` where allowed. */
  readonly host: string;
  readonly port: number;
  /** As written, for messages. */
  readonly text: string;
}

/** The host part of `HOST:PORT` and of endpoint URLs: a bracketed IPv6 literal, or a name or IPv4 without colons. */
export const HOST_PATTERN = String.raw`\[[0-9A-Fa-f:.%\w-]*\]|[^\s:[\]/?@]*`;
const HOST_PORT = new RegExp(`^(${HOST_PATTERN}):(\\d{1,5})$`);

/** Strips the brackets of `[IPV6]`; null when the brackets hold no IPv6 address. */
export function unbracketHost(raw: string): string | null {
  if (!raw.startsWith("[")) return raw;
  const inner = raw.slice(1, -1);
  const ip = parseIp(inner);
  return ip && inner.includes(":") ? inner : null;
}

export interface HostPortOptions {
  /** Accept `:PORT` (listen on every address). */
  allowEmptyHost?: boolean;
  /** Accept port 0 (let the kernel choose), as for a local `source=` address. */
  allowPortZero?: boolean;
}

/**
 * `HOST:PORT` as parseHostPort reads it back: an IPv6 host in brackets (`::1:7070` names no port).
 *
 * @example
 * ```ts
 * hostPortText("::1", 7070); // "[::1]:7070"
 * ```
 */
export function hostPortText(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Parses `HOST:PORT` or `[IPV6]:PORT` (IPv6 needs its brackets); null when it is not one. */
export function parseHostPort(text: string, options: HostPortOptions = {}): HostPort | null {
  const m = HOST_PORT.exec(text);
  if (!m) return null;
  const host = unbracketHost(m[1]!);
  const port = Number(m[2]);
  if (host === null) return null;
  if (port > 65_535 || (port === 0 && !options.allowPortZero)) return null;
  if (host === "" && !options.allowEmptyHost) return null;
  return { host, port, text };
}

/** {@link parseHostPort}, or a UsageError naming `what` (an option or key) and the expected form. */
export function requireHostPort(text: string, what: string, options: HostPortOptions = {}): HostPort {
  const parsed = parseHostPort(text, options);
  if (!parsed) throw new UsageError(`${what} "${text}": expected ADDR:PORT (IPv6 as [ADDR]:PORT)`);
  return parsed;
}

/** Resolves a host name to one address; a PacerError (exit 1) if it cannot. */
export async function resolveHost(host: string): Promise<{ address: string; family: 4 | 6 }> {
  const literal = isIP(host);
  if (literal) return { address: host, family: literal as 4 | 6 };
  try {
    const { address, family } = await lookup(host);
    return { address, family: family as 4 | 6 };
  } catch {
    throw new PacerError(`cannot resolve host "${host}"`);
  }
}
