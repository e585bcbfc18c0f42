/**
 * The greeting of a live channel (`pacer serve` `[[live]] listen`) to the source that connects,
 * and the source's reply. The server speaks first, one line:
 *
 * ```
 * PACER-LIVE 1 open\n            no key: send the media at once
 * PACER-LIVE 1 key NONCE\n       prove the key: reply with HMAC-SHA256(key, "pacer-live 1 " + NONCE), 32 raw bytes, then the media
 * PACER-LIVE 1 busy\n            another source is live on this channel; the server closes
 * ```
 *
 * After a keyed reply the server answers `ok\n`, or `refused WHY\n` and closes. NONCE is 32 random
 * bytes in hex, new for every connection, so a recorded reply never opens a second one (no replay).
 * A keyless channel takes plain TCP too (`nc`, ffmpeg): the greeting is simply ignored by them.
 *
 * @example
 * ```ts
 * const line = greetingLine({ state: "key", nonce });
 * const reply = liveMac(key, nonce); // what the source sends back
 * ```
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

export const LIVE_GREETING_PREFIX = "PACER-LIVE 1 ";
/** HMAC-SHA256 output. */
export const LIVE_MAC_BYTES = 32;
export const LIVE_NONCE_BYTES = 32;
/** Longest greeting or answer line: a reader stops looking for the newline after this. */
export const LIVE_LINE_MAX = 256;
export const LIVE_OK = "ok\n";

export type Greeting = { state: "open" } | { state: "busy" } | { state: "key"; nonce: string };

export function newNonce(): string {
  return randomBytes(LIVE_NONCE_BYTES).toString("hex");
}

export function greetingLine(greeting: Greeting): string {
  return `${LIVE_GREETING_PREFIX}${greeting.state}${greeting.state === "key" ? ` ${greeting.nonce}` : ""}\n`;
}

/** The greeting in `line` (without its newline), or null when it is none. */
export function parseGreeting(line: string): Greeting | null {
  if (!line.startsWith(LIVE_GREETING_PREFIX)) return null;
  const [state, nonce] = line.slice(LIVE_GREETING_PREFIX.length).split(" ");
  if (state === "open" || state === "busy") return { state };
  if (state === "key" && nonce !== undefined && /^[0-9a-f]{64}$/.test(nonce)) return { state, nonce };
  return null;
}

/** The reply that proves `key` for `nonce`. */
export function liveMac(key: Uint8Array, nonce: string): Uint8Array {
  return createHmac("sha256", key).update(`pacer-live 1 ${nonce}`).digest();
}

/** Whether `reply` proves `key` for `nonce`, in constant time. */
export function verifyLiveMac(key: Uint8Array, nonce: string, reply: Uint8Array): boolean {
  return reply.length === LIVE_MAC_BYTES && timingSafeEqual(liveMac(key, nonce), reply);
}
