/**
 * `pacer acquire`'s sender against a real TCP peer that stops reading: what it cannot write
 * stays held within --buffer (the oldest dropped and counted), it is not counted as sent, and
 * it waits for one drain rather than adding a listener per chunk.
 */
import { expect, test } from "bun:test";
import { createServer, type Socket } from "node:net";
import { LiveSender } from "../../client/live_sender.ts";
import { createLogger, silentLogger } from "../../foundation/log.ts";
import { LIVE_GREETING_PREFIX } from "../../protocol/live_handshake.ts";
import { freeTcpPort } from "../helpers/ports.ts";

test("a backed-up peer: held stays within --buffer, sent counts only what the connection took, one drain listener", async () => {
  let peer: Socket | null = null;
  const server = createServer((socket) => {
    peer = socket;
    socket.pause(); // a server that stops reading
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.message);
  process.on("warning", onWarning);
  const bufferBytes = 1 << 20;
  const sender = new LiveSender({ host: "127.0.0.1", port, bufferBytes, log: silentLogger });
  try {
    sender.start();
    for (let i = 0; i < 200 && !sender.connected; i++) await Bun.sleep(10); // a plain listener: 1 s greeting wait
    expect(sender.connected).toBe(true);
    const chunk = 64 * 1024;
    let pushed = 0;
    for (let i = 0; i < 1000; i++) {
      sender.push(new Uint8Array(chunk));
      pushed += chunk;
      if (i % 50 === 0) await Bun.sleep(1); // let the kernel's buffers fill
    }
    const { sentBytes, droppedBytes } = sender.counters;
    expect(sender.heldBytes).toBeLessThanOrEqual(bufferBytes);
    expect(sentBytes + droppedBytes + sender.heldBytes).toBe(pushed);
    expect(droppedBytes).toBeGreaterThan(0);
    // What counts as sent fits in the kernel's and the socket's buffers, far short of all pushed.
    expect(sentBytes).toBeLessThan(pushed / 4);
    await Bun.sleep(10);
    expect(warnings.filter((w) => w.includes("MaxListeners"))).toEqual([]);

    // The peer reads again: everything held arrives.
    let received = 0;
    (peer as Socket | null)!.on("data", (d: Buffer) => (received += d.length));
    (peer as Socket | null)!.resume();
    await sender.finish();
    expect(sender.heldBytes).toBe(0);
    await Bun.sleep(50);
    expect(received).toBe(sender.counters.sentBytes);
    expect(received + sender.counters.droppedBytes).toBe(pushed);
  } finally {
    process.off("warning", onWarning);
    sender.stop();
    server.close();
  }
}, 20_000);

test("a standby source says once that the channel has another source, and again only after it has connected since", async () => {
  // A channel that is busy for the first four connections, open for the fifth, busy after it.
  let connections = 0;
  const server = createServer((socket) => {
    connections++;
    socket.on("error", () => {});
    if (connections === 5) socket.write(`${LIVE_GREETING_PREFIX}open\n`, () => setTimeout(() => socket.destroy(), 50));
    else socket.end(`${LIVE_GREETING_PREFIX}busy\n`);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  const lines: string[] = [];
  const log = createLogger({ level: "info", write: (line) => lines.push(line) });
  const sender = new LiveSender({ host: "127.0.0.1", port, bufferBytes: 1 << 16, log });
  const busyLines = () => lines.filter((l) => l.includes("another source")).length;
  try {
    sender.start();
    for (let i = 0; i < 400 && connections < 4; i++) await Bun.sleep(10);
    expect(connections).toBe(4);
    expect(busyLines()).toBe(1);
    // The sixth connection's greeting may be counted by the server before the sender has read it.
    for (let i = 0; i < 800 && busyLines() < 2; i++) await Bun.sleep(10);
    expect(sender.counters.connections).toBe(1);
    expect(busyLines()).toBe(2);
  } finally {
    sender.stop();
    server.close();
  }
}, 20_000);

test("a pinned head (a WAV header) goes first, whatever the buffer dropped while nothing listened", async () => {
  const port = freeTcpPort();
  const sender = new LiveSender({ host: "127.0.0.1", port, bufferBytes: 64 * 1024, log: silentLogger });
  const head = new Uint8Array(44).fill(0x52);
  let server: ReturnType<typeof createServer> | null = null;
  try {
    sender.pin(head);
    sender.start();
    // 1 MiB while nothing listens: all but the newest 64 KiB are dropped, oldest first.
    for (let i = 0; i < 64; i++) sender.push(new Uint8Array(16 * 1024).fill(i));
    expect(sender.counters.droppedBytes).toBeGreaterThan(900 * 1024);
    const received: Buffer[] = [];
    server = createServer((socket) => socket.on("data", (d: Buffer) => received.push(d)));
    await new Promise<void>((resolve) => server!.listen(port, "127.0.0.1", resolve));
    await sender.finish();
    await Bun.sleep(50);
    const all = Buffer.concat(received);
    expect(all.subarray(0, 44).equals(Buffer.from(head))).toBe(true);
    // Then the newest chunks, whole, in order.
    expect(all.length - 44).toBe(sender.counters.sentBytes - 44);
    expect(all[44]).toBe(64 - (all.length - 44) / (16 * 1024));
  } finally {
    sender.stop();
    server?.close();
  }
}, 20_000);

test("an IPv6 channel is named in brackets, as --to takes it: [::1]:PORT, not ::1:PORT, which names no port", async () => {
  // A port nobody listens on: the sender says so once, naming where it tried.
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "::1", resolve));
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const lines: string[] = [];
  const log = createLogger({ level: "info", write: (line) => lines.push(line) });
  const sender = new LiveSender({ host: "::1", port, bufferBytes: 1 << 16, log });
  try {
    sender.start();
    for (let i = 0; i < 200 && lines.length === 0; i++) await Bun.sleep(10);
    expect(lines).toEqual([`pacer: warn: nothing is listening there (connection refused); trying again to=[::1]:${port}`]);
  } finally {
    sender.stop();
  }
});
