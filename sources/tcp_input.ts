/**
 * `tcp://:PORT` (listen) and `tcp://HOST:PORT` (connect): a byte stream whose end is the end of
 * the input. A listener takes one connection and stops listening, so a second sender is refused
 * by the kernel rather than mixed in. The bytes queue as a pipe's do (streamSource), bounded,
 * with TCP's own flow control holding the sender back. A reset (RST) from the sender ends the
 * input as a close does, every byte before it kept, and says so once (Source.endNote): a sender
 * killed, or one that closes with SO_LINGER 0, is the end of a recording, not its failure.
 *
 * @example
 * ```ts
 * const input = await openTcpInput("tcp://:9000", parseEndpoint("tcp://:9000"));
 * ```
 */
import { createServer, connect, type Socket } from "node:net";
import { PassThrough } from "node:stream";
import { PacerError, TemporaryError } from "../foundation/errors.ts";
import type { Endpoint } from "../foundation/net/endpoint.ts";
import { resolveHost } from "../foundation/net/address.ts";
import { type StreamSource, streamSource } from "./stream_source.ts";

/** What a reset says, beside the input's label. */
export const RESET_NOTE = "the sender reset the connection";
/** Bytes queued between the socket and the source, as streamSource's own bound. */
const QUEUE_BYTES = 1 << 20;

export async function openTcpInput(label: string, endpoint: Endpoint): Promise<StreamSource> {
  if (endpoint.host === "" || endpoint.listen) return listen(label, endpoint);
  const { address } = await resolveHost(endpoint.host);
  const socket = connect({ host: address, port: endpoint.port });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", (error: NodeJS.ErrnoException) => {
      reject(new PacerError(`${label}: cannot connect: ${error.code === "ECONNREFUSED" ? "connection refused" : error.message}`));
    });
  });
  const input = socketInput(label);
  input.take(socket);
  return input.source;
}

/** Listens, and resolves at once: the bytes of the first connection flow in when it comes. */
async function listen(label: string, endpoint: Endpoint): Promise<StreamSource> {
  const input = socketInput(label);
  let connection: Socket | null = null;
  const server = createServer((socket) => {
    if (connection) {
      socket.destroy();
      return;
    }
    connection = socket;
    server.close(); // one connection: nobody else is accepted
    input.take(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "EADDRINUSE") reject(new TemporaryError(`${label}: port ${endpoint.port} is in use`));
      else reject(new PacerError(`${label}: cannot listen: ${error.message}`));
    });
    server.listen({ host: endpoint.host || undefined, port: endpoint.port }, resolve);
  });
  const close = input.source.close;
  input.source.close = () => {
    server.close();
    close();
  };
  return input.source;
}

/**
 * The source one connection's bytes flow into. Through a queue of its own rather than the socket
 * itself: a reset destroys the socket, and what it had handed over must still be read, then end.
 */
function socketInput(label: string): { source: StreamSource; take(socket: Socket): void } {
  const bytes = new PassThrough({ highWaterMark: QUEUE_BYTES });
  const source = streamSource(label, bytes);
  let connection: Socket | null = null;
  const close = source.close;
  source.close = () => {
    connection?.destroy();
    close();
  };
  return {
    source,
    take(socket) {
      connection = socket;
      socket.on("error", (error: NodeJS.ErrnoException) => {
        if (error.code !== "ECONNRESET") return void bytes.destroy(error);
        source.endNote = RESET_NOTE;
        bytes.end();
      });
      socket.pipe(bytes);
    },
  };
}
