/**
 * A small HTTP/1.1 listener for GET requests (RFC 9112), with a bound on its connections: the
 * transport of the metrics endpoint (metrics_http.ts). At most `maxConnections` are open, and
 * `maxPerSource` from one source (policy.ts sourceKey); one beyond is closed as it comes. A
 * connection is closed when no byte comes for `idleTimeoutS`, and when a request's head has not
 * ended `idleTimeoutS` after its first byte, however slowly its bytes come.
 *
 * Why not Bun.serve: it takes every connection. A client opening connections faster than they time
 * out used up the server's file descriptors (plays then failed: `EMFILE`), and Bun's listener then
 * spun on `accept` at a whole core. Node's `http` server in Bun has a bound, but cost 2.4 times
 * the CPU per refused request under a flood and reset some connections unanswered (measured).
 *
 * A request is its head: the request line and headers, at most MAX_HEAD_BYTES. One that says a
 * body follows is answered and its connection closed (nothing here reads a body); so is one that
 * two readers could frame two ways (a second Content-Length, a bare LF: parseHead). Requests on a
 * connection are answered one at a time, in order; HTTP/1.0 and `Connection: close` close after.
 *
 * @example
 * ```ts
 * const http = listenHttp({ host: "127.0.0.1", port: 9090, maxConnections: 256, maxPerSource: 32, idleTimeoutS: 5 },
 *   (request) => ({ status: 200, headers: { "content-type": "text/plain" }, body: new TextEncoder().encode("ok\n") }));
 * http.stop();
 * ```
 */
import type { Socket, TCPSocketListener } from "bun";
import { sourceKey } from "./policy.ts";

/** A request line and headers beyond this are 431, as Bun.serve answered them. */
const MAX_HEAD_BYTES = 16 * 1024;
/**
 * An answer's body beyond this is written from the caller's bytes, not copied beside the head: a
 * reader that reads nothing held a copy of its whole answer, so 40 connections asking for an 8 MiB
 * body (a /status of many jobs) held 336 MB until their idle timeout (measured).
 */
const COPIED_BODY_BYTES = 64 * 1024;
/** Bytes read ahead of the answers (pipelined requests, a body) beyond this close the connection. */
const PILED_UP_BYTES = 4 * MAX_HEAD_BYTES;
const REASONS: Record<number, string> = {
  200: "OK",
  400: "Bad Request",
  404: "Not Found",
  405: "Method Not Allowed",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  503: "Service Unavailable",
  505: "HTTP Version Not Supported",
};
const REQUEST_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) (\S+) HTTP\/(\d\.\d)$/;
/** `name: value`, the name a token, the value without CR, LF or NUL. */
const HEADER_FIELD = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):([^\r\n\0]*)$/;
/**
 * Headers a request has at most one of: a proxy reading the first Content-Length and this the
 * last would see a body where this saw the next request (a second Transfer-Encoding is a body
 * either way, refused as one).
 */
const SINGLE_HEADERS = new Set(["content-length", "host"]);
const utf8 = new TextEncoder();

export interface HttpRequest {
  readonly method: string;
  /** The path asked for (of `/x?y`, or of an absolute target); null when the target or its Host is malformed. */
  readonly path: string | null;
  /** It says a body follows (Content-Length above 0, or any Transfer-Encoding). */
  readonly hasBody: boolean;
  /** The peer's address. */
  readonly address: string;
}

export interface HttpAnswer {
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body: string | Uint8Array;
  /** Close the connection once it is sent. */
  readonly close?: boolean;
}

export interface HttpListenerShape {
  readonly host: string;
  readonly port: number;
  readonly maxConnections: number;
  readonly maxPerSource: number;
  readonly idleTimeoutS: number;
}

export interface HttpListener {
  readonly port: number;
  stop(): void;
  /** Stops accepting; connections already open go on. */
  pause(): void;
  /** Listens again on the port first bound; throws as Bun.listen does. */
  resume(): void;
}

