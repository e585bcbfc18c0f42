/**
 * Network endpoint URLs: `SCHEME://HOST:PORT?key=value...`, for outputs
 * (rtp://, udp://) and inputs (udp://@GROUP:PORT). IPv6 hosts go in
 * brackets. This is the one place that turns those URLs into addresses.
 *
 * @example
 * ```ts
 * const e = parseEndpoint("rtp://[ff02::1]:5004?ttl=4");
 * e.host; // "ff02::1"
 * e.params.get("ttl"); // "4"
 * ```
 */
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { PacerError, UsageError } from "../../cli/errors.ts";

export interface Endpoint {
  scheme: string;
  /** Host as written, brackets removed; "" for `@:PORT` listen forms. */
  host: string;
  port: number;
  /** True for the receive form `scheme://@host:port`. */
  listen: boolean;
  params: URLSearchParams;
}

export function parseEndpoint(text: string, allowedParams?: readonly string[]): Endpoint {
  const m = /^([a-z][a-z0-9+.-]*):\/\/(@)?(\[[^\]]*\]|[^/?:@]*)(?::(\d+))?\/?(?:\?(.*))?$/i.exec(text);
  if (!m) throw new UsageError(`malformed address "${text}": expected SCHEME://HOST:PORT`);
  const [, scheme, at, rawHost, portText, query] = m;
  const host = rawHost!.startsWith("[") ? rawHost!.slice(1, -1) : rawHost!;
  if (portText === undefined) throw new UsageError(`"${text}": a port is required`);
  const port = Number(portText);
  if (!(port >= 1 && port <= 65535)) throw new UsageError(`"${text}": port must be 1 to 65535`);
  if (!host && !at) throw new UsageError(`"${text}": a host is required`);
  const params = new URLSearchParams(query ?? "");
  if (allowedParams) {
    for (const key of params.keys()) {
      if (!allowedParams.includes(key)) {
        throw new UsageError(`"${text}": unknown option "${key}" (known: ${allowedParams.join(", ")})`);
      }
    }
  }
  return { scheme: scheme!.toLowerCase(), host, port, listen: at !== undefined, params };
}

/** An integer URL option within [min, max], or the default; a UsageError names it otherwise. */
export function intParam(e: Endpoint, key: string, min: number, max: number, fallback: number): number;
export function intParam(e: Endpoint, key: string, min: number, max: number): number | undefined;
export function intParam(e: Endpoint, key: string, min: number, max: number, fallback?: number): number | undefined {
  const raw = e.params.get(key);
  if (raw === null) return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < min || value > max) {
    throw new UsageError(`${e.scheme}:// option ${key}=${raw}: must be a whole number from ${min} to ${max}`);
  }
  return value;
}

/** `ADDR:PORT` (or `[ADDR]:PORT`) for the `source=` option. */
export function parseHostPort(text: string, what: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(text);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !(port >= 0 && port <= 65535)) throw new UsageError(`${what} "${text}": expected ADDR:PORT`);
  const host = m[1]!.startsWith("[") ? m[1]!.slice(1, -1) : m[1]!;
  return { host, port };
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

export function isMulticast(address: string): boolean {
  if (isIP(address) === 6) return address.toLowerCase().startsWith("ff");
  const first = Number(address.split(".")[0]);
  return first >= 224 && first <= 239;
}
