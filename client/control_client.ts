/**
 * The client side of the control protocol, shared by `pacer ctl` and `pacer recv`: one connected
 * UDP socket to the server, requests encoded (and MACed with a key) by protocol/control.ts, and
 * replies matched to requests by id.
 *
 * Retries: `request` resends with exponential back-off (100 ms, doubling, at most 1 s apart) until
 * a reply with its id arrives or the TTL runs out. Every resend carries the *same id*, so the
 * server's dedup answers a retry with the first reply and never executes the command twice; `ts`
 * is refreshed on each send so a long TTL never goes stale.
 *
 * Without a key, requests are padded to MAX_DATAGRAM: the server's reply to an unauthenticated
 * request may not be larger than the request (anti-reflection), and padding lets full `status`
 * pages and error messages through.
 *
 * A connected socket learns of "port unreachable" (nothing listening yet): that is not an error
 * here, the next retry simply tries again.
 *
 * @example
 * ```ts
 * const client = await ControlClient.open("127.0.0.1:7070");
 * const reply = await client.request("play", { source: "news.ts", to: ["rtp://127.0.0.1:5004"] }, { ttlMs: 5000 });
 * client.close();
 * ```
 */

import type { udp } from "bun";
import { PacerError, UsageError } from "../foundation/errors.ts";
import { isLoopbackHost, requireHostPort, resolveHost } from "../foundation/net/address.ts";
import { openUdpSocket } from "../foundation/net/udp_socket.ts";
import { type ControlReply, DEFAULT_CONTROL_ADDRESS, decodeReply, encodeRequest, MAX_DATAGRAM, type Op } from "../protocol/control.ts";

/** The control address ctl and recv talk to unless told: the server's own default. */
export const DEFAULT_SERVER = DEFAULT_CONTROL_ADDRESS;
export const FIRST_RETRY_MS = 100;
export const MAX_RETRY_MS = 1_000;

/** No reply within the TTL; the message names the server and the TTL. */
export class NoReplyError extends PacerError {
  override name = "NoReplyError";
}

export interface RequestOptions {
  /** Give up after this long, ms. */
  readonly ttlMs: number;
  /** The request id; a fresh random one by default. */
  readonly id?: string;
}

/** A fresh request id: 16 hex digits. */
export function newRequestId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return Buffer.from(bytes).toString("hex");
}

/** `HOST:PORT` → host and port; a UsageError says what is wrong. */
export function parseServerAddress(text: string): { host: string; port: number; text: string } {
  return requireHostPort(text, "--server");
}

export class ControlClient {
  /** HOST:PORT as given, for messages. */
  readonly server: string;
  /** The server's IP address, HOST resolved: where requests go, and where recv takes its stream from. */
  readonly serverAddress: string;
  readonly #socket: udp.ConnectedSocket<"buffer">;
  readonly #key: Uint8Array | undefined;
  readonly #waiting = new Map<string, (reply: ControlReply) => void>();
  /** Called for every reply, matched or not (pool mode listens here). */
  onReply: ((reply: ControlReply) => void) | null = null;

  private constructor(server: string, serverAddress: string, socket: udp.ConnectedSocket<"buffer">, key: Uint8Array | undefined) {
    this.server = server;
    this.serverAddress = serverAddress;
    this.#socket = socket;
    this.#key = key;
  }

  /**
   * Opens a socket connected to `server` (HOST:PORT), from the local address `bind` if given.
   * Throws UsageError or PacerError.
   */
  static async open(server: string, key?: Uint8Array, bind?: string): Promise<ControlClient> {
    const { host, port } = parseServerAddress(server);
    const { address, family } = await resolveHost(host);
    let client: ControlClient | null = null;
    let socket: udp.ConnectedSocket<"buffer">;
    try {
      socket = await openUdpSocket({
        // Unbound, Bun's socket is IPv4, and an IPv6 server could not be reached (EAFNOSUPPORT).
        hostname: bind ?? (family === 6 ? "::" : "0.0.0.0"),
        connect: { hostname: address, port },
        onData: (data) => {
          if (client) client.#receive(data);
        },
        // ECONNREFUSED while the server is down: the next retry tries again.
        onError: () => {},
      });
    } catch (error) {
      // Bun throws some socket errors at once and rejects with others.
      throw new PacerError(`cannot open a UDP socket to ${server}: ${(error as Error).message}`);
    }
    client = new ControlClient(server, address, socket, key);
    return client;
  }

