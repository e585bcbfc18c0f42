/**
 * A connection storm on a keyed `[[live]]` channel's port, with a real `pacer serve`: clients that
 * connect again the moment the server closes them.
 *
 * - Eight of them for 2 s: each refusal was a warning line, thousands of lines a second from anyone
 *   who can reach the port (47,000 in 25 s by hand). Now the first refusal of a kind is a line, and
 *   the rest one line with their count at the end of REFUSAL_LOG_MS; the channel still takes a
 *   source with the key afterwards.
 * - Six of them from 127.0.0.2 while `pacer acquire` with the key comes from 127.0.0.1: they held
 *   the 4 handshake slots and the port's 6 connections, and the source got "connections 0" for
 *   22 s by hand. Now one address holds at most MAX_PENDING_PER_ADDRESS connections short of the
 *   source (every other one is closed unanswered: pending_sources.ts), so the source gets in and
 *   its stream is relayed whole. (Loopback answers for all of 127/8: a socket bound to 127.0.0.2
 *   is another address.)
 * - Two each from 127.0.0.2 and 127.0.0.3, silent in the handshake and back the moment they are
 *   closed: within the per-address share they held all 4 slots for good. Now a newcomer takes the
 *   oldest slot of another address, so the source gets in on its first connection.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { REFUSAL_LOG_MS } from "../../server/live/refusal_log.ts";
import { makeCbrTs } from "../helpers/mpeg_fixtures.ts";
import { runPacer } from "../helpers/pacer.ts";
import { udpReceiver } from "../helpers/udp_receiver.ts";
import { freeTcpPort, KEY_TEXT, makeSharedDir, type ServeFixture, startServe } from "../server/serve_fixture.ts";

let serve: ServeFixture;
let dir: string;
let keyPath: string;
const keyedPort = freeTcpPort();

interface StormCounts {
  connections: number;
  /** Closed by the server, not by the client's stop. */
  refused: number;
}

/** Connects from `from`, and again whenever the server closes it, until `stopped()`. */
function stormClient(stopped: () => boolean, from = "127.0.0.1"): Promise<StormCounts> {
  return new Promise((resolve) => {
    const counts = { connections: 0, refused: 0 };
    const open = () => {
      if (stopped()) return resolve(counts);
      counts.connections++;
      const socket = connect({ host: "127.0.0.1", port: keyedPort, localAddress: from });
      let ended = false;
      socket.on("error", () => {});
      socket.on("data", () => {}); // reads the greeting, and so sees the server's end at once
      const stop = setInterval(() => stopped() && ((ended = true), socket.destroy()), 20);
      socket.on("close", () => {
        clearInterval(stop);
        if (!ended) counts.refused++;
        open();
      });
    };
    open();
  });
}

beforeAll(async () => {
  dir = makeSharedDir("pacer-acq-storm-");
  keyPath = join(dir, "live.key");
  writeFileSync(keyPath, KEY_TEXT + "\n", { mode: 0o644 });
  serve = await startServe({ config: `[[live]]\nname = "keyed"\nlisten = "tcp://127.0.0.1:${keyedPort}"\nkey_file = "${keyPath}"` });
});

