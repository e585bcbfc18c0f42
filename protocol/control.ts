/**
 * The control message codec of `pacer serve` and `pacer ctl` (DESIGN.md, "Control protocol").
 *
 * ```
 * request datagram (≤ 1400 bytes):
 *   {"v":1,"id":"…","ts":<unix ms>,"op":"…","args":{…}}      UTF-8 JSON body
 *   \n<64 lowercase hex digits>                               HMAC-SHA256(key, body bytes), only with a key
 * reply datagram (≤ 1400 bytes, never MACed):
 *   {"v":1,"id":…,"ok":true,"result":…}
 *   {"v":1,"id":…,"ok":false,"error":{"code":…,"message":…}}
 * ```
 *
 * Pure functions: no sockets, no clock (the caller passes `nowMs`). Decoding never throws, so
 * anything a network peer sends ends in a result the server can count or answer.
 *
 * Padding: a request may carry an optional top-level `"pad"` string, which the server ignores.
 * It exists for the anti-reflection rule — a reply to an unauthenticated source is never larger
 * than its request — so a client without a key that wants a large reply (a `status` page) pads
 * its request up to the reply size it expects (`encodeRequest(req, undefined, { padTo: 1400 })`).
 *
 * @example
 * ```ts
 * const key = new TextEncoder().encode("0123456789abcdef0123456789abcdef");
 * const bytes = encodeRequest({ v: 1, id: "c1-7", ts: Date.now(), op: "ping", args: {} }, key);
 * const got = decodeRequest(bytes, key, Date.now());
 * if (got.ok) {
 *   const reply = encodeReply({ v: 1, id: got.req.id, ok: true, result: { pong: true } });
 *   decodeReply(reply); // { ok: true, reply: { v: 1, id: "c1-7", ok: true, result: { pong: true } } }
 * }
 * ```
 */

import { createHmac, timingSafeEqual } from "node:crypto";

/** Largest request or reply datagram, in bytes. */
export const MAX_DATAGRAM = 1400;
/** Where `pacer serve` listens for control requests, and where its clients send them, unless told otherwise. */
export const DEFAULT_CONTROL_ADDRESS = "127.0.0.1:7070";
/** A repeated id from the same source within this window gets the same reply. */
export const DEDUP_WINDOW_MS = 60_000;
/** A request whose `ts` is further than this from the server's clock is stale. */
export const FRESHNESS_MS = 30_000;
/** Longest request id, in characters (Unicode code points). */
export const MAX_ID = 64;
/** Protocol version carried in `v`. */
export const PROTOCOL_VERSION = 1;
/** A `play` source naming a live channel (`live:NAME`), not a media file: it takes no start or offset. */
export const LIVE_PREFIX = "live:";

/** HMAC-SHA256 digest length: 32 bytes, 64 hex digits. */
const MAC_HEX_LENGTH = 64;
const MAC_SUFFIX = /^[0-9a-f]{64}$/;
const NEWLINE = 0x0a;
/** The keys a request body may carry; any other key is a bad_request (catches client typos). */
const REQUEST_KEYS = new Set(["v", "id", "ts", "op", "args", "pad"]);

export const OPS = [
  "ping",
  "status",
  "play",
  "stop",
  "interest",
  "list",
  "queue",
  "pause",
  "resume",
  "cancel",
  "clear",
  "record",
  "reload",
] as const;
export type Op = (typeof OPS)[number];

