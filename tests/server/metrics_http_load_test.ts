/**
 * Story: the HTTP endpoint runs on the thread that runs the sends, so a runaway poller must not
 * take that thread. A client asking faster than its share is answered 429 at once, many clients
 * together beyond the overall rate 503, and however fast anyone scrapes, /metrics and /status are
 * rendered at most once a second. (Rendered per request, two clients polling /metrics on new
 * connections stalled a 1 Mbit/s stream among 288 destinations for seconds.)
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect } from "node:net";
import { runPacer } from "../helpers/pacer.ts";
import { udpReceiver } from "../helpers/udp_receiver.ts";
import { freeTcpPort, type ServeFixture, startServe } from "./serve_fixture.ts";

let serve: ServeFixture;
const httpPort = freeTcpPort();
beforeAll(async () => {
  serve = await startServe({ config: `interest_timeout = 60\nhttp = "127.0.0.1:${httpPort}"` });
});
afterAll(async () => {
  await serve.stop();
  serve.cleanup();
});

interface Reply {
  status: number;
  head: string;
  body: string;
}

/** One GET on a new connection from `from` (any 127/8 address is loopback, and its own source); resolves when the server closes it. */
function get(path: string, from = "127.0.0.1"): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port: httpPort, host: "127.0.0.1", localAddress: from }, () =>
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`),
    );
    let text = "";
    socket.setEncoding("utf8");
    socket.on("data", (d) => (text += d));
    socket.on("error", reject);
    socket.on("close", () => {
      const split = text.indexOf("\r\n\r\n");
      resolve({ status: Number(text.split(" ")[1]), head: text.slice(0, split).toLowerCase(), body: text.slice(split + 4) });
    });
  });
}

const ctl = (...args: string[]) => runPacer(["ctl", "--server", serve.address, ...args]);

test("a client polling faster than its share gets 429 with Retry-After, and control still answers", async () => {
  const replies: Reply[] = [];
  for (let i = 0; i < 60; i++) replies.push(await get("/metrics", "127.0.0.2"));
  const served = replies.filter((r) => r.status === 200).length;
  const refused = replies.filter((r) => r.status === 429);
  expect(replies[0]!.status).toBe(200);
  // A burst of 20, then 10 a second: far fewer than 60, however slow this host.
  expect(served).toBeGreaterThanOrEqual(20);
  expect(refused.length).toBeGreaterThan(0);
  expect(served + refused.length).toBe(60);
  expect(refused[0]!.head).toContain("retry-after: 1");
  expect(refused[0]!.head).toContain("connection: close");
  // Another address has its own share, and is told how many were refused.
  await Bun.sleep(1_100); // past the cached body's age
  const metrics = await get("/metrics", "127.0.0.3");
  expect(metrics.status).toBe(200);
  expect(Number(/^pacer_http_refused_total\{reason="rate_limited"\} (\d+)$/m.exec(metrics.body)?.[1])).toBeGreaterThanOrEqual(refused.length);
  expect((await ctl("ping")).code).toBe(0);
});

test("many clients together beyond the overall rate get 503", async () => {
  await Bun.sleep(2_000); // the shared bucket refills after the test before
  // 12 addresses × 15 requests at once: each within its own share, 180 against a burst of 100.
  const sources = Array.from({ length: 12 }, (_, i) => `127.0.1.${i + 1}`);
  const replies = await Promise.all(sources.flatMap((from) => Array.from({ length: 15 }, () => get("/status", from))));
  const count = (status: number) => replies.filter((r) => r.status === status).length;
  expect(count(429)).toBe(0);
  expect(count(503)).toBeGreaterThan(0);
  expect(count(200)).toBeGreaterThanOrEqual(100);
  expect(count(200) + count(503)).toBe(180);
  expect(replies.find((r) => r.status === 503)!.head).toContain("retry-after: 1");
});

test("/metrics and /status are rendered at most once a second while a stream runs", async () => {
  await Bun.sleep(2_000);
  const rx = await udpReceiver();
  try {
    const job = (await ctl("play", "clip.ts", "--loop", "--to", `udp://127.0.0.1:${rx.port}`)).stdout.trim();
    await Bun.sleep(300);
    const first = { metrics: await get("/metrics"), status: await get("/status") };
    await Bun.sleep(200); // ~19 more datagrams sent: a fresh render would count them
    expect((await get("/metrics")).body).toBe(first.metrics.body);
    expect((await get("/status")).body).toBe(first.status.body);
    await Bun.sleep(1_000);
    const packets = (r: Reply) => Number(/^pacer_packets_total (\d+)$/m.exec(r.body)?.[1]);
    expect(packets(await get("/metrics"))).toBeGreaterThan(packets(first.metrics));
    expect(JSON.parse((await get("/status")).body).jobs.some((j: { id: string }) => j.id === job)).toBe(true);
    await ctl("stop", job);
  } finally {
    rx.close();
  }
});

test("a GET that sends a body without end is answered 400 and its connection closed, so the server reads no more of it", async () => {
  // Kept open, the server read such a body for as long as it came: half a core at loopback speed.
  const outcome = await new Promise<{ text: string; closedAfterMs: number | null }>((resolve) => {
    const started = performance.now();
    let text = "";
    let closedAfterMs: number | null = null;
    const socket = connect({ port: httpPort, host: "127.0.0.1", localAddress: "127.0.0.4" }, () => {
      socket.write("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n");
      const chunk = `10000\r\n${"a".repeat(0x10000)}\r\n`;
      // 6.5 MB/s for at most 3 s: gentle, and far longer than a refusal takes.
      const feeding = setInterval(() => {
        if (closedAfterMs !== null || performance.now() - started > 3_000) {
          clearInterval(feeding);
          socket.destroy();
          resolve({ text, closedAfterMs });
          return;
        }
        socket.write(chunk);
      }, 10);
    });
    socket.setEncoding("utf8");
    socket.on("data", (d) => (text += d));
    const closed = () => (closedAfterMs ??= performance.now() - started);
    socket.on("end", closed);
    socket.on("close", closed);
    socket.on("error", closed);
  });
  expect(outcome.closedAfterMs).not.toBeNull();
  expect(outcome.closedAfterMs!).toBeLessThan(1_000);
  expect(outcome.text.split("\r\n")[0]).toBe("HTTP/1.1 400 Bad Request");
  expect(outcome.text).toContain("a GET carries no body");
  // A GET without a body is served as ever.
  expect((await get("/metrics", "127.0.0.4")).status).toBe(200);
});
