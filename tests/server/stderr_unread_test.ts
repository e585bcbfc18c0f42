/**
 * A stderr nobody reads (a journal that stalls, a pipe whose reader stopped): `pacer serve` logs
 * through a thread of its own (foundation/line_writer.ts), so its streams keep time, it holds at
 * most 1 MiB of log for that stderr, and it says how many lines it dropped. Before, Bun's stderr
 * held every line the pipe did not take, without bound (all 20,001 here), and lost them at exit.
 */
import { expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { closeSync, constants, openSync, readSync, rmSync } from "node:fs";
import { join } from "node:path";
import { ControlClient } from "../../client/control_client.ts";
import { type WireArrivals, wireArrivals } from "../helpers/capture.ts";
import { MAIN } from "../helpers/pacer.ts";
import { udpReceiver } from "../helpers/udp_receiver.ts";
import { KEY, prepareServe, rawPeer } from "./serve_fixture.ts";

/** Everything the FIFO holds now (non-blocking). */
function drain(fd: number): string {
  const chunk = Buffer.alloc(1 << 16);
  let text = "";
  for (;;) {
    try {
      const n = readSync(fd, chunk);
      if (n === 0) return text;
      text += chunk.toString("utf8", 0, n);
    } catch (error) {
      if ((error as { code?: string }).code === "EAGAIN") return text;
      throw error;
    }
  }
}

test("a server whose stderr is not read keeps its stream on time, holds at most 1 MiB of log for it, and says how many lines it dropped", async () => {
  const prepared = await prepareServe({ keyed: true, limits: "requests_per_second = 1000000\nrequest_burst = 1000000" });
  const fifo = join(prepared.dir, "stderr.fifo");
  execFileSync("mkfifo", [fifo]);
  const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  const writer = openSync(fifo, constants.O_WRONLY);
  const server = Bun.spawn([process.execPath, MAIN, "--verbose", "serve", "--config", prepared.configPath], { stdin: "ignore", stdout: "ignore", stderr: writer });
  closeSync(writer);
  const rx = await udpReceiver();
  const junk = await rawPeer("127.0.0.2");
  let wire: WireArrivals | null = null;
  let client: ControlClient | null = null;
  try {
    wire = await wireArrivals(rx.port); // kernel arrival times: this process is busy flooding
    let log = "";
    for (let i = 0; i < 200 && !log.includes("pacer: serving"); i++) {
      await Bun.sleep(50);
      log += drain(reader);
    }
    expect(log).toContain("pacer: serving");
    client = await ControlClient.open(prepared.address, KEY);
    const played = await client.request("play", { source: "clip.ts", to: [`udp://127.0.0.1:${rx.port}`], loop: true }, { ttlMs: 3_000 });
    expect(played.ok).toBe(true);
    await Bun.sleep(500);
    // From here on nobody reads the server's stderr. Each unsigned datagram to a keyed server is
    // dropped with a debug line (~90 bytes): 20,000 of them are more than the pipe (64 KiB) and
    // the ring (1 MiB) hold together.
    const from = rx.packets.length;
    const junkBytes = new TextEncoder().encode('{"v":1,"id":"x","ts":0,"op":"ping","args":{}}');
    const missingMacs = async () => {
      const reply = await client!.request("status", {}, { ttlMs: 5_000 });
      if (!reply.ok) throw new Error(`status: ${reply.error.message}`);
      return (reply.result as { server: { dropped: { missing_mac: number } } }).server.dropped.missing_mac;
    };
    const before = await missingMacs();
    // Rounds of junk until the server has logged 20,000 (a loaded host's socket may drop some).
    let flooded = 0;
    for (let round = 0; round < 5 && flooded < 20_000; round++) {
      for (let i = 0; i < 20_000 - flooded; i++) {
        junk.send(junkBytes, prepared.port);
        if (i % 100 === 99) await Bun.sleep(5);
      }
      await Bun.sleep(300);
      flooded = (await missingMacs()) - before;
    }
    await Bun.sleep(200);
    const during = (await wire.retime(rx.packets)).slice(from);
    // Still answering, and, once read, its log says how many lines it could not write.
    const status = await client.request("status", {}, { ttlMs: 5_000 });
    log = "";
    for (let quiet = 0; quiet < 4; ) {
      await Bun.sleep(100);
      const more = drain(reader);
      log += more;
      quiet = more.length === 0 ? quiet + 1 : 0;
    }
    // One more line, now that there is room: the count of those dropped goes out before it.
    junk.send(junkBytes, prepared.port);
    let total = flooded;
    for (let i = 0; i < 50 && total === flooded; i++) {
      await Bun.sleep(20);
      total = (await missingMacs()) - before;
    }
    const keptLines = () => log.split("\n").filter((l) => l.includes("control request dropped"));
    const droppedCount = () => [...log.matchAll(/(\d+) log lines dropped: stderr was not taking them/g)].reduce((n, m) => n + Number(m[1]), 0);
    // Read until every junk line is in the log or counted as dropped (or 10 s have passed).
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; await Bun.sleep(100)) {
      log += drain(reader);
      if (droppedCount() > 0 && keptLines().length + droppedCount() >= total) break;
    }
    const lines = keptLines();
    const keptBytes = lines.reduce((n, l) => n + Buffer.byteLength(l) + 1, 0);
    const dropped = droppedCount();
    // 1 Mbit/s of 1316-byte datagrams is one every 10.5 ms; a blocked server sends none.
    const gapsMs = during.slice(1).map((p, i) => (p.atUs - during[i]!.atUs) / 1000);
    const widest = Math.max(...gapsMs);
    console.log(`junk logged ${total}, lines kept ${lines.length} (${keptBytes} bytes), dropped ${dropped}; stream ${during.length} datagrams, widest gap ${widest.toFixed(1)} ms (kernel times)`);
    expect(status.ok).toBe(true);
    expect(flooded).toBeGreaterThanOrEqual(20_000);
    expect(during.length).toBeGreaterThan(100);
    expect(widest).toBeLessThan(250);
    // Every junk line is either in the log or counted as dropped (the count also covers any other
    // line that found no room); nothing is held beyond the ring and the pipe.
    expect(lines.length + dropped).toBeGreaterThanOrEqual(total);
    expect(lines.length + dropped).toBeLessThan(total + 100);
    expect(dropped).toBeGreaterThan(0);
    expect(keptBytes).toBeGreaterThan((1 << 20) - (64 << 10));
    expect(keptBytes).toBeLessThan((1 << 20) + (64 << 10) + 4096);
  } finally {
    client?.close();
    junk.close();
    rx.close();
    server.kill("SIGTERM");
    // Read while it stops, so its last lines have somewhere to go.
    const stopping = server.exited;
    while (!(await Promise.race([stopping.then(() => true), Bun.sleep(50).then(() => false)]))) drain(reader);
    closeSync(reader);
    rmSync(prepared.dir, { recursive: true, force: true });
    await wire?.close();
  }
}, 40_000);