interface Connection {
  readonly source: string;
  /** Bytes of the request head(s) read and not yet answered, latin1. */
  head: string;
  /** When the head being read began (ms), or null between requests. */
  headSince: number | null;
  /** A request is being answered: the next waits. */
  busy: boolean;
  /** The rest of an answer the socket has not taken yet, in order. */
  pending: Uint8Array[] | null;
  closeAfter: boolean;
}

/** Starts listening; throws as Bun.listen does when the address cannot be bound. */
export function listenHttp(shape: HttpListenerShape, handle: (request: HttpRequest) => HttpAnswer | Promise<HttpAnswer>): HttpListener {
  let open = 0;
  const bySource = new Map<string, number>();
  /**
   * The connections open, for stop: those accepted before a pause belong to the listener paused,
   * which the new one's stop(true) does not close.
   */
  const sockets = new Set<Socket<Connection | undefined>>();
  let stopped = false;
  const listen = (port: number): TCPSocketListener<Connection | undefined> => Bun.listen<Connection | undefined>({
    hostname: shape.host,
    port,
    socket: {
      open(socket) {
        const source = sourceKey(socket.remoteAddress ?? "");
        const fromSource = bySource.get(source) ?? 0;
        if (open >= shape.maxConnections || fromSource >= shape.maxPerSource) {
          socket.terminate();
          return;
        }
        open++;
        bySource.set(source, fromSource + 1);
        sockets.add(socket);
        socket.data = { source, head: "", headSince: null, busy: false, pending: null, closeAfter: false };
        socket.timeout(shape.idleTimeoutS);
      },
      data(socket, chunk) {
        const connection = socket.data;
        if (!connection) return;
        // The idle clock starts again with each byte (uSockets does not restart it); a head's own
        // clock does not (headSince).
        socket.timeout(shape.idleTimeoutS);
        connection.headSince ??= performance.now();
        connection.head += chunk.toString("latin1");
        // Requests piling up behind one being answered (or a body nothing reads): held within a bound.
        if (connection.head.length > PILED_UP_BYTES) {
          socket.terminate();
          return;
        }
        serveNext(socket, connection);
      },
      drain(socket) {
        const connection = socket.data;
        if (connection?.pending) write(socket, connection, connection.pending);
      },
      timeout(socket) {
        socket.terminate();
      },
      close(socket) {
        sockets.delete(socket);
        const connection = socket.data;
        if (!connection) return;
        socket.data = undefined;
        open--;
        const left = bySource.get(connection.source)! - 1;
        if (left === 0) bySource.delete(connection.source);
        else bySource.set(connection.source, left);
      },
      error() {},
    },
  });
  let listener = listen(shape.port);
  const port = listener.port;

  /** Answers the requests whose heads have come, one at a time. */
  function serveNext(socket: Socket<Connection | undefined>, connection: Connection): void {
    while (!connection.busy && socket.data === connection) {
      const end = connection.head.indexOf("\r\n\r\n");
      if (end < 0) {
        const tooSlow = connection.headSince !== null && performance.now() - connection.headSince > shape.idleTimeoutS * 1000;
        if (connection.head.length > MAX_HEAD_BYTES) respond(socket, connection, { status: 431, body: "", close: true });
        else if (tooSlow) socket.terminate();
        return;
      }
      if (end > MAX_HEAD_BYTES) return respond(socket, connection, { status: 431, body: "", close: true });
      const text = connection.head.slice(0, end);
      connection.head = connection.head.slice(end + 4);
      connection.headSince = connection.head.length > 0 ? performance.now() : null;
      const request = parseHead(text, socket.remoteAddress ?? "");
      if (typeof request === "number") return respond(socket, connection, { status: request, body: "", close: true });
      let answer: HttpAnswer | Promise<HttpAnswer>;
      try {
        answer = handle(request.request);
      } catch {
        answer = { status: 500, body: "internal error\n" };
      }
      const closeAfter = request.closeAfter || request.request.hasBody;
      if (answer instanceof Promise) {
        connection.busy = true;
        answer.then(
          (a) => respond(socket, connection, { ...a, close: a.close || closeAfter }),
          () => respond(socket, connection, { status: 500, body: "internal error\n", close: closeAfter }),
        );
        return;
      }
      respond(socket, connection, { ...answer, close: answer.close || closeAfter });
    }
  }

  function respond(socket: Socket<Connection | undefined>, connection: Connection, answer: HttpAnswer): void {
    if (socket.data !== connection) return; // closed meanwhile
    const body = typeof answer.body === "string" ? utf8.encode(answer.body) : answer.body;
    connection.closeAfter = answer.close === true;
    let head = `HTTP/1.1 ${answer.status} ${REASONS[answer.status] ?? ""}\r\n`;
    for (const [name, value] of Object.entries(answer.headers ?? {})) head += `${name}: ${value}\r\n`;
    head += `content-length: ${body.length}\r\ndate: ${new Date().toUTCString()}\r\n`;
    if (connection.closeAfter) head += "connection: close\r\n";
    const head8 = utf8.encode(head + "\r\n");
    // The head goes out with the body's start, in one write; the rest of the body is the caller's
    // own bytes (a rendered body, shared by every answer), never copied per connection.
    const start = body.subarray(0, COPIED_BODY_BYTES);
    const first = new Uint8Array(head8.length + start.length);
    first.set(head8);
    first.set(start, head8.length);
    connection.busy = true;
    write(socket, connection, body.length > start.length ? [first, body.subarray(start.length)] : [first]);
  }

  /** Writes what the socket takes of `chunks`, in order; the rest waits for drain. Once all is out, the next request. */
  function write(socket: Socket<Connection | undefined>, connection: Connection, chunks: Uint8Array[]): void {
    let written = 0;
    while (chunks.length > 0) {
      written = socket.write(chunks[0]!);
      if (written < 0) break;
      if (written < chunks[0]!.length) {
        chunks[0] = chunks[0]!.subarray(written);
        connection.pending = chunks;
        return;
      }
      chunks.shift();
    }
    connection.pending = null;
    if (connection.closeAfter || written < 0) {
      socket.end();
      return;
    }
    connection.busy = false;
    socket.timeout(shape.idleTimeoutS);
    serveNext(socket, connection);
  }

  return {
    port,
    stop: () => {
      stopped = true;
      listener.stop(true);
      for (const socket of sockets) socket.terminate();
      sockets.clear();
    },
    // Connections already open go on (descriptor_watch.ts); a resume listens on the port first bound.
    pause: () => listener.stop(false),
    // Not after a stop: a look of the watch under way as the server stopped would listen for good.
    resume: () => {
      if (!stopped) listener = listen(port);
    },
  };
}

