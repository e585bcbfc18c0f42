/**
 * Faults on the acquisition port of a `[[live]]` channel, with a real `pacer serve`:
 *
 * - a slowloris: connections that never answer the key challenge hold the handshake slots at
 *   most HANDSHAKE_MS; a real `pacer acquire` with the key gets in after them, and the silent
 *   ones are closed;
 * - a half-open source that sends a little and goes silent without closing: the channel shows it
 *   stalled, drops it after its silence timeout and listens again, and a new source is taken;
 * - a source that floods far faster than real time: the `live:` job keeps the stream's own pace
 *   (no burst reaches its receiver), and the server's memory stays within the channel's ring;
 * - a source pushing as fast as loopback takes, for ever: the server reads it at no more than the
 *   channel's bound (its max_bitrate, INTAKE_HEADROOM), and TCP holds the source back.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer, type Socket } from "node:net";
import { join } from "node:path";
import { HANDSHAKE_MS, INTAKE_HEADROOM } from "../../server/live/live_channel.ts";
import { HANDSHAKE_GRACE_MS, MAX_HANDSHAKES } from "../../server/live/handshake_slots.ts";
import { makeCbrTs } from "../helpers/mpeg_fixtures.ts";
import { runPacer, startPacer } from "../helpers/pacer.ts";
import { udpReceiver } from "../helpers/udp_receiver.ts";
import { freeTcpPort, KEY_TEXT, makeSharedDir, type ServeFixture, startServe } from "../server/serve_fixture.ts";

const BITRATE = 2_000_000;
let serve: ServeFixture;
let dir: string;
let keyPath: string;
const openPort = freeTcpPort();
const keyedPort = freeTcpPort();
const floodPort = freeTcpPort();
const boundedPort = freeTcpPort();
/** The bounded channel's max_bitrate: it reads at most 1.5 MB/s, after a burst of its ring. */
const BOUNDED_BITRATE = 8_000_000;
const ctl = (...args: string[]) => runPacer(["ctl", "--server", serve.address, ...args]);

async function channelLine(name: string): Promise<string> {
  return (await ctl("list")).stdout.split("\n").find((l) => l.startsWith(`live:${name}\t`)) ?? "";
}

async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${serve.stderr().split("\n").slice(-8).join("\n")}`);
    await Bun.sleep(100);
  }
}

/** A raw TCP client that records when the server closes it; `from` a loopback address of its own. */
function rawClient(port: number, from = "127.0.0.1"): Promise<{ socket: Socket; greeting: Promise<string>; closed: Promise<number> }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, localAddress: from }, () => {
      const greeting = new Promise<string>((ok) => socket.once("data", (d) => ok(d.toString())));
      const closed = new Promise<number>((ok) => socket.once("close", () => ok(Date.now())));
      resolve({ socket, greeting, closed });
    });
    socket.on("error", () => {});
    socket.once("error", reject);
  });
}

/** What `pacer acquire FILE` to a port says over 2.5 s of retries (then SIGTERM). */
async function acquireRetrying(film: string, port: number): Promise<string> {
  const acquire = startPacer(["acquire", film, "--to", `tcp://127.0.0.1:${port}`]);
  let stderr = "";
  acquire.stderr.on("data", (d) => (stderr += d));
  await Bun.sleep(2_500); // several retries
  acquire.kill("SIGTERM");
  await new Promise((resolve) => acquire.on("close", resolve));
  return stderr;
}

