/**
 * Server recordings stay under recording_root whatever was planted in it, with a real `pacer
 * serve` and a real TCP source on a `[[live]]` channel:
 *
 * - a symlink in the place of a pattern's lock file (`.NAME.lock`) pointing out of the root: the
 *   lock was opened through it, creating (or locking) a file anywhere the server could write;
 * - a pattern's fixed folder a symlink out (`esc/sub/…` with `esc` → outside): refused, as it
 *   was, but `mkdir -p` had made `sub` outside first;
 * - a folder named by a field (`%Y/`) a symlink out: the run fails, as it did, but the folders
 *   after it in the pattern had been made outside;
 * - a folder the server may not write: one line in words, not Node's `EACCES: …, open '…'`.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, readdirSync, rmSync, symlinkSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { runPacer } from "../helpers/pacer.ts";
import { CLIP, freeTcpPort, makeSharedDir, type ServeFixture, startServe } from "./serve_fixture.ts";

let serve: ServeFixture;
let root: string;
let outside: string;
const livePort = freeTcpPort();
const year = String(new Date().getFullYear());
const ctl = (...args: string[]) => runPacer(["ctl", "--server", serve.address, ...args]);

/** Everything under `dir`, as relative paths. */
const tree = (dir: string) => readdirSync(dir, { recursive: true }).map(String).sort();

async function waitFor(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${serve.stderr()}`);
    await Bun.sleep(50);
  }
}

/** A source on the channel: the greeting read, then the clip, then the connection closed. */
function sendClip(): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port: livePort });
    socket.once("data", () => socket.end(CLIP));
    socket.on("close", () => resolve());
    socket.on("error", reject);
  });
}

beforeAll(async () => {
  root = makeSharedDir("pacer-rec-root-");
  outside = makeSharedDir("pacer-rec-outside-");
  chmodSync(root, 0o777); // the server may run as nobody
  chmodSync(outside, 0o777); // writable by it too: only the server's own rule keeps it out
  for (const folder of ["lk", "y", "ro"]) mkdirSync(join(root, folder), { mode: 0o777 });
  chmodSync(join(root, "lk"), 0o777);
  chmodSync(join(root, "y"), 0o777);
  chmodSync(join(root, "ro"), 0o555);
  symlinkSync(join(outside, "planted"), join(root, "lk", ".%H%M%S.ts.lock"));
  symlinkSync(outside, join(root, "esc"));
  symlinkSync(outside, join(root, "y", year));
  serve = await startServe({
    config: [
      `recording_root = "${root}"`,
      `[[live]]\nname = "cam"\nlisten = "tcp://127.0.0.1:${livePort}"`,
      `[[recording]]\nname = "lock"\nsource = "live:cam"\nout = "lk/%H%M%S.ts"\nduration = 5`,
      `[[recording]]\nname = "folder"\nsource = "live:cam"\nout = "esc/fixed_sub/%H%M%S.ts"\nduration = 5`,
      `[[recording]]\nname = "year"\nsource = "live:cam"\nout = "y/%Y/field_sub/%H%M%S.ts"\nduration = 5`,
      `[[recording]]\nname = "readonly"\nsource = "live:cam"\nout = "ro/%H%M%S.ts"\nduration = 5`,
      `[[recording]]\nname = "readonly_sub"\nsource = "live:cam"\nout = "ro/sub/%H%M%S.ts"\nduration = 5`,
    ].join("\n"),
  });
});

afterAll(async () => {
  await serve?.stop();
  serve?.cleanup();
  chmodSync(join(root, "ro"), 0o755);
  rmSync(root, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});

describe("server recordings never write outside recording_root", () => {
  test("a symlink in the place of the lock file is refused, and nothing is made where it points", async () => {
    const start = await ctl("record", "start", "lock");
    expect(start.code).toBe(1);
    expect(start.stderr).toContain(".%H%M%S.ts.lock: cannot create the lock file: is a symlink (not followed)");
    expect(tree(outside)).not.toContain("planted");
  });

  test("a fixed folder that is a symlink out is forbidden before any folder is made through it", async () => {
    const start = await ctl("record", "start", "folder");
    expect(start.code).toBe(1);
    expect(start.stderr).toContain("forbidden");
    expect(start.stderr).toContain("resolves outside recording_root");
    expect(tree(outside)).not.toContain("fixed_sub");
  });

  test("a field's folder that is a symlink out fails the run, and the folders after it are not made there", async () => {
    expect((await ctl("record", "start", "year")).code).toBe(0);
    await sendClip();
    await waitFor("the year run's end", () => serve.stderr().includes("recording year ended:"));
    expect(serve.stderr()).toMatch(/recording year ended: failed, 0 files, 0 bytes.*resolves outside the recording root/);
    expect(tree(outside)).not.toContain("field_sub");
    expect(tree(outside)).toEqual([]); // nor anything else, by any of these tests
  });

  test("a folder the server may not write is named with why in words", async () => {
    const flat = await ctl("record", "start", "readonly");
    expect(flat.code).toBe(1);
    expect(flat.stderr).toMatch(/ro\/\.%H%M%S\.ts\.lock: cannot create the lock file: permission denied\n$/);
    const sub = await ctl("record", "start", "readonly_sub");
    expect(sub.code).toBe(1);
    expect(sub.stderr).toMatch(/out "ro\/sub\/%H%M%S\.ts": cannot make its folder under recording_root \S+: permission denied\n$/);
    expect(sub.stderr).not.toContain("EACCES");
  });
});
