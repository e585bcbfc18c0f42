/**
 * The UDP control endpoint of `pacer serve` (DESIGN.md, "Control protocol"). A datagram goes in one
 * line from the socket to its reply, all of it in here:
 *
 * 1. arrive (admit): counted, the per-source rate limit, and its envelope opened, once
 *    (protocol/control.ts openEnvelope): on a keyed server the size and the MAC are checked there,
 *    before the rate limit, which counts only authenticated requests there (a forged source
 *    cannot spend a client's share). A datagram failing either is dropped (no reply, counted), so
 *    junk never waits;
 * 2. the intake queue (control_intake.ts), which hands datagrams over in slices of the loop that
 *    leave media its schedule; when full, or when the source already has its share queued, the
 *    datagram is dropped (counted as `overloaded`);
 * 3. decodeBody: on a keyed server a stale `ts` is dropped and counted; other malformed requests
 *    get an error reply;
 * 4. the dedup cache: a repeated id from the same address and port within 60 s gets the cached
 *    reply bytes again, and is never executed twice — even when the retry arrives while the first
 *    copy is still executing (then, when the first completes, each copy gets the same reply). On a
 *    keyed server a MAC seen within the window is that datagram again, from wherever it comes (a
 *    captured request resent from another port): it is not executed, and gets the cached reply
 *    only if that is no larger than itself (its source may be spoofed: a reflection), else none,
 *    and none while the first copy still executes;
 * 5. the op (ControlOps: ops.ts over the running server; synchronous where it can be, while play
 *    opens files and resolves hosts, so waits);
 * 6. replyFor: the reply fits one datagram and, to an unauthenticated source, is never larger than
 *    the request (anti-reflection). A reply that may not be sent at all is remembered as "no
 *    reply", so a retry is not executed again either.
 *
 * Nothing a peer sends can throw out of here: op failures become `internal` error replies.
 *
 * @example
 * ```ts
 * const endpoint = new ControlEndpoint({ ops: serverOps(server), scheduler, log, key, limits: config.limits });
 * const socket = await openControlSocket(config.control, endpoint, log);
 * // later: endpoint.configure(key, limits) on reload; socket.close() and endpoint.clear() on shutdown
 * ```
 */

import type { Logger } from "../foundation/log.ts";
import { openUdpSocket } from "../foundation/net/udp_socket.ts";
import {
  type ControlReply,
  type ControlRequest,
  decodeBody,
  type DropReason,
  type ErrorCode,
  errorReply,
  FRESHNESS_MS,
  MAX_DATAGRAM,
  openEnvelope,
  type RequestRefusal,
  replyFitsFor,
  replyFor,
} from "../protocol/control.ts";
import { WALL_CLOCK_STEP_MS } from "../scheduler/clock.ts";
import type { Scheduler } from "../scheduler/scheduler.ts";
import type { Limits } from "./config.ts";
import { ControlIntake } from "./control_intake.ts";
import { DedupCache, dedupKey } from "./dedup.ts";
import { sourceKey } from "./policy.ts";
import { bindFailure } from "./port_holder.ts";
import { RateLimiter } from "./rate_limit.ts";

/** Who sent a request, as the endpoint saw it. */
export interface Requester {
  readonly address: string;
  readonly port: number;
  /** The request carried a valid MAC under the server's key. */
  readonly authenticated: boolean;
}

/** What an op knows of its request's source. */
export interface RequestContext extends Requester {
  /** The largest reply that may be sent for this request: page results to fit it. */
  readonly replyBudget: number;
}

/** The op stage: runs a decoded request; a reply at once when the op needs no waiting, else a Promise of one. */
export interface ControlOps {
  run(req: ControlRequest, from: RequestContext): ControlReply | Promise<ControlReply>;
}

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
  readonly ops: ControlOps;
  readonly log: Logger;
  readonly key?: Uint8Array;
  readonly limits: Pick<Limits, "requestsPerSecond" | "requestBurst">;
  /**
   * The loop whose control slices answer queued datagrams (control_intake.ts). Without one, each
   * datagram is answered as it arrives, which only tests of the endpoint itself want.
   */
  readonly scheduler?: Scheduler;
  /** Wall clock in ms, for the requests' freshness (their `ts`); Date.now by default. */
  readonly nowMs?: () => number;
  /** Monotonic ms, for intervals (the dedup window, the rate limit); performance.now by default. */
  readonly monoMs?: () => number;
}