function serverRssMiB(): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${serve.child.pid}/status`, "utf8"));
  return Number(m![1]) / 1024;
}

beforeAll(async () => {
  dir = makeSharedDir("pacer-acq-faults-");
  keyPath = join(dir, "live.key");
  writeFileSync(keyPath, KEY_TEXT + "\n", { mode: 0o644 });
  serve = await startServe({
    config: [
      `[[live]]\nname = "open"\nlisten = "tcp://127.0.0.1:${openPort}"`,
      `[[live]]\nname = "keyed"\nlisten = "tcp://127.0.0.1:${keyedPort}"\nkey_file = "${keyPath}"`,
      `[[live]]\nname = "flood"\nlisten = "tcp://127.0.0.1:${floodPort}"\nlatency_ms = 100`,
      `[[live]]\nname = "bounded"\nlisten = "tcp://127.0.0.1:${boundedPort}"\nmax_bitrate = ${BOUNDED_BITRATE}`,
    ].join("\n"),
  });
});

afterAll(async () => {
  await serve?.stop();
  serve?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

describe("the acquisition port under faults", () => {
  test("a slowloris holds no key handshake from the real source: it takes the oldest silent one's slot at once, and the silent ones are closed within HANDSHAKE_MS", async () => {
    const startedAt = Date.now();
    // From addresses of their own: one address holds at most MAX_PENDING_PER_ADDRESS of the slots.
    const silent = await Promise.all(Array.from({ length: MAX_HANDSHAKES }, (_, i) => rawClient(keyedPort, `127.0.0.${2 + i}`)));
    for (const s of silent) expect(await s.greeting).toMatch(/^PACER-LIVE 1 key [0-9a-f]{64}\n$/);
    await Bun.sleep(HANDSHAKE_GRACE_MS); // past the grace a handshake has to answer in
    const film = join(dir, "film.ts");
    writeFileSync(film, makeCbrTs({ bitrate: BITRATE, duration: 2 }), { mode: 0o644 });
    const acquire = await runPacer(["acquire", film, "--to", `tcp://127.0.0.1:${keyedPort}?key=${keyPath}`], { timeoutMs: 30_000 });
    expect(acquire.stderr).toContain(`acquired ${Bun.file(film).size} bytes`);
    expect(acquire.code).toBe(0);
    // Before, it was refused "busy" until the silent ones timed out, and a slowloris that came
    // back each time kept it out for good.
    expect(acquire.stderr).not.toContain("trying again");
    expect(acquire.stderr).not.toContain("connection lost");
    expect(acquire.stderr).toMatch(/connections 1, drops 0/);
    const closedAt = await Promise.all(silent.map((s) => s.closed));
    for (const at of closedAt) expect(at - startedAt).toBeLessThan(HANDSHAKE_MS + 2_500);
    // The oldest made room for the source when it came, long before the others timed out.
    expect(Math.min(...closedAt) - startedAt).toBeLessThan(HANDSHAKE_MS - 1_000);
    expect(serve.stderr()).toContain('live "keyed": source refused: handshake crowded out by a newer connection');
    expect(serve.stderr()).toContain('live "keyed": source refused: no key within the handshake time');
  }, 40_000);

  test("a host that cannot be resolved is exit 1 at once, naming it; nothing listening is said once while it retries", async () => {
    const film = join(dir, "short.ts");
    writeFileSync(film, makeCbrTs({ bitrate: BITRATE, duration: 0.5 }), { mode: 0o644 });
    const unresolvable = await runPacer(["acquire", film, "--to", "tcp://no-such-host.invalid:9"], { timeoutMs: 15_000 });
    expect(unresolvable.code).toBe(1);
    expect(unresolvable.stderr).toBe('pacer: error: cannot resolve host "no-such-host.invalid"\n');
    const stderr = await acquireRetrying(film, freeTcpPort());
    expect(stderr.split("nothing is listening there (connection refused); trying again").length - 1).toBe(1);
  }, 30_000);

  test("a port that closes every connection unheard (past its connection limit) is said once while it retries", async () => {
    const film = join(dir, "unheard.ts");
    writeFileSync(film, makeCbrTs({ bitrate: BITRATE, duration: 0.5 }), { mode: 0o644 });
    let accepted = 0;
    const closing = createServer((socket) => (accepted++, socket.destroy()));
    await new Promise<void>((resolve) => closing.listen(0, "127.0.0.1", resolve));
    const stderr = await acquireRetrying(film, (closing.address() as { port: number }).port);
    closing.close();
    expect(accepted).toBeGreaterThan(1);
    // Before, it tried again and again without a word.
    expect(stderr.split("the channel closed the connection before its greeting (too many connections to it?); trying again").length - 1).toBe(1);
  }, 30_000);

  test("a half-open source goes stalled, is dropped after its silence, and the channel takes a new source", async () => {
    const first = await rawClient(openPort);
    expect(await first.greeting).toBe("PACER-LIVE 1 open\n");
    first.socket.write(makeCbrTs({ bitrate: BITRATE, duration: 0.2 }));
    await waitFor("stalled", async () => (await channelLine("open")).includes("\tstalled\t"), 5_000);
    const droppedAt = await first.closed;
    expect(serve.stderr()).toMatch(/live "open": source sent nothing for \d+ s; dropping it/);
    await waitFor("listening again", async () => (await channelLine("open")).includes("\tlistening\t"), 3_000);
    const second = await rawClient(openPort);
    expect(await second.greeting).toBe("PACER-LIVE 1 open\n");
    second.socket.write(makeCbrTs({ bitrate: BITRATE, duration: 0.2 }));
    await waitFor("receiving from the new source", async () => (await channelLine("open")).includes("\treceiving\t"), 3_000);
    second.socket.destroy();
    expect(droppedAt).toBeGreaterThan(0);
  }, 30_000);

  test("a source flooding 30 s of stream in a burst: the job keeps the stream's pace, memory stays within the ring", async () => {
    const rx = await udpReceiver();
    const rssBefore = serverRssMiB();
    try {
      const play = await ctl("play", "live:flood", "--to", `udp://127.0.0.1:${rx.port}`, "--persistent");
      expect(play.code).toBe(0);
      const source = await rawClient(floodPort);
      expect(await source.greeting).toBe("PACER-LIVE 1 open\n");
      const flood = makeCbrTs({ bitrate: BITRATE, duration: 30 }); // 7.5 MB at once
      source.socket.write(flood);
      await Bun.sleep(1500);
      const from = rx.packets.length;
      const t0 = Bun.nanoseconds();
      await Bun.sleep(2000);
      const seconds = (Bun.nanoseconds() - t0) / 1e9;
      const bytes = rx.packets.slice(from).reduce((n, p) => n + p.data.length, 0);
      const mbps = (bytes * 8) / seconds / 1e6;
      // The stream's own rate, not the flood's: within a quarter of 2 Mbit/s.
      expect(mbps).toBeGreaterThan(1.5);
      expect(mbps).toBeLessThan(2.5);
      expect(serverRssMiB() - rssBefore).toBeLessThan(64);
      source.socket.destroy();
      await ctl("stop", play.stdout.trim());
    } finally {
      rx.close();
    }
  }, 30_000);

  test("a source pushing as fast as loopback takes is read at no more than the channel's bound: TCP holds it back", async () => {
    const source = await rawClient(boundedPort);
    expect(await source.greeting).toBe("PACER-LIVE 1 open\n");
    const junk = Buffer.alloc(64 << 10, 0x47);
    // Counted as the socket hands each write to the kernel: what the server's side took.
    let taken = 0;
    const pushing = (async () => {
      while (!source.socket.destroyed) {
        if (!source.socket.write(junk, () => (taken += junk.length))) {
          await new Promise((resolve) => (source.socket.once("drain", resolve), source.socket.once("close", resolve)));
        }
      }
    })();
    try {
      // The first ring's worth, and the sockets' buffers, are taken at once; then the bound holds.
      await Bun.sleep(1500);
      const from = taken;
      const t0 = performance.now();
      await Bun.sleep(2000);
      const rate = (taken - from) / ((performance.now() - t0) / 1000);
      const bound = (BOUNDED_BITRATE / 8) * INTAKE_HEADROOM;
      console.log(`bounded channel: the source got ${(rate / 1e6).toFixed(2)} MB/s in (bound ${(bound / 1e6).toFixed(2)} MB/s)`);
      // Generous: socket buffers growing meanwhile count as taken. Unbounded, loopback took 1.5 GB/s.
      expect(rate).toBeLessThan(2 * bound);
      expect(await channelLine("bounded")).toContain("\treceiving\t");
    } finally {
      source.socket.destroy();
      await pushing;
    }
  }, 30_000);
});