export const ERROR_CODES = [
  "bad_request",
  "unknown_op",
  "stale",
  "forbidden",
  "not_found",
  "limit",
  "too_large",
  "not_available",
  "internal",
  "busy",
  /** `reload`: the config (or its key file) is invalid; the message is its one-line error. */
  "invalid_config",
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** Why a request was dropped without a reply; the server counts these. */
export type DropReason = "oversize" | "missing_mac" | "bad_mac" | "stale";

export interface ControlRequest {
  readonly v: 1;
  /** Chosen by the client, 1 to MAX_ID characters; the dedup key together with the source. */
  readonly id: string;
  /** Client clock, Unix ms. */
  readonly ts: number;
  readonly op: Op;
  readonly args: Readonly<Record<string, unknown>>;
}

export interface ControlError {
  readonly code: ErrorCode;
  readonly message?: string;
}

/** `id` is null when the request was too broken to carry a usable id. */
export type ControlReply =
  | { readonly v: 1; readonly id: string | null; readonly ok: true; readonly result: unknown }
  | { readonly v: 1; readonly id: string | null; readonly ok: false; readonly error: ControlError };

/** A request to drop without a reply; the server counts `reason`. */
export interface RequestDrop {
  readonly ok: false;
  readonly drop: true;
  readonly reason: DropReason;
  readonly message: string;
}

/** A request to answer with `errorReply(id, code, message)`. */
export interface RequestRefusal {
  readonly ok: false;
  readonly drop: false;
  readonly id: string | null;
  readonly code: ErrorCode;
  readonly message: string;
}

export type DecodeRequestResult =
  | { readonly ok: true; readonly req: ControlRequest; readonly authenticated: boolean }
  | RequestDrop
  | RequestRefusal;

export type DecodeReplyResult =
  | { readonly ok: true; readonly reply: ControlReply }
  | { readonly ok: false; readonly message: string };

/** Thrown by the encoders for a request the protocol cannot carry; fix the caller. */
export class ControlEncodeError extends Error {
  override name = "ControlEncodeError";
}

export interface EncodeRequestOptions {
  /** Pad the datagram with a `pad` field up to this many bytes (≤ MAX_DATAGRAM); default: no padding. */
  readonly padTo?: number;
}

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** True if `op` is one of OPS. */
export function isOp(op: unknown): op is Op {
  return typeof op === "string" && (OPS as readonly string[]).includes(op);
}

function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === "string" && (ERROR_CODES as readonly string[]).includes(code);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Code points, not UTF-16 units, so an id of 64 emoji is as valid as 64 letters. */
function charLength(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

function isValidId(id: unknown): id is string {
  return typeof id === "string" && id.length > 0 && charLength(id) <= MAX_ID;
}

function macHex(key: Uint8Array, body: Uint8Array): string {
  return createHmac("sha256", key).update(body).digest("hex");
}

/**
 * Encodes a request, appending `\n` + HMAC when `key` is given.
 * Throws ControlEncodeError if the id is invalid or the datagram would exceed MAX_DATAGRAM.
 *
 * @example
 * ```ts
 * encodeRequest({ v: 1, id: "a", ts: Date.now(), op: "stop", args: { job: "job-12" } });
 * ```
 */
export function encodeRequest(req: ControlRequest, key?: Uint8Array, options: EncodeRequestOptions = {}): Uint8Array {
  if (!isValidId(req.id)) {
    throw new ControlEncodeError(`request id must be 1 to ${MAX_ID} characters, got ${JSON.stringify(req.id)}`);
  }
  const macBytes = key ? 1 + MAC_HEX_LENGTH : 0;
  const plain = { v: PROTOCOL_VERSION, id: req.id, ts: req.ts, op: req.op, args: req.args };
  let bodyText = JSON.stringify(plain);
  const padTo = Math.min(options.padTo ?? 0, MAX_DATAGRAM);
  // `,"pad":""` is 9 bytes; only pad when there is room for the field itself.
  const padRoom = padTo - macBytes - utf8.encode(bodyText).length - 9;
  if (padRoom >= 0) bodyText = JSON.stringify({ ...plain, pad: " ".repeat(padRoom) });
  const body = utf8.encode(bodyText);
  const total = body.length + macBytes;
  if (total > MAX_DATAGRAM) {
    throw new ControlEncodeError(
      `request "${req.op}" is ${total} bytes; the limit is ${MAX_DATAGRAM} — shorten its args`,
    );
  }
  if (!key) return body;
  const out = new Uint8Array(total);
  out.set(body);
  out[body.length] = NEWLINE;
  out.set(utf8.encode(macHex(key, body)), body.length + 1);
  return out;
}

/** Splits a datagram at its last `\n` when what follows looks like a MAC. */
function splitMac(bytes: Uint8Array): { body: Uint8Array; mac: string | null } {
  const nl = bytes.length - MAC_HEX_LENGTH - 1;
  if (nl >= 0 && bytes[nl] === NEWLINE) {
    const suffix = String.fromCharCode(...bytes.subarray(nl + 1));
    if (MAC_SUFFIX.test(suffix)) return { body: bytes.subarray(0, nl), mac: suffix };
  }
  return { body: bytes, mac: null };
}

function macMatches(key: Uint8Array, body: Uint8Array, macText: string): boolean {
  const expected = createHmac("sha256", key).update(body).digest();
  const got = Buffer.from(macText, "hex");
  return got.length === expected.length && timingSafeEqual(got, expected);
}

function drop(reason: DropReason, message: string): RequestDrop {
  return { ok: false, drop: true, reason, message };
}

function refuse(id: string | null, code: ErrorCode, message: string): RequestRefusal {
  return { ok: false, drop: false, id, code, message };
}

/**
 * A request datagram's envelope, opened: its body, with the MAC split off and, with a key, checked.
 * The server opens it once, as the datagram arrives, and decodes the body later (decodeBody).
 */
export type Envelope =
  | {
      readonly ok: true;
      /** The JSON body without the MAC line. */
      readonly body: Uint8Array;
      /** The MAC in lowercase hex, when the datagram carried one (checked only with a key). */
      readonly mac: string | null;
      /** The MAC was checked under the server's key: true on a keyed server, false without a key. */
      readonly authenticated: boolean;
    }
  | RequestDrop
  | RequestRefusal;

/**
 * Opens a request datagram, cheap enough to run as it arrives: its size, and with a key its MAC.
 * With a key, an oversize datagram or a missing or wrong MAC is a drop (count `reason`); without
 * one, an oversize datagram is a `too_large` refusal and a trailing MAC is split off unchecked.
 * Never throws.
 *
 * @example
 * ```ts
 * const opened = openEnvelope(datagram, key); // { ok: false, drop: true, reason: "bad_mac", … }
 * if (opened.ok) decodeBody(opened.body, opened.authenticated, Date.now());
 * ```
 */
export function openEnvelope(bytes: Uint8Array, key: Uint8Array | undefined): Envelope {
  if (bytes.length > MAX_DATAGRAM) {
    const message = `request is ${bytes.length} bytes; the limit is ${MAX_DATAGRAM}`;
    return key ? drop("oversize", message) : refuse(null, "too_large", message);
  }
  const { body, mac } = splitMac(bytes);
  if (!key) return { ok: true, body, mac, authenticated: false };
  if (mac === null) return drop("missing_mac", "request has no MAC but the server has a key");
  if (!macMatches(key, body, mac)) return drop("bad_mac", "request MAC does not match the server's key");
  return { ok: true, body, mac, authenticated: true };
}

/**
 * Decodes and validates one request datagram (openEnvelope, then decodeBody). Never throws.
 *
 * With a key, every request must be authenticated: a missing or wrong MAC, an oversize datagram or
 * a stale `ts` is a drop (no reply, count `reason`). Without a key, a trailing MAC is ignored and
 * those cases are error replies instead. An unknown op is always an error reply (`unknown_op`).
 *
 * @example
 * ```ts
 * const r = decodeRequest(datagram, key, Date.now());
 * if (!r.ok && r.drop) counters[r.reason]++;
 * else if (!r.ok) send(encodeReply(errorReply(r.id, r.code, r.message)));
 * ```
 */
export function decodeRequest(bytes: Uint8Array, key: Uint8Array | undefined, nowMs: number): DecodeRequestResult {
  const opened = openEnvelope(bytes, key);
  return opened.ok ? decodeBody(opened.body, opened.authenticated, nowMs) : opened;
}

/**
 * Decodes the body of an opened envelope. `authenticated` is the envelope's: a stale authenticated
 * request is dropped, a stale unauthenticated one answered with `stale`. Never throws.
 *
 * @example
 * ```ts
 * const body = new TextEncoder().encode('{"v":1,"id":"a","ts":0,"op":"ping","args":{}}');
 * decodeBody(body, false, Date.now()); // { ok: false, drop: false, id: "a", code: "stale", … }
 * ```
 */
export function decodeBody(body: Uint8Array, authenticated: boolean, nowMs: number): DecodeRequestResult {
  let text: string;
  try {
    text = strictUtf8.decode(body);
  } catch {
    return refuse(null, "bad_request", "request is not valid UTF-8");
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return refuse(null, "bad_request", "request is not valid JSON");
  }
  if (!isPlainObject(parsed)) return refuse(null, "bad_request", "request must be a JSON object");

  const id = isValidId(parsed.id) ? parsed.id : null;
  if (parsed.v !== PROTOCOL_VERSION) {
    return refuse(id, "bad_request", `unsupported protocol version ${JSON.stringify(parsed.v) ?? "(missing)"}; this server speaks v 1`);
  }
  if (id === null) return refuse(null, "bad_request", `"id" must be a string of 1 to ${MAX_ID} characters`);
  for (const k of Object.keys(parsed)) {
    if (!REQUEST_KEYS.has(k)) return refuse(id, "bad_request", `unknown field "${k.slice(0, MAX_ID)}" in request`);
  }
  const { ts, op, args, pad } = parsed;
  if (typeof ts !== "number" || !Number.isFinite(ts)) return refuse(id, "bad_request", `"ts" must be Unix time in ms`);
  if (typeof op !== "string") return refuse(id, "bad_request", `"op" must be a string`);
  if (!isPlainObject(args)) return refuse(id, "bad_request", `"args" must be a JSON object`);
  if (pad !== undefined && typeof pad !== "string") return refuse(id, "bad_request", `"pad" must be a string`);

  if (Math.abs(nowMs - ts) > FRESHNESS_MS) {
    const message = `request ts is ${Math.round((nowMs - ts) / 1000)} s off the server clock (limit ${FRESHNESS_MS / 1000} s); check the client's clock`;
    return authenticated ? drop("stale", message) : refuse(id, "stale", message);
  }
  if (!isOp(op)) return refuse(id, "unknown_op", `unknown op "${op.slice(0, MAX_ID)}"; one of ${OPS.join(", ")}`);

  return { ok: true, req: { v: PROTOCOL_VERSION, id, ts, op, args }, authenticated };
}

/** An ok reply for request `id`. */
export function okReply(id: string | null, result: unknown): ControlReply {
  return { v: PROTOCOL_VERSION, id, ok: true, result };
}

/** An error reply for request `id`; `message` is for people, `code` for programs. */
export function errorReply(id: string | null, code: ErrorCode, message?: string): ControlReply {
  return { v: PROTOCOL_VERSION, id, ok: false, error: message === undefined ? { code } : { code, message } };
}

function serializeReply(reply: ControlReply): Uint8Array {
  const id = isValidId(reply.id) ? reply.id : null;
  const body = reply.ok
    ? { v: PROTOCOL_VERSION, id, ok: true, result: reply.result ?? null }
    : { v: PROTOCOL_VERSION, id, ok: false, error: reply.error };
  return utf8.encode(JSON.stringify(body));
}

/** Shortens an error message (by code points, so no surrogate pair is split) until the reply fits. */
function truncateMessage(reply: ControlReply & { ok: false }, limit: number): Uint8Array | null {
  const chars = Array.from(reply.error.message ?? "");
  let keep = chars.length;
  while (keep > 0) {
    // JSON escaping can turn one character into up to 6 bytes, so shrink by at least the overflow / 6.
    const bytes = serializeReply(errorReply(reply.id, reply.error.code, chars.slice(0, keep).join("") + "…"));
    if (bytes.length <= limit) return bytes;
    keep -= Math.max(1, Math.ceil((bytes.length - limit) / 6));
  }
  const bare = serializeReply(errorReply(reply.id, reply.error.code));
  return bare.length <= limit ? bare : null;
}

/**
 * Encodes a reply into at most MAX_DATAGRAM bytes, always. An ok reply whose result does not fit
 * becomes error `too_large`, saying to ask for less (a smaller page with `offset`/`limit`); an
 * error reply keeps its code and loses the tail of its message.
 *
 * @example
 * ```ts
 * encodeReply(okReply("c1-7", { jobs: [] })); // bytes of {"v":1,"id":"c1-7","ok":true,"result":{"jobs":[]}}
 * ```
 */
export function encodeReply(reply: ControlReply): Uint8Array {
  return shrinkReply(reply, MAX_DATAGRAM) ?? serializeReply(errorReply(null, "too_large"));
}

/**
 * The anti-reflection rule: any reply fits in MAX_DATAGRAM, and a reply to an unauthenticated
 * source is never larger than the request it answers.
 */
export function replyFitsFor(replyBytes: number, requestBytes: number, authenticated: boolean): boolean {
  return replyBytes <= MAX_DATAGRAM && (authenticated || replyBytes <= requestBytes);
}

/**
 * Encodes `reply` into at most `limit` bytes, shrinking in steps: the reply itself; an error with a
 * shorter message, or without one; for an ok reply, `too_large` saying to ask for less, in the
 * longest wording that fits, else the bare `{"v":1,"id":…,"ok":false,"error":{"code":"too_large"}}`.
 * Returns null when even that does not fit — then send nothing.
 */
function shrinkReply(reply: ControlReply, limit: number, full = serializeReply(reply)): Uint8Array | null {
  if (full.length <= limit) return full;
  if (!reply.ok) {
    const shorter = truncateMessage(reply, limit);
    if (shorter) return shorter;
  }
  // Every answer that can grow is paged (status, list, the queue, a job's destinations); one past a
  // datagram is a server's mistake, but the client can still be told what to ask instead.
  const tooLarge = reply.ok ? askForLess(reply.id, full.length, limit) : null;
  if (tooLarge) return tooLarge;
  const minimal = serializeReply(errorReply(reply.id, "too_large"));
  return minimal.length <= limit ? minimal : null;
}

/** The first of `wordings` whose `too_large` reply fits `limit` bytes, or null. */
function tooLargeIn(id: string | null, wordings: readonly string[], limit: number): Uint8Array | null {
  for (const message of wordings) {
    const bytes = serializeReply(errorReply(id, "too_large", message));
    if (bytes.length <= limit) return bytes;
  }
  return null;
}

/** The `too_large` reply for an answer larger than any datagram: padding cannot help, a page can. */
function askForLess(id: string | null, replyBytes: number, limit: number): Uint8Array | null {
  return tooLargeIn(
    id,
    [
      `the reply (${replyBytes} bytes) would not fit one datagram (${MAX_DATAGRAM} bytes); ask for less: a page at a time with "offset" and a smaller "limit"`,
      `reply ${replyBytes} B > ${MAX_DATAGRAM} B: ask for a page ("offset", "limit")`,
      `ask for a page ("offset", "limit")`,
      `ask for a page`,
    ],
    limit,
  );
}

/**
 * The `too_large` reply for an answer that would fit a datagram but not the unauthenticated request
 * it answers: it says so, and how to pad, in the longest wording that fits the request. A request
 * too small for any wording (about 75 bytes, depending on its id) gets the bare code.
 */
function padAdvice(id: string | null, replyBytes: number, requestBytes: number): Uint8Array | null {
  return tooLargeIn(
    id,
    [
      `the reply (${replyBytes} bytes) would be larger than this unauthenticated request (${requestBytes} bytes), which the server never sends; ` +
        `pad the request to at least ${replyBytes} bytes with a top-level "pad" string (pacer ctl pads to ${MAX_DATAGRAM})`,
      `reply ${replyBytes} B > request ${requestBytes} B: pad the request to ${replyBytes} B with a top-level "pad" string`,
      `reply > request: pad to ${replyBytes} B ("pad")`,
      `pad request to ${replyBytes} B`,
      `pad to ${replyBytes}`,
    ],
    requestBytes,
  );
}

/**
 * Encodes the reply to send for a request of `requestBytes` bytes, obeying replyFitsFor.
 * An ok reply that only the anti-reflection rule holds back becomes `too_large` with a message
 * saying how to pad, as far as the request leaves room for one.
 * Returns null when no reply may be sent: the minimal error is larger than an unauthenticated
 * request, which happens only for requests shorter than about 60 bytes — too short to be valid
 * anyway unless the id and op are tiny. Clients expecting big replies pad their requests
 * (`EncodeRequestOptions.padTo`).
 *
 * @example
 * ```ts
 * const bytes = replyFor(okReply(req.id, page), datagram.length, authenticated);
 * if (bytes) socket.send(bytes, port, address);
 * ```
 */
export function replyFor(reply: ControlReply, requestBytes: number, authenticated: boolean): Uint8Array | null {
  const limit = authenticated ? MAX_DATAGRAM : Math.min(requestBytes, MAX_DATAGRAM);
  const full = serializeReply(reply);
  if (reply.ok && full.length > limit && full.length <= MAX_DATAGRAM) {
    const advice = padAdvice(reply.id, full.length, limit);
    if (advice) return advice;
  }
  return shrinkReply(reply, limit, full);
}

/**
 * Decodes and validates a reply datagram (the `ctl` side). Never throws.
 *
 * @example
 * ```ts
 * const r = decodeReply(datagram);
 * if (r.ok && r.reply.id === sentId) done(r.reply);
 * ```
 */
export function decodeReply(bytes: Uint8Array): DecodeReplyResult {
  const fail = (message: string): DecodeReplyResult => ({ ok: false, message });
  if (bytes.length > MAX_DATAGRAM) return fail(`reply is ${bytes.length} bytes; the limit is ${MAX_DATAGRAM}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(strictUtf8.decode(bytes));
  } catch {
    return fail("reply is not valid UTF-8 JSON");
  }
  if (!isPlainObject(parsed)) return fail("reply must be a JSON object");
  if (parsed.v !== PROTOCOL_VERSION) return fail(`reply has unsupported version ${JSON.stringify(parsed.v)}`);
  const id = parsed.id;
  if (id !== null && !isValidId(id)) return fail(`reply "id" must be null or a string of 1 to ${MAX_ID} characters`);
  if (parsed.ok === true) {
    if (!("result" in parsed)) return fail(`ok reply has no "result"`);
    return { ok: true, reply: okReply(id, parsed.result) };
  }
  if (parsed.ok === false) {
    const error = parsed.error;
    if (!isPlainObject(error) || !isErrorCode(error.code)) return fail(`error reply has no known "error.code"`);
    if (error.message !== undefined && typeof error.message !== "string") return fail(`"error.message" must be a string`);
    return { ok: true, reply: errorReply(id, error.code, error.message) };
  }
  return fail(`reply "ok" must be true or false`);
}