/** The request a head asks, and whether its connection closes after; or the status that refuses it. */
function parseHead(text: string, address: string): { request: HttpRequest; closeAfter: boolean } | number {
  const lines = text.split("\r\n");
  const line = REQUEST_LINE.exec(lines[0]!);
  if (!line) return 400;
  const [, method, target, version] = line;
  if (version !== "1.1" && version !== "1.0") return 505;
  const headers = new Map<string, string>();
  for (const header of lines.slice(1)) {
    // A name is a token right before its colon: no folded line (leading space), no space before
    // the colon. A bare CR or LF is no line end here but is one to some readers, so refused too.
    const field = HEADER_FIELD.exec(header);
    if (!field) return 400;
    const name = field[1]!.toLowerCase();
    // Two of these are two readings of where the request ends, or of whom it is for (RFC 9112 §6.3, §3.2).
    if (headers.has(name) && SINGLE_HEADERS.has(name)) return 400;
    headers.set(name, field[2]!.trim());
  }
  const length = headers.get("content-length");
  const hasBody = headers.has("transfer-encoding") || (length !== undefined && length !== "0");
  const connection = headers.get("connection")?.toLowerCase();
  const closeAfter = version === "1.0" ? connection !== "keep-alive" : connection === "close";
  return { request: { method: method!, path: pathOf(target!, headers.get("host")), hasBody, address }, closeAfter };
}

/** The path of a target (`/metrics?x`, or a proxy's absolute form); null when it or the Host is malformed ("[::1"). */
function pathOf(target: string, host: string | undefined): string | null {
  try {
    return new URL(target, host === undefined ? "http://localhost" : `http://${host}`).pathname;
  } catch {
    return null;
  }
}
