/**
 * A path pacer cannot read or write is one plain line naming it and what is wrong, exit 1: never
 * Node's own text (`ENOTDIR: not a directory, stat '…'`, `EROFS: read-only file system, open
 * '…'`), which repeats the path and names a system call. The tests run as root, whom file modes do
 * not stop, so they use what root cannot do either: a path through a regular file, a folder given
 * as a file, a read-only tmpfs.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeCbrTs } from "../helpers/mpeg_fixtures.ts";
import { MAIN, runPacer } from "../helpers/pacer.ts";
import { mountSmallDisk } from "../helpers/tmpfs.ts";

const dir = mkdtempSync(join(tmpdir(), "pacer-path-errors-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const regular = join(dir, "regular");
writeFileSync(regular, "x");
const clip = join(dir, "clip.ts");
writeFileSync(clip, makeCbrTs({ bitrate: 1_000_000, duration: 0.3 }));
const year = String(new Date().getFullYear());

/** Runs pacer with a few bytes on stdin and gives its one error line and exit code. */
async function failing(args: string[]) {
  const run = await runPacer(args, { stdin: new Uint8Array(188), timeoutMs: 15_000 });
  return { stderr: run.stderr, code: run.code };
}

describe("inputs", () => {
  test("play, probe, record and acquire of a path through a regular file", async () => {
    const path = join(regular, "x.ts");
    const line = `pacer: error: ${path}: a component of the path is not a directory\n`;
    for (const args of [
      ["play", path, "--to", "file:/dev/null"],
      ["probe", path],
      ["record", path, "--out", join(dir, "in.ts"), "--duration", "1"],
      ["acquire", path, "--to", "tcp://127.0.0.1:9"],
    ]) {
      expect(await failing(args)).toEqual({ stderr: line, code: 1 });
    }
  });

  test("play and record of a folder", async () => {
    const line = `pacer: error: ${dir}: is a directory\n`;
    expect(await failing(["play", dir, "--to", "file:/dev/null"])).toEqual({ stderr: line, code: 1 });
    expect(await failing(["record", dir, "--out", join(dir, "in.ts"), "--duration", "1"])).toEqual({ stderr: line, code: 1 });
  });
});

describe("record --out", () => {
  test("a folder of the pattern that is a regular file is named", async () => {
    const out = join(regular, "rec.ts");
    expect(await failing(["record", "-", "--out", out, "--duration", "1"])).toEqual({
      stderr: `pacer: error: ${join(regular, ".rec.ts.lock")}: cannot create the lock file: ${regular} is not a directory\n`,
      code: 1,
    });
  });

  test("a folder made by a field (%Y) that is a regular file is named", async () => {
    const root = join(dir, "by-year");
    mkdirSync(root);
    writeFileSync(join(root, year), "x");
    expect(await failing(["record", "-", "--out", join(root, "%Y", "rec.ts"), "--duration", "1"])).toEqual({
      stderr: `pacer: error: ${join(root, year, "rec.ts")}: cannot create: ${join(root, year)} is not a directory\n`,
      code: 1,
    });
  });

  test("a read-only file system", async () => {
    const disk = mountSmallDisk(64 * 1024, { readOnly: true });
    if ("skip" in disk) return console.warn(disk.skip);
    try {
      expect(await failing(["record", "-", "--out", join(disk.dir, "rec.ts"), "--duration", "1"])).toEqual({
        stderr: `pacer: error: ${join(disk.dir, ".rec.ts.lock")}: cannot create the lock file: read-only file system\n`,
        code: 1,
      });
    } finally {
      disk.unmount();
    }
  });
});

test("record --gap-log that cannot be written is said before anything is recorded, and nothing is created", async () => {
  const disk = mountSmallDisk(64 * 1024, { readOnly: true });
  const cases: [string, string][] = [
    [join(dir, "no-such-folder", "gaps.log"), "no such file or directory"],
    [join(regular, "gaps.log"), "a component of the path is not a directory"],
    [dir, "is a directory"],
  ];
  if (!("skip" in disk)) cases.push([join(disk.dir, "gaps.log"), "read-only file system"]);
  try {
    for (const [log, why] of cases) {
      const out = join(dir, "gap-rec.ts");
      expect(await failing(["record", "-", "--out", out, "--duration", "1", "--gap-log", log])).toEqual({
        stderr: `pacer: error: --gap-log ${log}: cannot write it: ${why}\n`,
        code: 1,
      });
      expect(existsSync(out)).toBe(false);
    }
  } finally {
    if (!("skip" in disk)) disk.unmount();
  }
});

test("play --sdp onto a folder says so, and leaves no temporary file beside it", async () => {
  const target = join(dir, "sdp-folder");
  mkdirSync(target);
  expect(await failing(["play", clip, "--to", "rtp://127.0.0.1:9", "--sdp", target])).toEqual({
    stderr: `pacer: error: --sdp ${target}: cannot write: is a directory\n`,
    code: 1,
  });
  expect(readdirSync(dir).filter((name) => name.startsWith("sdp-folder."))).toEqual([]);
  expect(existsSync(target)).toBe(true);
});

test("play to file:/dev/stdout whose reader leaves (| head -c 1000) says so in words, exit 1", () => {
  const long = join(dir, "long.ts"); // longer than a pipe holds, so a write meets the closed pipe
  writeFileSync(long, makeCbrTs({ bitrate: 2_000_000, duration: 2 }));
  const piped = Bun.spawnSync(["bash", "-c", `"${process.execPath}" "${MAIN}" play "${long}" --to file:/dev/stdout | head -c 1000 >/dev/null; echo "status \${PIPESTATUS[0]}" >&2`]);
  expect(piped.stderr.toString()).toBe("pacer: error: file:/dev/stdout: cannot write: the reader closed the pipe (EPIPE)\nstatus 1\n");
});
