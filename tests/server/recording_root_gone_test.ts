/**
 * A recording root removed while the server runs (a cleanup script, an unmounted disk), in a
 * folder where the server's user may not make it again: the run that was going fails at its next
 * file, and the next `record start` is refused, each saying the root is gone. Both said
 * "permission denied" (of the folder the root would be made in), and sent the reader to look at
 * modes, not at the missing root. A real `pacer serve` recording a real UDP stream.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { runPacer } from "../helpers/pacer.ts";
import { feedUdp } from "../helpers/udp_feed.ts";
import { CLIP, freeUdpPort, makeSharedDir, type ServeFixture, startServe } from "./serve_fixture.ts";

let serve: ServeFixture;
let parent: string;
let root: string;
let sourcePort: number;
const ctl = (...args: string[]) => runPacer(["ctl", "--server", serve.address, ...args]);

beforeAll(async () => {
  parent = makeSharedDir("pacer-rec-parent-");
  root = join(parent, "rec");
  mkdirSync(root);
  chmodSync(root, 0o777); // the server may run as nobody
  sourcePort = await freeUdpPort();
  serve = await startServe({
    config: [`recording_root = "${root}"`, "[[recording]]", 'name = "r"', `source = "udp://@127.0.0.1:${sourcePort}"`, 'duration = "3"', 'rotate = "1"', 'out = "r-%H%M%S.ts"'].join("\n"),
  });
});
afterAll(async () => {
  await serve.stop();
  chmodSync(parent, 0o755);
  rmSync(parent, { recursive: true, force: true });
  serve.cleanup();
});

test("the run going fails at its next file, and the next start is refused, each saying the root does not exist", async () => {
  expect((await ctl("record", "start", "r")).code).toBe(0);
  const stopFeed = await feedUdp(CLIP, sourcePort); // until the run ends
  try {
    for (let i = 0; i < 1000 && !readdirSync(root).some((n) => n.endsWith(".ts")); i++) await Bun.sleep(10);
    rmSync(root, { recursive: true });
    chmodSync(parent, 0o555); // nor may the server's user make it again
    for (let i = 0; i < 1000 && !serve.stderr().includes("recording r ended"); i++) await Bun.sleep(10);
  } finally {
    stopFeed();
  }
  const gone = `the recording root ${root} does not exist, and this user may not make it in ${parent} (EACCES)`;
  expect(serve.stderr()).toMatch(/recording r ended: failed, 1 file, /);
  expect(serve.stderr()).toContain(`: cannot create: ${gone}`);
  const again = await ctl("record", "start", "r");
  expect(again.code).toBe(1);
  expect(again.stderr).toContain(`out "r-%H%M%S.ts": cannot make its folder: recording_root ${root} does not exist, and this user may not make it in ${parent} (EACCES)`);
  expect(existsSync(root)).toBe(false);
});
