/**
 * Story: a proxy in front of the HTTP endpoint, or anything else reading the same bytes, must not
 * see a different request boundary than the endpoint does. A head whose framing two readers can
 * take two ways (a second Content-Length, a bare LF, a folded or spaced header name, a second Host)
 * is refused 400 and its connection closed; it was taken as the last Content-Length or as one
 * header holding the rest of the line, so the body a proxy forwarded was answered as a request.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect } from "node:net";
import { freeTcpPort, type ServeFixture, startServe } from "./serve_fixture.ts";

let serve: ServeFixture;
const httpPort = freeTcpPort();
beforeAll(async () => {
  serve = await startServe({ config: `http = "127.0.0.1:${httpPort}"` });
});
afterAll(async () => {
  await serve.stop();
  serve.cleanup();
});

/** Sends `bytes` on one connection from its own address; resolves with each answer's status line once the server closes it (or after 3 s). */
function statusLines(bytes: string, from: string): Promise<string[]> {
  return new Promise((resolve) => {
    let text = "";
    const socket = connect({ port: httpPort, host: "127.0.0.1", localAddress: from }, () => socket.write(bytes, "latin1"));
    socket.setEncoding("latin1");
    socket.on("data", (d: string) => (text += d));
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      // Each answer is a head and a body of its content-length.
      const lines: string[] = [];
      for (let end = text.indexOf("\r\n\r\n"); end >= 0; end = text.indexOf("\r\n\r\n")) {
        lines.push(text.slice(0, text.indexOf("\r\n")));
        text = text.slice(end + 4 + Number(/content-length: (\d+)/i.exec(text.slice(0, end))?.[1]));
      }
      resolve(lines);
    };
    const timer = setTimeout(done, 3_000);
    socket.on("close", done);
    socket.on("error", done);
  });
}

/** A whole request a proxy would forward as the body of the one before it. */
const SMUGGLED = "GET /status HTTP/1.1\r\nHost: x\r\n\r\n";

test.each([
  ["a second Content-Length", `GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: ${SMUGGLED.length}\r\nContent-Length: 0\r\n\r\n${SMUGGLED}`],
  ["a bare LF ending a header", `GET /metrics HTTP/1.1\r\nHost: x\r\nX-A: 1\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`],
  ["a bare CR ending a header", `GET /metrics HTTP/1.1\r\nHost: x\r\nX-A: 1\rContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`],
  ["a space before a header's colon", `GET /metrics HTTP/1.1\r\nHost: x\r\nX-A : 1\r\n\r\n`],
  ["a folded header line", `GET /metrics HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n Content-Length: 0\r\n\r\n`],
  ["a second Host", `GET /metrics HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n`],
])("a head with %s is one 400, its connection closed", async (_, bytes) => {
  const from = `127.0.4.${1 + Math.floor(Math.random() * 250)}`;
  expect(await statusLines(bytes, from)).toEqual(["HTTP/1.1 400 Bad Request"]);
});

test("pipelined requests with plain heads are each answered, in order", async () => {
  const lines = await statusLines(`GET /metrics HTTP/1.1\r\nHost: x\r\n\r\nGET /nothing HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\nGET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, "127.0.4.251");
  expect(lines).toEqual(["HTTP/1.1 200 OK", "HTTP/1.1 404 Not Found", "HTTP/1.1 200 OK"]);
});
