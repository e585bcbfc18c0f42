/**
 * Story (issue 10, item 13): a user plays to a `file:` output that cannot take the stream — a full
 * device, a disk that fills up, a directory that is not there. pacer says so in one clean line
 * that names the output once (not "file:/x: file:/x: …") and exits 1.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runPacer } from "../helpers/pacer.ts";
import { mountSmallDisk } from "../helpers/tmpfs.ts";

const dir = mkdtempSync(join(tmpdir(), "pacer-file-errors-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** 256 KiB of data played at 16 Mbit/s: about an eighth of a second, four 64 KiB writes. */
const DATA = crypto.getRandomValues(new Uint8Array(256 * 1024));
const input = join(dir, "data.bin");
writeFileSync(input, DATA);
const play = (to: string) => runPacer(["play", input, "--bitrate", "16M", "--to", to], { timeoutMs: 15_000 });

/** stderr's lines, without the empty one after the last newline. */
const lines = (stderr: string) => stderr.split("\n").filter((line) => line !== "");

describe("play to a file: output that cannot take the stream", () => {
  test("file:/dev/full prints one line naming /dev/full once and exits 1", async () => {
    const run = await play("file:/dev/full");
    expect(lines(run.stderr)).toEqual(["pacer: error: file:/dev/full: cannot write: no space left on device (ENOSPC)"]);
    expect(run.code).toBe(1);
  });

  test("a disk that fills up (a 64 KiB tmpfs) keeps what fit and prints one line naming the file once", async () => {
    const disk = mountSmallDisk(64 * 1024);
    if ("skip" in disk) {
      console.warn(disk.skip);
      return;
    }
    try {
      const out = join(disk.dir, "capture.bin");
      const run = await play(`file:${out}`);
      expect(lines(run.stderr)).toEqual([`pacer: error: file:${out}: cannot write: no space left on device (ENOSPC)`]);
      expect(run.code).toBe(1);
      const kept = readFileSync(out);
      expect(kept.length).toBeLessThan(DATA.length);
      expect(kept.equals(Buffer.from(DATA.subarray(0, kept.length)))).toBe(true);
    } finally {
      disk.unmount();
    }
  });

  test("a directory that does not exist is named once, before anything is sent", async () => {
    const target = `file:${join(dir, "no-such-dir", "capture.bin")}`;
    const run = await play(target);
    expect(lines(run.stderr)).toEqual([`pacer: error: ${target}: cannot open for writing: no such file or directory (ENOENT)`]);
    expect(run.code).toBe(1);
  });
});
