/**
 * The UDP control endpoint of `pacer serve` (DESIGN.md, "Control protocol"). Each datagram goes
 * through, in order:
 *
 * 1. on arrival (admit): the per-source rate limit, and on a keyed server the size and MAC; a
 *    datagram failing either is dropped (no reply, counted);
 * 1a. the intake queue (control_intake.ts), which hands datagrams over in slices of the loop that
 *    leave media its schedule; when full, or when the source already has its share queued, dropped
 *    (counted as `overloaded`);
 * 2. decodeRequest: on a keyed server a missing or wrong MAC, an oversize datagram or a stale
 *    `ts` is dropped and counted by reason; other malformed requests get an error reply;
 * 3. the dedup cache: a repeated id from the same address and port within 60 s gets the cached
 *    reply bytes again, and is never executed twice — even when the retry arrives while the first
 *    copy is still executing (then, when the first completes, each copy gets the same reply);
 * 4. the op handler (synchronous where it can be; play opens files and resolves hosts, so waits);
 * 5. replyFor: the reply fits one datagram and, to an unauthenticated source, is never larger than
 *    the request (anti-reflection). A reply that may not be sent at all is remembered as "no
 *    reply", so a retry is not executed again either.
 *
 * Nothing a peer sends can throw out of here: handler failures become `internal` error replies.
 *
 * @example
 * ```ts
 * const endpoint = new ControlEndpoint({ handle: dispatch, log, limits: config.limits });
 * const socket = await openControlSocket(config.control, endpoint, log);
 * // later: endpoint.configure({ key, limits }) on reload; socket.close() on shutdown
 * ```
 */

import type { Logger } from "../foundation/log.ts";
import { openUdpSocket } from "../foundation/net/udp_socket.ts";
import {
  type ControlReply,
  type ControlRequest,
  checkEnvelope,
  decodeRequest,
  type DropReason,
  type ErrorCode,
  errorReply,
  MAX_DATAGRAM,
  replyFitsFor,
  replyFor,
} from "../protocol/control.ts";
import type { Limits } from "./config.ts";
import type { ControlIntake } from "./control_intake.ts";
import { DedupCache, dedupKey } from "./dedup.ts";
import type { Requester } from "./play_op.ts";
import { sourceKey } from "./policy.ts";
import { RateLimiter } from "./rate_limit.ts";

/** What an op handler knows of its request's source. */
export interface RequestContext extends Requester {
  /** The largest reply that may be sent for this request: page results to fit it. */
  readonly replyBudget: number;
}

/** Runs a request's op: a reply at once when the op needs no waiting, else a Promise of one. */
export type RequestHandler = (req: ControlRequest, ctx: RequestContext) => ControlReply | Promise<ControlReply>;

/** Counters since start; `status` and /metrics report them. */
export interface ControlCounters {
  /** Datagrams received. */
  requests: number;
  /** Replies sent, replays included. */
  replies: number;
  /** Duplicates answered from the dedup cache. */
  replays: number;
  /** Duplicates that arrived while the first copy was still executing (answered by its reply). */
  retries_in_flight: number;
  rate_limited: number;
  /** Dropped on arrival because the intake queue was full: requests came faster than the control share of the loop serves them. */
  overloaded: number;
  /** Dropped without a reply, by reason. */
  dropped: Record<DropReason, number>;
  /** Replies withheld because they would be larger than an unauthenticated request. */
  unsent: number;
  /** Error replies by code. */
  errors: Partial<Record<ErrorCode, number>>;
}

export interface ControlEndpointOptions {
  readonly handle: RequestHandler;
  readonly log: Logger;
  readonly key?: Uint8Array;
  readonly limits: Pick<Limits, "requestsPerSecond" | "requestBurst">;
  /** Wall clock in ms, for freshness and the dedup window; Date.now by default. */
  readonly nowMs?: () => number;
}

/** Copies of one executing request answered when it completes; more are only counted. */
const MAX_RETRIES_IN_FLIGHT = 4;
/** Cached for a request that got no reply, so its retries get none either. */
const NO_REPLY = new Uint8Array(0);

