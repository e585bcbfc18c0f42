/**
 * `tcp://:PORT` (listen) and `tcp://HOST:PORT` (connect): a byte stream whose end is the end of
 * the input. A listener takes one connection and stops listening, so a second sender is refused
 * by the kernel rather than mixed in. The bytes queue as a pipe's do (streamSource), bounded,
 * with TCP's own flow control holding the sender back.
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
  return streamSource(label, socket);
}

/** Listens, and resolves at once: the bytes of the first connection flow in when it comes. */
async function listen(label: string, endpoint: Endpoint): Promise<StreamSource> {
  const bytes = new PassThrough({ highWaterMark: 1 << 20 });
  let connection: Socket | null = null;
  const server = createServer((socket) => {
    if (connection) {
      socket.destroy();
      return;
    }
    connection = socket;
    server.close(); // one connection: nobody else is accepted
    socket.on("error", (error) => bytes.destroy(error));
    socket.pipe(bytes);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "EADDRINUSE") reject(new TemporaryError(`${label}: port ${endpoint.port} is in use`));
      else reject(new PacerError(`${label}: cannot listen: ${error.message}`));
    });
    server.listen({ host: endpoint.host || undefined, port: endpoint.port }, resolve);
  });
  const source = streamSource(label, bytes);
  const close = source.close;
  source.close = () => {
    server.close();
    (connection as Socket | null)?.destroy();
    close();
  };
  return source;
}
