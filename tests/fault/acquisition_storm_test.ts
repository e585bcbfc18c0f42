/**
 * A connection storm on a keyed `[[live]]` channel's port, with a real `pacer serve`: eight
 * clients that connect again the moment they are refused, for 2 s. Each refusal was a warning
 * line: thousands of lines a second from anyone who can reach the port (47,000 in 25 s by hand).
 * Now the first refusal of a kind is a line, and the rest one line with their count at the end of
 * REFUSAL_LOG_MS; the channel still takes a source with the key afterwards.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { REFUSAL_LOG_MS } from "../../server/live/refusal_log.ts";
import { makeCbrTs } from "../helpers/mpeg_fixtures.ts";
import { runPacer } from "../helpers/pacer.ts";
import { freeTcpPort, KEY_TEXT, makeSharedDir, type ServeFixture, startServe } from "../server/serve_fixture.ts";

let serve: ServeFixture;
let dir: string;
let keyPath: string;
const keyedPort = freeTcpPort();

/** Connects again whenever the server closes it, until `untilMs`; resolves with how many times it was told "busy". */
function stormClient(untilMs: number): Promise<number> {
  return new Promise((resolve) => {
    let refused = 0;
    const open = () => {
      if (Date.now() >= untilMs) return resolve(refused);
      const socket = connect({ host: "127.0.0.1", port: keyedPort });
      socket.on("error", () => {});
      // Reads the refusal and the server's end, so it closes at once and connects again.
      socket.on("data", (d) => (refused += d.toString().startsWith("PACER-LIVE 1 busy") ? 1 : 0));
      socket.on("close", open);
      setTimeout(() => socket.destroy(), untilMs - Date.now()).unref();
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
  const told = await Promise.all(Array.from({ length: 8 }, () => stormClient(until)));
  const refused = told.reduce((a, b) => a + b, 0);
  expect(refused).toBeGreaterThan(200); // a storm (more were closed unread, past the port's connection limit)
  await Bun.sleep(500); // the server's lines on their way through its stderr pipe
  expect(refusalLines()).toEqual([expect.stringContaining('live "keyed": source refused: too many handshakes')]);

  await Bun.sleep(until - 2_000 + REFUSAL_LOG_MS + 1_000 - Date.now());
  const lines = refusalLines();
  expect(lines).toHaveLength(2);
  // Every refusal is accounted for: the first has its line, the rest are the count.
  expect(lines[1]).toContain(`live "keyed": ${refused - 1} more sources refused in 10 s: too many handshakes`);

  const film = join(dir, "film.ts");
  writeFileSync(film, makeCbrTs({ bitrate: 1_000_000, duration: 1 }), { mode: 0o644 });
  const acquire = await runPacer(["acquire", film, "--to", `tcp://127.0.0.1:${keyedPort}?key=${keyPath}`], { timeoutMs: 20_000 });
  expect(acquire.code).toBe(0);
  expect(acquire.stderr).toMatch(/connections 1, drops 0/);
}, 40_000);