export class ControlEndpoint {
  readonly counters: ControlCounters = {
    requests: 0,
    replies: 0,
    replays: 0,
    retries_in_flight: 0,
    rate_limited: 0,
    overloaded: 0,
    dropped: { oversize: 0, missing_mac: 0, bad_mac: 0, stale: 0 },
    unsent: 0,
    errors: {},
  };
  readonly #handle: RequestHandler;
  readonly #log: Logger;
  readonly #nowMs: () => number;
  readonly #dedup = new DedupCache();
  /** Requests executing now, with the sizes of copies that arrived meanwhile. */
  readonly #inFlight = new Map<string, number[]>();
  #key: Uint8Array | undefined;
  #limiter: RateLimiter;
  #limits: ControlEndpointOptions["limits"];

  constructor(options: ControlEndpointOptions) {
    this.#handle = options.handle;
    this.#log = options.log;
    this.#nowMs = options.nowMs ?? Date.now;
    this.#key = options.key;
    this.#limits = options.limits;
    this.#limiter = new RateLimiter({ ratePerSecond: options.limits.requestsPerSecond, burst: options.limits.requestBurst });
  }

  /** Applies a reloaded key and rate limits to requests from now on. */
  configure(key: Uint8Array | undefined, limits: ControlEndpointOptions["limits"]): void {
    this.#key = key;
    if (limits.requestsPerSecond !== this.#limits.requestsPerSecond || limits.requestBurst !== this.#limits.requestBurst) {
      this.#limiter = new RateLimiter({ ratePerSecond: limits.requestsPerSecond, burst: limits.requestBurst });
    }
    this.#limits = limits;
  }

