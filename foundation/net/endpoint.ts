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
import { UsageError } from "../errors.ts";
import { HOST_PATTERN, unbracketHost } from "./address.ts";

export interface Endpoint {
  scheme: string;
  /** Host as written, brackets removed; "" for `@:PORT` listen forms. */
  host: string;
  port: number;
  /** True for the receive form `scheme://@host:port`. */
  listen: boolean;
  params: URLSearchParams;
}

const ENDPOINT = new RegExp(`^([a-z][a-z0-9+.-]*)://(@)?(${HOST_PATTERN})(?::(\\d+))?/?(?:\\?(.*))?$`, "i");

export function parseEndpoint(text: string, allowedParams?: readonly string[]): Endpoint {
  const m = ENDPOINT.exec(text);
  if (!m) throw new UsageError(`malformed address "${text}": expected SCHEME://HOST:PORT`);
  const [, scheme, at, rawHost, portText, query] = m;
  const host = unbracketHost(rawHost!);
  if (host === null) throw new UsageError(`"${text}": brackets hold an IPv6 address, like [::1]`);
  if (portText === undefined) throw new UsageError(`"${text}": a port is required`);
  const port = Number(portText);
  if (!(port >= 1 && port <= 65535)) throw new UsageError(`"${text}": port must be 1 to 65535`);
  if (!host && !at) throw new UsageError(`"${text}": a host is required`);
  const params = new URLSearchParams(query ?? "");
  // Which of two would win is a guess the user did not mean to leave to us (`pkt=1&pkt=2`).
  const keys = [...params.keys()];
  const twice = keys.find((key, i) => keys.indexOf(key) !== i);
  if (twice !== undefined) throw new UsageError(`"${text}": option "${twice}" is given twice`);
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