/** Sends a reply to the datagram's source. */
type ReplyPath = (reply: Uint8Array) => void;

/** A datagram past arrival, waiting for its answer: its envelope opened, its source known. */
interface Admitted {
  /** The JSON body, the MAC line split off. */
  readonly body: Uint8Array;
  /** The MAC, when checked under the server's key: the dedup cache knows a resent datagram by it. */
  readonly mac: string | undefined;
  /** The whole datagram's size: a reply to an unauthenticated source may not be larger. */
  readonly size: number;
  readonly authenticated: boolean;
  readonly address: string;
  readonly port: number;
  /** policy.ts sourceKey of the address, for the queue share. */
  readonly source: string;
  readonly reply: ReplyPath;
}

/** Copies of one executing request answered when it completes; more are only counted. */
const MAX_RETRIES_IN_FLIGHT = 4;
/** Cached for a request that got no reply, so its retries get none either. */
const NO_REPLY = new Uint8Array(0);
/**
 * A signed request older than the newest accepted one by more than this is refused, whatever the
 * server's clock says: after the clock steps back, a capture from before the step cannot come back
 * fresh. Twice the freshness limit, so clients skewed either way within it all pass.
 */
const SIGNED_TS_FLOOR_MS = 2 * FRESHNESS_MS;

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
  readonly #ops: ControlOps;
  readonly #log: Logger;
  readonly #nowMs: () => number;
  readonly #monoMs: () => number;
  /** Wall minus monotonic at the last request: a jump is a stepped clock. */
  #clockOffsetMs: number | null = null;
  /** The newest `ts` of an accepted signed request (the clients' clocks, not ours). */
  #newestSignedTs = -Infinity;
  /**
   * When this endpoint began, on the wall clock. A signed request from before it may have run on
   * the server this one replaced, whose dedup cache went with it: a capture resent within its
   * freshness after a restart ran again. So it is stale here; clients resend with a fresh `ts`.
   */
  readonly #startedAtMs: number;
  readonly #intake: ControlIntake<Admitted> | null;
  readonly #dedup = new DedupCache();
  /** Requests executing now, with the sizes of copies that arrived meanwhile. */
  readonly #inFlight = new Map<string, number[]>();
  #key: Uint8Array | undefined;
  #limiter: RateLimiter;
  #limits: ControlEndpointOptions["limits"];

  constructor(options: ControlEndpointOptions) {
    this.#ops = options.ops;
    this.#log = options.log;
    this.#nowMs = options.nowMs ?? Date.now;
    this.#monoMs = options.monoMs ?? (() => performance.now());
    this.#startedAtMs = this.#nowMs();
    this.#key = options.key;
    this.#limits = options.limits;
    this.#limiter = new RateLimiter({ ratePerSecond: options.limits.requestsPerSecond, burst: options.limits.requestBurst });
    this.#intake = options.scheduler
      ? new ControlIntake<Admitted>(
          options.scheduler,
          (datagram) => this.#answer(datagram),
          (error) => this.#log.error(`control request failed: ${(error as Error).message ?? error}`),
        )
      : null;
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
   * A datagram arrives from `address`:`port`; `reply` sends an answer back there. Admitted, it
   * waits in the intake for its turn; without a scheduler it is answered at once, and the Promise
   * of an op that waits is returned.
   */
  receive(bytes: Uint8Array, address: string, port: number, reply: ReplyPath): void | Promise<void> {
    const admitted = this.#admit(bytes, address, port, reply);
    if (admitted === null) return;
    if (this.#intake === null) return this.#answer(admitted);
    if (!this.#intake.offer(admitted)) this.counters.overloaded++;
  }

  /** Forgets the datagrams still queued (shutdown). */
  clear(): void {
    this.#intake?.clear();
  }

  /**
   * Counts a datagram, applies its source's rate limit and opens its envelope: on a keyed server
   * that checks the size and the MAC (~1 µs), so only authenticated requests take a place in the
   * queue. Null means it goes no further (dropped and counted, or refused at once).
   *
   * On a keyed server the MAC comes first, and only authenticated requests spend their source's
   * share: a source address is anyone's to forge, and junk sent in a client's name (100 datagrams
   * a second from 127.0.0.1) had emptied its bucket, so its own signed requests were dropped
   * unanswered for as long as the junk came. Junk checked first costs its MAC, no more than junk
   * from a new forged address each time already cost, and one without a MAC's shape costs none.
   */
  #admit(bytes: Uint8Array, address: string, port: number, reply: ReplyPath): Admitted | null {
    const counters = this.counters;
    counters.requests++;
    const source = sourceKey(address);
    const keyed = this.#key !== undefined;
    if (!keyed && !this.#withinRate(source)) return null;
    const opened = openEnvelope(bytes, this.#key);
    if (opened.ok) {
      if (keyed && !this.#withinRate(source)) return null;
      const mac = opened.authenticated ? (opened.mac ?? undefined) : undefined;
      return { body: opened.body, mac, size: bytes.length, authenticated: opened.authenticated, address, port, source, reply };
    }
    if (opened.drop) {
      counters.dropped[opened.reason]++;
      if (this.#log.debugEnabled) this.#log.debug(`control request dropped: ${opened.message}`, { from: address });
      return null;
    }
    // Oversize on a keyless server: refused at once, so a queue entry never holds more than MAX_DATAGRAM.
    this.#refuse(opened, bytes.length, false, reply);
    return null;
  }

  /** Takes one request from the source's share; false (counted) when it has none left. */
  #withinRate(source: string): boolean {
    if (this.#limiter.allow(source, this.#monoMs())) return true;
    this.counters.rate_limited++;
    return false;
  }

  /** Logs a stepped wall clock once per step: requests' freshness is judged against it. */
  #noticeClockStep(nowMs: number): void {
    const offset = nowMs - this.#monoMs();
    if (this.#clockOffsetMs !== null && Math.abs(offset - this.#clockOffsetMs) > WALL_CLOCK_STEP_MS) {
      const steppedS = Math.round((offset - this.#clockOffsetMs) / 1000);
      this.#log.warn(
        `the wall clock stepped ${steppedS > 0 ? "forward" : "back"} by ${Math.abs(steppedS)} s: control requests are fresh within ${FRESHNESS_MS / 1000} s of it, so clients that did not step are stale until the clocks agree` +
          (steppedS < 0 ? `, and signed requests more than ${SIGNED_TS_FLOOR_MS / 1000} s older than the newest one accepted, or older than the server's start, are refused until clients' clocks pass it (or the server restarts)` : "") +
          "; pacing runs on the monotonic clock and is not affected",
      );
    }
    this.#clockOffsetMs = offset;
  }

  /**
   * Decodes an admitted datagram and answers it: from the dedup cache, or by running its op.
   * Synchronous when the op is (ping, status, interest…), so the intake can account for its time;
   * a Promise when the op waits (play opens files, stop drains a job).
   */
  #answer(datagram: Admitted): void | Promise<void> {
    const counters = this.counters;
    const { address, port, size, authenticated, mac, reply } = datagram;
    const now = this.#nowMs();
    this.#noticeClockStep(now);
    const decoded = decodeBody(datagram.body, authenticated, now);
    if (decoded.ok && authenticated && decoded.req.ts < Math.max(this.#newestSignedTs - SIGNED_TS_FLOOR_MS, this.#startedAtMs)) {
      counters.dropped.stale++;
      if (this.#log.debugEnabled) this.#log.debug("control request dropped: signed ts is older than requests already accepted, or than the server's start", { from: address });
      return;
    }
    if (!decoded.ok) {
      if (decoded.drop) {
        counters.dropped[decoded.reason]++;
        if (this.#log.debugEnabled) this.#log.debug(`control request dropped: ${decoded.message}`, { from: address });
        return;
      }
      this.#refuse(decoded, size, authenticated, reply);
      return;
    }
    const { req } = decoded;
    if (authenticated && req.ts > this.#newestSignedTs) this.#newestSignedTs = req.ts;
    const seen = this.#dedup.claim(address, port, req.id, this.#monoMs(), mac);
    if (seen.kind === "pending") {
      counters.retries_in_flight++;
      // A copy from another source (a resent MAC) finds no list here and gets no reply.
      const waiting = this.#inFlight.get(dedupKey(address, port, req.id));
      if (waiting && waiting.length < MAX_RETRIES_IN_FLIGHT) waiting.push(size);
      return;
    }
    if (seen.kind === "replay") {
      counters.replays++;
      if (seen.reply.length === 0) return;
      // A shorter copy of a padded request must not replay a larger reply (anti-reflection), nor a
      // signed datagram resent from another source, which may be spoofed: its MAC proves the
      // bytes, not who sends them now (a 150-byte capture drew a 1400-byte status, 9 times over).
      if (!replyFitsFor(seen.reply.length, size, authenticated && seen.sameSource)) {
        counters.unsent++;
        return;
      }
      this.#send(seen.reply, reply);
      return;
    }
    const budget = authenticated ? MAX_DATAGRAM : Math.min(MAX_DATAGRAM, size);
    const inFlightKey = dedupKey(address, port, req.id);
    const retries: number[] = [];
    this.#inFlight.set(inFlightKey, retries);
    const failed = (error: unknown): ControlReply => {
      this.#log.error(`control op "${req.op}" failed: ${(error as Error).message}`, { from: address });
      return errorReply(req.id, "internal", "the server failed to carry out the request; see its log");
    };
    const complete = (answer: ControlReply) => {
      this.#inFlight.delete(inFlightKey);
      const out = replyFor(answer, size, authenticated);
      this.#dedup.put(address, port, req.id, out ?? NO_REPLY, this.#monoMs(), mac);
      this.#transmit(out, answer, reply);
      // Copies that arrived while executing get the same bytes, one reply per copy.
      for (const copySize of retries) {
        if (out && replyFitsFor(out.length, copySize, authenticated)) this.#send(out, reply);
      }
    };
    let result: ControlReply | Promise<ControlReply>;
    try {
      result = this.#ops.run(req, { address, port, authenticated, replyBudget: budget });
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

  /** Answers a request refused before its op with an error reply (not cached: nothing ran). */
  #refuse(refusal: RequestRefusal, size: number, authenticated: boolean, reply: ReplyPath): void {
    const answer = errorReply(refusal.id, refusal.code, refusal.message);
    this.#transmit(replyFor(answer, size, authenticated), answer, reply);
  }

  #transmit(out: Uint8Array | null, answer: ControlReply, reply: ReplyPath): void {
    if (!answer.ok) this.counters.errors[answer.error.code] = (this.counters.errors[answer.error.code] ?? 0) + 1;
    if (out === null) {
      this.counters.unsent++;
      return;
    }
    this.#send(out, reply);
  }

  #send(out: Uint8Array, reply: ReplyPath): void {
    try {
      reply(out);
      this.counters.replies++;
    } catch (error) {
      this.#log.debug(`control reply not sent: ${(error as Error).message}`);
    }
  }
}

/** ECONNREFUSED: an ICMP port-unreachable that a reply drew, reported on the socket's next call. */
function refusedError(error: unknown): boolean {
  return (error as NodeJS.ErrnoException).code === "ECONNREFUSED" || String((error as Error).message).startsWith("ECONNREFUSED");
}

export interface ControlSocket {
  readonly port: number;
  close(): void;
}

/**
 * Binds the control socket at `host`:`port` and hands every datagram to `endpoint`, with the way
 * back to its source. When it cannot bind, throws port_holder.ts bindFailure: a TemporaryError
 * naming the port and its holder when the port is in use.
 */
export async function openControlSocket(
  at: { readonly host: string; readonly port: number },
  endpoint: ControlEndpoint,
  log: Logger,
): Promise<ControlSocket> {
  let socket;
  let refused = 0;
  try {
    socket = await openUdpSocket({
      hostname: at.host,
      port: at.port,
      onData(data, port, address, s) {
        void endpoint.receive(data, address, port, (reply) => {
          try {
            s.send(reply, port, address);
          } catch (error) {
            // Another client's closed port, pending on the socket as its ICMP error, fails the next
            // send, whoever it is for. Taking it cleared it: this client's reply goes again.
            if (!refusedError(error)) throw error;
            s.send(reply, port, address);
          }
        });
      },
      onError: (error) => {
        // A reply that met a closed port (its client had gone) comes back as ECONNREFUSED. That is
        // the client's affair, and any client can cause it at will: said once, not once each.
        if (refusedError(error)) {
          if (refused++ === 0) log.warn("control socket: a reply found its client's port closed (the client had gone); said once");
          return;
        }
        log.warn(`control socket: ${error.message}`);
      },
    });
  } catch (error) {
    // Bun throws some bind errors at once and rejects with others.
    throw bindFailure("control socket", "control", "udp", at, error);
  }
  return { port: socket.port, close: () => socket.close() };
}