  /** The local address the server sees this client as (the interface that routes to it). */
  get localAddress(): string {
    return this.#socket.address.address;
  }

  /** Sends one request datagram once. Returns false if the socket refused it (server down). */
  send(id: string, op: Op, args: Readonly<Record<string, unknown>>): boolean {
    const bytes = encodeRequest(
      { v: 1, id, ts: Date.now(), op, args },
      this.#key,
      this.#key ? {} : { padTo: MAX_DATAGRAM },
    );
    try {
      return this.#socket.send(bytes);
    } catch {
      return false;
    }
  }

  /** Sends `op` and resends it until a reply arrives; rejects with NoReplyError after the TTL. */
  request(op: Op, args: Readonly<Record<string, unknown>>, options: RequestOptions): Promise<ControlReply> {
    const id = options.id ?? newRequestId();
    const deadline = performance.now() + options.ttlMs;
    return new Promise((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      let gap = FIRST_RETRY_MS;
      const finish = () => {
        clearTimeout(timer);
        this.#waiting.delete(id);
      };
      this.#waiting.set(id, (reply) => {
        finish();
        resolve(reply);
      });
      const attempt = () => {
        const left = deadline - performance.now();
        if (left <= 0) {
          finish();
          reject(new NoReplyError(noReplyMessage(this.server, options.ttlMs, this.#key !== undefined)));
          return;
        }
        this.send(id, op, args);
        timer = setTimeout(attempt, Math.min(gap, left));
        gap = Math.min(gap * 2, MAX_RETRY_MS);
      };
      attempt();
    });
  }

  close(): void {
    this.#socket.close();
  }

  #receive(data: Uint8Array): void {
    const decoded = decodeReply(data);
    if (!decoded.ok) return; // not a reply of ours: ignore
    const reply = decoded.reply;
    this.onReply?.(reply);
    if (reply.id !== null) this.#waiting.get(reply.id)?.(reply);
  }
}

/**
 * "no reply from SERVER within TTL", and what to check. A keyed server drops unsigned requests
 * without a word, so silence is what a missing key looks like: a client without one is told of
 * --key (more firmly when the server is not on loopback, where a server always has a key).
 */
export function noReplyMessage(server: string, ttlMs: number, keyed: boolean): string {
  return `no reply from ${server} within ${formatSeconds(ttlMs)}; ${noReplyHint(server, keyed)}`;
}

function noReplyHint(server: string, keyed: boolean): string {
  if (keyed) return "is the server running there, and is the key its key_file?";
  let host = "";
  try {
    host = parseServerAddress(server).host;
  } catch {
    // a malformed address never got this far
  }
  return isLoopbackHost(host)
    ? "is the server running there? If it has a key_file, it ignores requests without one: pass --key FILE"
    : "a server off loopback always has a key_file and ignores requests without it: pass --key FILE";
}

/** "5 s", "0.5 s": TTLs as people write them; one under a millisecond by its own digits ("0.0001 s"), not rounded to "0 s". */
export function formatSeconds(ms: number): string {
  const seconds = ms / 1000;
  if (seconds === 0 || seconds >= 0.001) return `${Number(seconds.toFixed(3))} s`;
  // Never in exponent form (1e-7), which --ttl does not take back.
  return `${seconds.toLocaleString("en-US", { maximumSignificantDigits: 3, useGrouping: false })} s`;
}
