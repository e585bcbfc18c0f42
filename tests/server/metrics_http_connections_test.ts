/**
 * Story: a client that opens connections to the HTTP endpoint and keeps them open must not take
 * the server's file descriptors. Before, every connection was taken: with 500 held open against a
 * limit of 400 descriptors, a play failed (`media root … is unavailable (EMFILE)`) and the server
 * spun on `accept` at a whole core until they closed. Now the endpoint holds at most 256 (32 from
 * one source) and closes the rest as they come, and a request's head must end within 5 s.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect, type Socket } from "node:net";
import { readFileSync } from "node:fs";
import { runPacer } from "../helpers/pacer.ts";
import { freeTcpPort, type ServeFixture, startServe } from "./serve_fixture.ts";

let serve: ServeFixture;
const httpPort = freeTcpPort();
beforeAll(async () => {
  serve = await startServe({ config: `http = "127.0.0.1:${httpPort}"`, launcher: ["prlimit", "--nofile=400:400"] });
});
afterAll(async () => {
  await serve.stop();
  serve.cleanup();
});

/** CPU ticks (user + system) the server has used. */
function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

/** A connection from `from` that sends nothing; resolves once connected (or refused at once). */
function idleConnection(from: string): Promise<Socket> {
  return new Promise((resolve) => {
    const socket = connect({ port: httpPort, host: "127.0.0.1", localAddress: from }, () => resolve(socket));
    socket.on("error", () => resolve(socket));
  });
}

test("500 connections held open leave the server its descriptors and its CPU: a play still starts", async () => {
  const pid = serve.child.pid!;
  const held: Socket[] = [];
  try {
    // 25 addresses × 20: each within the per-source bound, 500 in all against 400 descriptors.
    for (let i = 0; i < 500; i++) held.push(await idleConnection(`127.0.2.${1 + (i % 25)}`));
    await Bun.sleep(500);
    const before = cpuTicks(pid);
    await Bun.sleep(1_000);
    // A clock tick is 10 ms: under half of the second, where the spin took all of it.
    expect(cpuTicks(pid) - before).toBeLessThan(50);
    const play = await runPacer(["ctl", "--server", serve.address, "--ttl", "3", "play", "clip.ts", "--to", "udp://127.0.0.1:9"]);
    expect(play.stderr).toBe("");
    expect(play.code).toBe(0);
    expect((await runPacer(["ctl", "--server", serve.address, "stop", play.stdout.trim()])).code).toBe(0);
  } finally {
    for (const socket of held) socket.destroy();
  }
}, 30_000);

// These two mostly wait (5 and 10 s), from addresses of their own: side by side.
test.concurrent("a request head that comes a byte at a time is cut off 5 s after it began, however steadily it comes", async () => {
  // Bun.serve took each byte as activity: a byte a second kept such a connection 12 s.
  const started = performance.now();
  const closedAfterMs = await new Promise<number>((resolve) => {
    const socket = connect({ port: httpPort, host: "127.0.0.1", localAddress: "127.0.3.1" }, () => socket.write("GET /metrics HTTP/1.1\r\n"));
    const drip = setInterval(() => socket.write("X"), 500);
    const closed = () => {
      clearInterval(drip);
      socket.destroy();
      resolve(performance.now() - started);
    };
    socket.on("close", closed);
    socket.on("error", closed);
    setTimeout(closed, 15_000);
  });
  expect(closedAfterMs).toBeGreaterThan(4_500);
  expect(closedAfterMs).toBeLessThan(9_000);
}, 30_000);

test.concurrent("a dashboard asking once a second on one kept-alive connection keeps it past the idle timeout", async () => {
  const replies = await new Promise<string[]>((resolve) => {
    const got: string[] = [];
    let text = "";
    const socket = connect({ port: httpPort, host: "127.0.0.1", localAddress: "127.0.3.2" });
    const ask = () => socket.write("GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    socket.on("connect", ask);
    socket.setEncoding("latin1");
    socket.on("data", (d: string) => {
      text += d;
      // Each answer is one head and a body of its content-length.
      for (let end = text.indexOf("\r\n\r\n"); end >= 0; end = text.indexOf("\r\n\r\n")) {
        const length = Number(/content-length: (\d+)/i.exec(text.slice(0, end))?.[1]);
        if (text.length < end + 4 + length) break;
        got.push(text.slice(0, text.indexOf("\r\n")));
        text = text.slice(end + 4 + length);
        if (got.length === 11) {
          socket.destroy();
          resolve(got);
        } else setTimeout(ask, 1_000);
      }
    });
    const closed = () => resolve(got);
    socket.on("close", closed);
    socket.on("error", closed);
  });
  // Eleven answers over ten seconds, past the 5 s idle timeout (checked every 4 s, so cut at 5 to 9 s).
  expect(replies).toEqual(Array<string>(11).fill("HTTP/1.1 200 OK"));
}, 30_000);
