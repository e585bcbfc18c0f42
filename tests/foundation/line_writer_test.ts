/**
 * Lines through a thread of their own (foundation/line_writer.ts), onto a real FIFO: in order and
 * whole across the ring's end; and with nobody reading, offers never wait: what the pipe and the
 * ring hold is kept, the rest is refused, and a logger on it says how many lines it dropped.
 */
import { afterEach, expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { closeSync, constants, mkdtempSync, openSync, readSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startLineWriter } from "../../foundation/line_writer.ts";
import { createLogger } from "../../foundation/log.ts";

const dir = mkdtempSync(join(tmpdir(), "pacer-line-writer-"));
const open: number[] = [];
afterEach(() => {
  for (const fd of open.splice(0)) closeSync(fd);
});

/** A FIFO: its read end (non-blocking, read only when the test says) and its write end. */
function fifo(name: string): { reader: number; writer: number } {
  const path = join(dir, name);
  execFileSync("mkfifo", [path]);
  const reader = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  const writer = openSync(path, constants.O_WRONLY);
  open.push(reader, writer);
  return { reader, writer };
}

/** Reads what the FIFO holds until `until` says it is all there, or `ms` pass. */
async function readUntil(fd: number, until: (text: string) => boolean, ms = 5_000): Promise<string> {
  const chunk = Buffer.alloc(1 << 16);
  let text = "";
  const deadline = performance.now() + ms;
  while (!until(text) && performance.now() < deadline) {
    let n = 0;
    try {
      n = readSync(fd, chunk);
    } catch (error) {
      if ((error as { code?: string }).code !== "EAGAIN") throw error;
    }
    if (n > 0) text += chunk.toString("utf8", 0, n);
    else await Bun.sleep(5);
  }
  return text;
}

test("lines straight to a pipe with room, and through the thread once it is full: whole and in order, across the ring's end many times", async () => {
  const { reader, writer } = fifo("ordered");
  const out = startLineWriter(writer, 100);
  const lines = Array.from({ length: 400 }, (_, i) => `line ${i} ${"é".repeat(i % 7)}\n`);
  // The first half while the pipe has room: written at once, in the caller.
  for (const line of lines.slice(0, 200)) expect(out.offer(line)).toBe(true);
  let text = await readUntil(reader, (t) => t.endsWith(lines[199]!));
  expect(text).toBe(lines.slice(0, 200).join(""));
  // The pipe filled by someone else: the rest go through the thread's 100-byte ring, a few lines at
  // a time, while a reader drains the pipe.
  writeSync(writer, Buffer.alloc(65_536, "-"));
  const reading = readUntil(reader, (t) => t.endsWith(lines.at(-1)!), 10_000);
  for (const line of lines.slice(200)) {
    while (!out.offer(line)) await out.flush(1_000);
  }
  text = await reading;
  expect(text).toBe("-".repeat(65_536) + lines.slice(200).join(""));
});

test("with nobody reading, offers never wait; what fits is kept, the rest refused, and the logger says how many it dropped", async () => {
  const { reader, writer } = fifo("unread");
  const out = startLineWriter(writer, 4_096);
  const log = createLogger({ level: "info", write: (line) => out.offer(line + "\n") });
  const line = (i: number) => `pacer: line ${i} ${"x".repeat(60)}`;
  const started = performance.now();
  for (let i = 0; i < 5_000; i++) log.info(`line ${i} ${"x".repeat(60)}`);
  const tookMs = performance.now() - started;
  // 5000 lines of ~80 bytes (400 KB) into a 64 KiB pipe and a 4 KiB ring: a blocking write would
  // wait until the pipe is read; these offers take a few ms (on a loaded host, well under a second).
  expect(tookMs).toBeLessThan(1_000);
  await Bun.sleep(100);
  // Read until quiet: what went into the pipe (64 KiB at most) and what the ring held, then what
  // was offered once the thread had made room: runs of lines in order, each gap said by a note,
  // the last one by the note before the next line that goes.
  let text = await readQuiet(reader);
  log.info("after");
  text += await readUntil(reader, (t) => t.endsWith("after\n"));
  const read = text.split("\n").filter(Boolean);
  let next = 0;
  let notes = 0;
  let kept = 0;
  for (const text of read.slice(0, -1)) {
    const note = /^pacer: warn: (\d+) log lines dropped: stderr was not taking them$/.exec(text);
    if (note) {
      notes++;
      next += Number(note[1]);
    } else {
      expect(text).toBe(line(next++));
      kept++;
    }
  }
  expect(next).toBe(5_000);
  expect(notes).toBeGreaterThanOrEqual(1);
  expect(kept).toBeLessThan(Math.ceil((65_536 + 4_096) / line(0).length));
  expect(read.at(-1)).toBe("pacer: after");
});

/** Reads what the FIFO holds until nothing more comes for 200 ms. */
async function readQuiet(fd: number): Promise<string> {
  let text = "";
  for (;;) {
    const more = await readUntil(fd, (t) => t.length > 0, 200);
    if (more === "") return text;
    text += more;
  }
}

process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
