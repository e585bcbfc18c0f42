/**
 * `pacer record --gap-log` onto a FIFO (a `cat` or a logger reading it): the recorder never
 * waits for the FIFO. Before, the start's check opened and closed it (its reader got an end of
 * file and left), and the first gap's line then blocked in open() for want of a reader: the
 * recording ran on past --duration and SIGTERM, for as long as nobody read.
 */
import { afterAll, expect, test } from "bun:test";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir } from "../helpers/mpeg_fixtures.ts";
import { runPacer, startPacer } from "../helpers/pacer.ts";
import { freeUdpPort, waitUdpBound } from "../helpers/ports.ts";

const tmp = makeTempDir();
afterAll(() => tmp.cleanup());

function mkfifo(path: string): void {
  const made = spawnSync("mkfifo", [path]);
  if (made.status !== 0) throw new Error(`mkfifo: ${made.stderr}`);
}

test("a FIFO nothing reads is refused at the start, in one line, and nothing is recorded", async () => {
  const fifo = join(tmp.dir, "unread.fifo");
  mkfifo(fifo);
  const out = join(tmp.dir, "unread.ts");
  const from = performance.now();
  const run = await runPacer(["record", "-", "--out", out, "--duration", "1", "--gap-log", fifo], { timeoutMs: 10_000 });
  expect(run).toEqual({ code: 1, stdout: "", stderr: `pacer: error: --gap-log ${fifo}: cannot write it: it is a FIFO and nothing is reading it\n` });
  expect(performance.now() - from).toBeLessThan(8_000);
  expect(existsSync(out)).toBe(false);
});

test("a FIFO with a reader gets every gap's line, and its end of file only when the recording ends at --duration", async () => {
  const fifo = join(tmp.dir, "read.fifo");
  mkfifo(fifo);
  const captured = join(tmp.dir, "captured.log");
  // The reader, as a user's `cat FIFO > FILE &`: it leaves at the first end of file.
  const reader = spawn("sh", ["-c", `exec cat "$0" > "$1"`, fifo, captured], { stdio: "ignore" });
  const readerDone = new Promise<number>((resolve) => reader.on("close", () => resolve(performance.now())));
  // Until cat is opening the FIFO (its open waits for a writer), nothing reads it, and pacer would
  // rightly refuse it.
  const readerHasIt = () => {
    try {
      return readFileSync(`/proc/${reader.pid}/wchan`, "utf8") === "wait_for_partner";
    } catch {
      return false;
    }
  };
  for (let i = 0; i < 500 && !readerHasIt(); i++) await Bun.sleep(10);
  expect(readerHasIt()).toBe(true);
  const port = await freeUdpPort();
  const out = join(tmp.dir, "read.bin");
  const rec = startPacer(["record", `udp://@127.0.0.1:${port}`, "--out", out, "--duration", "2", "--gap-log", fifo]);
  let stderr = "";
  rec.stderr.on("data", (d) => (stderr += d));
  const exit = new Promise<[number | null, number]>((resolve) => rec.on("close", (code) => resolve([code, performance.now()])));
  const killer = setTimeout(() => rec.kill("SIGKILL"), 15_000);
  try {
    await waitUdpBound(port);
    const socket = await Bun.udpSocket({ connect: { hostname: "127.0.0.1", port } });
    // Two kept, and between them two too long to keep: one gap line each.
    for (const d of [new Uint8Array(188).fill(1), new Uint8Array(9217), new Uint8Array(188).fill(2), new Uint8Array(20_000), new Uint8Array(188).fill(3)]) {
      socket.send(d);
      await Bun.sleep(100);
    }
    socket.close();
    const [code, exitedAt] = await exit;
    expect(code, stderr).toBe(0);
    expect(stderr).not.toContain("cannot write the gap log");
    const readerLeftAt = await readerDone;
    // The reader stayed until the recorder closed the FIFO, at its end, not at the start.
    expect(readerLeftAt).toBeGreaterThanOrEqual(exitedAt - 1_000);
    const lines = readFileSync(captured, "utf8").trim().split("\n");
    expect(lines.length).toBe(2);
    expect(lines.every((l) => / 1 datagram dropped: longer than 9216 bytes$/.test(l))).toBe(true);
    expect(readFileSync(out).length).toBe(3 * 188);
  } finally {
    clearTimeout(killer);
    reader.kill();
  }
}, 20_000);