afterAll(async () => {
  await serve?.stop();
  serve?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

const refusalLines = () => serve.stderr().split("\n").filter((l) => l.includes("refused"));

test("a storm of refused connections is a line per reason and one count per 10 s, and the key still gets in", async () => {
  const until = Date.now() + 2_000;
  const told = await Promise.all(Array.from({ length: 8 }, () => stormClient(() => Date.now() >= until)));
  const refused = told.reduce((n, c) => n + c.refused, 0);
  expect(refused).toBeGreaterThan(200); // a storm
  await Bun.sleep(500); // the server's lines on their way through its stderr pipe
  expect(refusalLines()).toEqual([expect.stringContaining('live "keyed": source refused: too many connections from one address')]);

  await Bun.sleep(until - 2_000 + REFUSAL_LOG_MS + 1_000 - Date.now());
  const lines = refusalLines();
  expect(lines).toHaveLength(2);
  // Every refusal is accounted for: the first has its line, the rest are the count. A client's last
  // connection may be closed by the server and by the client's stop at once: one each at most.
  const counted = /live "keyed": (\d+) more sources refused in 10 s: too many connections from one address/.exec(lines[1]!);
  expect(Number(counted?.[1])).toBeGreaterThanOrEqual(refused - 1);
  expect(Number(counted?.[1])).toBeLessThanOrEqual(refused - 1 + told.length);

  const film = join(dir, "film.ts");
  writeFileSync(film, makeCbrTs({ bitrate: 1_000_000, duration: 1 }), { mode: 0o644 });
  const acquire = await runPacer(["acquire", film, "--to", `tcp://127.0.0.1:${keyedPort}?key=${keyPath}`], { timeoutMs: 20_000 });
  expect(acquire.code).toBe(0);
  expect(acquire.stderr).toMatch(/connections 1, drops 0/);
}, 40_000);

test("silent handshakes from two addresses, each back at once, do not keep the keyed source out", async () => {
  const film = join(dir, "crowded.ts");
  writeFileSync(film, makeCbrTs({ bitrate: 1_000_000, duration: 1 }), { mode: 0o644 });
  let stop = false;
  const holders = ["127.0.0.2", "127.0.0.2", "127.0.0.3", "127.0.0.3"].map((from) => stormClient(() => stop, from));
  try {
    await Bun.sleep(500); // the four slots are theirs
    const acquire = await runPacer(["acquire", film, "--to", `tcp://127.0.0.1:${keyedPort}?key=${keyPath}`], { timeoutMs: 20_000 });
    expect(acquire.code).toBe(0);
    expect(acquire.stderr).toContain(`acquired ${Bun.file(film).size} bytes`);
    expect(acquire.stderr).toMatch(/connections 1, drops 0/);
    expect(acquire.stderr).not.toContain("trying again");
  } finally {
    stop = true;
    await Promise.all(holders);
  }
}, 40_000);

test("a reconnect storm from one address does not keep the keyed source, from another, out", async () => {
  const film = join(dir, "lockout.ts");
  writeFileSync(film, makeCbrTs({ bitrate: 1_000_000, duration: 2 }), { mode: 0o644 });
  const rx = await udpReceiver();
  let stop = false;
  const storm = Array.from({ length: 6 }, () => stormClient(() => stop, "127.0.0.2"));
  try {
    const play = await runPacer(["ctl", "--server", serve.address, "play", "live:keyed", "--to", `udp://127.0.0.1:${rx.port}`, "--persistent"]);
    expect(play.code).toBe(0);
    await Bun.sleep(1_500); // the storm holds whatever it can before the source comes
    const acquire = await runPacer(["acquire", film, "--to", `tcp://127.0.0.1:${keyedPort}?key=${keyPath}`], { timeoutMs: 20_000 });
    stop = true;
    const connections = (await Promise.all(storm)).reduce((n, c) => n + c.connections, 0);
    console.log(`storm: ${connections} connections from 127.0.0.2; acquire: ${acquire.stderr.trim().split("\n").at(-1)}`);
    expect(connections).toBeGreaterThan(100);
    expect(acquire.code).toBe(0);
    expect(acquire.stderr).toMatch(/connections 1, drops 0/);
    const size = Bun.file(film).size;
    const deadline = Date.now() + 5_000;
    while (rx.packets.reduce((n, p) => n + p.data.length, 0) < size && Date.now() < deadline) await Bun.sleep(100);
    expect(Buffer.concat(rx.packets.map((p) => p.data)).equals(Buffer.from(await Bun.file(film).bytes()))).toBe(true);
  } finally {
    stop = true;
    await Promise.all(storm);
    rx.close();
  }
}, 40_000);
