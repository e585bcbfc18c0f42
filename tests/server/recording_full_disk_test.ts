/**
 * A scheduled server recording on a full disk, with a real `pacer serve` whose recording root is
 * a small tmpfs filled to the last block: each run creates its file, cannot write a byte into it,
 * and ends failed. It left a 0-byte file at every run (one every 2 s here), so the disk filled
 * with names; now a run that wrote nothing removes the file it made, and its end line says so.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { chmodSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fillUp, mountSmallDisk, type SmallDisk } from "../helpers/tmpfs.ts";
import { freeUdpPort, type ServeFixture, startServe } from "./serve_fixture.ts";

const CHUNK = 1316;
let disk: SmallDisk | { skip: string };
let serve: ServeFixture | undefined;
let sender: { stop(): void } | undefined;

/** 1316 bytes of TS packets to 127.0.0.1:port every 10 ms. */
async function startSender(port: number) {
  const chunk = Buffer.alloc(CHUNK, 0xff);
  for (let at = 0; at < CHUNK; at += 188) chunk.set([0x47, 0x01, 0x00, 0x10], at);
  const socket = await Bun.udpSocket({ socket: { error() {} } });
  const timer = setInterval(() => socket.send(chunk, port, "127.0.0.1"), 10);
  return { stop: () => (clearInterval(timer), socket.close()) };
}

beforeAll(async () => {
  disk = mountSmallDisk(256 * 1024);
  if ("skip" in disk) return;
  chmodSync(disk.dir, 0o777); // the server may run as nobody
  mkdirSync(join(disk.dir, "full"), { mode: 0o777 });
  chmodSync(join(disk.dir, "full"), 0o777);
  fillUp(join(disk.dir, "filler"));
  const udpPort = await freeUdpPort();
  sender = await startSender(udpPort);
  serve = await startServe({
    config: [
      `recording_root = "${disk.dir}"`,
      `[[live]]\nname = "news"\ninput = "udp://@127.0.0.1:${udpPort}"\nlatency_ms = 0`,
      `[[recording]]\nname = "full"\ncron = "*/2 * * * * *"\nsource = "live:news"\nduration = 1\nout = "full/%H%M%S.ts"`,
    ].join("\n"),
  });
});

afterAll(async () => {
  sender?.stop();
  await serve?.stop();
  serve?.cleanup();
  if (!("skip" in disk)) disk.unmount();
});

test("runs on a full disk leave no empty files behind, and each end line says its file was removed", async () => {
  if ("skip" in disk) return console.warn(disk.skip);
  const ends = () => serve!.stderr().split("\n").filter((l) => l.includes("recording full ended:"));
  const deadline = Date.now() + 15_000;
  while (ends().length < 3 && Date.now() < deadline) await Bun.sleep(100);
  const lines = ends();
  expect(lines.length).toBeGreaterThanOrEqual(3);
  for (const line of lines) {
    expect(line).toContain("recording full ended: failed, 0 files, 0 bytes");
    expect(line).toMatch(/full\/\d{6}\.ts: cannot write: no space left on device; the empty file was removed/);
  }
  // The pattern's lock file (one, not one a run) is all that is there.
  expect(readdirSync(join(disk.dir, "full")).filter((n) => !n.endsWith(".lock"))).toEqual([]);
}, 30_000);
