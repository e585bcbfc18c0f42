/**
 * The HTTP listener's pause and resume (descriptor_watch.ts) against its stop: a stop after a
 * pause and a resume closes the connections opened before the pause too (Bun's stop(true) of the
 * new listener closes only its own), and a resume that comes after the stop (a look of the watch
 * under way while the server stopped) does not listen again.
 */
import { expect, test } from "bun:test";
import { connect, type Socket } from "node:net";
import { listenHttp } from "../../server/http_listener.ts";

const SHAPE = { host: "127.0.0.1", port: 0, maxConnections: 8, maxPerSource: 8, idleTimeoutS: 30 };

function answered(socket: Socket): Promise<string> {
  return new Promise((resolve) => socket.once("data", (chunk) => resolve(chunk.toString("latin1"))));
}

function closed(socket: Socket, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    socket.once("close", () => (clearTimeout(timer), resolve(true)));
  });
}

function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => (socket.destroy(), resolve(true)));
    socket.once("error", () => resolve(false));
  });
}

test("a stop after a pause and a resume closes a connection from before the pause", async () => {
  const http = listenHttp(SHAPE, () => ({ status: 200, body: "ok\n" }));
  const socket = connect({ host: "127.0.0.1", port: http.port });
  socket.on("error", () => {});
  try {
    await new Promise((resolve) => socket.once("connect", resolve));
    socket.write("GET /status HTTP/1.1\r\nHost: x\r\n\r\n");
    expect(await answered(socket)).toStartWith("HTTP/1.1 200");
    http.pause();
    http.resume();
    http.stop();
    expect(await closed(socket, 1_000)).toBe(true);
  } finally {
    socket.destroy();
    http.stop();
  }
});

test("a resume after the stop does not listen again", async () => {
  const http = listenHttp(SHAPE, () => ({ status: 200, body: "ok\n" }));
  try {
    http.pause();
    http.stop();
    http.resume();
    expect(await connects(http.port)).toBe(false);
  } finally {
    http.stop();
  }
});