  /**
   * Counts a datagram from `source` (policy.ts sourceKey of its address), applies the per-source
   * rate limit and, on a keyed server, checks its size and MAC: false means drop it (counted).
   * Cheap (~1 µs for the MAC), so it runs as datagrams arrive, and junk never takes a place in the
   * intake queue.
   */
  admit(bytes: Uint8Array, source: string): boolean {
    const counters = this.counters;
    counters.requests++;
    if (!this.#limiter.allow(source, this.#nowMs())) {
      counters.rate_limited++;
      return false;
    }
    // On a keyed server only authenticated requests may wait in the queue.
    const envelope = this.#key ? checkEnvelope(bytes, this.#key) : null;
    if (envelope) {
      counters.dropped[envelope.reason]++;
      if (this.#log.debugEnabled) this.#log.debug(`control request dropped: ${envelope.message}`, { from: source });
      return false;
    }
    return true;
  }

  /** Admits and handles one datagram: {@link admit}, then {@link handle}. */
  receive(bytes: Uint8Array, address: string, port: number, send: (reply: Uint8Array) => void): void | Promise<void> {
    if (this.admit(bytes, sourceKey(address))) return this.handle(bytes, address, port, send);
  }

  /**
   * Handles one datagram from `address`:`port` that {@link admit} let in (its MAC is not checked
   * again); `send` transmits a reply to that source.
   * Synchronous when the op is (ping, status, interest…), so a caller can account for its time;
   * a Promise when the op waits (play opens files, stop drains a job).
   */
  handle(bytes: Uint8Array, address: string, port: number, send: (reply: Uint8Array) => void): void | Promise<void> {
    const counters = this.counters;
    const now = this.#nowMs();
    const key = this.#key;
    const decoded = decodeRequest(bytes, key, now, { envelopeChecked: true });
    if (!decoded.ok) {
      if (decoded.drop) {
        counters.dropped[decoded.reason]++;
        if (this.#log.debugEnabled) this.#log.debug(`control request dropped: ${decoded.message}`, { from: address });
        return;
      }
      // Past the MAC check on a keyed server, so authenticated exactly when there is a key.
      const reply = errorReply(decoded.id, decoded.code, decoded.message);
      this.#transmit(replyFor(reply, bytes.length, key !== undefined), reply, send);
      return;
    }
    const { req, authenticated } = decoded;
    const seen = this.#dedup.claim(address, port, req.id, now);
    if (seen.kind === "pending") {
      counters.retries_in_flight++;
      const waiting = this.#inFlight.get(dedupKey(address, port, req.id));
      if (waiting && waiting.length < MAX_RETRIES_IN_FLIGHT) waiting.push(bytes.length);
      return;
    }
    if (seen.kind === "replay") {
      counters.replays++;
      if (seen.reply.length === 0) return;
      // A shorter copy of a padded request must not replay a larger reply (anti-reflection).
      if (!replyFitsFor(seen.reply.length, bytes.length, authenticated)) {
        counters.unsent++;
        return;
      }
      this.#send(seen.reply, send);
      return;
    }
    const budget = authenticated ? MAX_DATAGRAM : Math.min(MAX_DATAGRAM, bytes.length);
    const inFlightKey = dedupKey(address, port, req.id);
    const retries: number[] = [];
    this.#inFlight.set(inFlightKey, retries);
    const failed = (error: unknown): ControlReply => {
      this.#log.error(`control op "${req.op}" failed: ${(error as Error).message}`, { from: address });
      return errorReply(req.id, "internal", "the server failed to carry out the request; see its log");
    };
    const complete = (reply: ControlReply) => {
      this.#inFlight.delete(inFlightKey);
      const out = replyFor(reply, bytes.length, authenticated);
      this.#dedup.put(address, port, req.id, out ?? NO_REPLY, this.#nowMs());
      this.#transmit(out, reply, send);
      // Copies that arrived while executing get the same bytes, one reply per copy.
      for (const size of retries) {
        if (out && replyFitsFor(out.length, size, authenticated)) this.#send(out, send);
      }
    };
    let result: ControlReply | Promise<ControlReply>;
    try {
      result = this.#handle(req, { address, port, authenticated, replyBudget: budget });
    } catch (error) {
      result = failed(error);
    }
    if (result instanceof Promise) {
      return result
        .catch(failed)
        .then(complete)
        .catch((error: Error) => this.#log.error(`control reply to "${req.op}" failed: ${error.message}`, { from: address }));
    }
    complete(result);
  }

  #transmit(out: Uint8Array | null, reply: ControlReply, send: (reply: Uint8Array) => void): void {
    if (!reply.ok) this.counters.errors[reply.error.code] = (this.counters.errors[reply.error.code] ?? 0) + 1;
    if (out === null) {
      this.counters.unsent++;
      return;
    }
    this.#send(out, send);
  }

  #send(out: Uint8Array, send: (reply: Uint8Array) => void): void {
    try {
      send(out);
      this.counters.replies++;
    } catch (error) {
      this.#log.debug(`control reply not sent: ${(error as Error).message}`);
    }
  }
}

export interface ControlSocket {
  readonly port: number;
  close(): void;
}

/**
 * Binds the control socket at `host`:`port`. Every datagram is counted and rate-limited on
 * arrival, then waits in `intake` for its turn with `endpoint`; a full intake drops it (counted).
 * Throws an Error naming the address when it cannot bind.
 */
export async function openControlSocket(
  at: { readonly host: string; readonly port: number; readonly text?: string },
  endpoint: ControlEndpoint,
  intake: ControlIntake,
  log: Logger,
): Promise<ControlSocket> {
  const socket = await openUdpSocket({
    hostname: at.host,
    port: at.port,
    onData(data, port, address, s) {
      const source = sourceKey(address);
      if (!endpoint.admit(data, source)) return;
      const send = (reply: Uint8Array) => s.send(reply, port, address);
      // Oversize (keyless server) only needs its error reply, at once, so the queue never holds more than MAX_DATAGRAM per entry.
      if (data.length > MAX_DATAGRAM) return void endpoint.handle(data, address, port, send);
      if (!intake.offer({ bytes: data, address, port, source, send })) endpoint.counters.overloaded++;
    },
    onError: (error) => log.warn(`control socket: ${error.message}`),
  }).catch((error: Error) => {
    throw new Error(`cannot bind the control socket on ${at.text ?? `${at.host}:${at.port}`}: ${error.message}`);
  });
  return { port: socket.port, close: () => socket.close() };
}
