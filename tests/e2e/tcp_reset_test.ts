/**
 * A TCP sender that resets its connection (killed, or closing with SO_LINGER 0) ends a `tcp://`
 * input as a close does: `record`, `play` and `acquire` keep every byte before the reset, say so in
 * one warning line, and end as they would at the input's end. A reset before any byte is the
 * input that sent nothing, not an errno.
 */
import { describe, expect, test } from "bun:test";
import { createServer } from "node:net";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { makeCbrTs, makeTempDir } from "../helpers/mpeg_fixtures.ts";
import { startPacer } from "../helpers/pacer.ts";
import { connectWhenListening, freeTcpPort } from "../helpers/ports.ts";
import { udpReceiver } from "../helpers/udp_receiver.ts";

/** Starts pacer and collects its stderr and exit code. */
function pacer(args: string[]) {
  const child = startPacer(args);
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  child.stdout.on("data", () => {});
  child.stdin.end();
  const exit = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  const killer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  return { stderr: () => stderr, exit: exit.finally(() => clearTimeout(killer)) };
}

/** Sends `bytes`, waits for them to leave, then resets the connection (an RST, not a FIN). */
async function sendThenReset(port: number, bytes: Uint8Array): Promise<void> {
  const socket = await connectWhenListening(port);
  if (bytes.length > 0) await new Promise<void>((resolve) => socket.write(bytes, () => resolve()));
  await Bun.sleep(300);
  socket.resetAndDestroy();
}

const RESET_LINE = (port: number) => `pacer: warn: tcp://:${port}: the sender reset the connection\n`;

describe("a TCP reset ends a tcp:// input", () => {
  test("record keeps every byte before the reset, warns once, prints its summary and exits 0", async () => {
    const { dir, cleanup } = makeTempDir();
    try {
      const port = freeTcpPort();
      const out = join(dir, "rec.ts");
      const run = pacer(["record", `tcp://:${port}`, "--out", out, "--duration", "10"]);
      const packets = makeCbrTs({ bitrate: 1_000_000, duration: 0.2 });
      await sendThenReset(port, packets);
      expect(await run.exit).toBe(0);
      expect(run.stderr()).toStartWith(RESET_LINE(port));
      expect(run.stderr()).toContain(`pacer: recorded 1 file, ${packets.length} bytes`);
      expect(run.stderr()).not.toContain("ECONNRESET");
      expect(Buffer.from(readFileSync(out)).equals(Buffer.from(packets))).toBe(true);
    } finally {
      cleanup();
    }
  });

  test("record: a reset before any byte is nothing arrived, exit 1, no errno", async () => {
    const { dir, cleanup } = makeTempDir();
    try {
      const port = freeTcpPort();
      const run = pacer(["record", `tcp://:${port}`, "--out", join(dir, "rec.ts"), "--duration", "10"]);
      await sendThenReset(port, new Uint8Array(0));
      expect(await run.exit).toBe(1);
      expect(run.stderr()).toBe(`${RESET_LINE(port)}pacer: error: nothing arrived from tcp://:${port}\n`);
    } finally {
      cleanup();
    }
  });

  test("play sends what came before the reset, warns, and exits 0; a reset before any byte is one error line", async () => {
    const port = freeTcpPort();
    const sink = await udpReceiver();
    const received = () => sink.packets.reduce((n, p) => n + p.data.length, 0);
    try {
      const run = pacer(["play", `tcp://:${port}`, "--latency", "0", "--to", `udp://127.0.0.1:${sink.port}`]);
      const stream = makeCbrTs({ bitrate: 2_000_000, duration: 0.5 });
      await sendThenReset(port, stream);
      expect(await run.exit).toBe(0);
      expect(run.stderr()).toBe(RESET_LINE(port));
      expect(received()).toBe(stream.length);

      const empty = pacer(["play", `tcp://:${port}`, "--to", `udp://127.0.0.1:${sink.port}`]);
      await sendThenReset(port, new Uint8Array(0));
      expect(await empty.exit).toBe(1);
      expect(empty.stderr()).toBe(`pacer: error: tcp://:${port}: the sender reset the connection before sending anything\n`);
    } finally {
      sink.close();
    }
  });

  test("acquire delivers what came before the reset, warns, and exits 0", async () => {
    const port = freeTcpPort();
    const chunks: Buffer[] = [];
    let delivered!: () => void;
    const closed = new Promise<void>((resolve) => (delivered = resolve));
    const server = createServer((s) => {
      s.on("data", (d: Buffer) => chunks.push(d));
      s.on("close", () => delivered());
    }).listen(0, "127.0.0.1");
    await new Promise((r) => server.once("listening", r));
    const serverPort = (server.address() as { port: number }).port;
    try {
      const run = pacer(["acquire", `tcp://:${port}`, "--to", `tcp://127.0.0.1:${serverPort}`]);
      const bytes = crypto.getRandomValues(new Uint8Array(200_000));
      await sendThenReset(port, bytes);
      expect(await run.exit).toBe(0);
      await closed;
      expect(Buffer.concat(chunks).equals(Buffer.from(bytes))).toBe(true);
      expect(run.stderr()).toContain(RESET_LINE(port));
      expect(run.stderr()).toContain("pacer: acquired 200000 bytes");
      expect(run.stderr()).not.toContain("ECONNRESET");
    } finally {
      server.close();
    }
  });
});
