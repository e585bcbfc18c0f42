/**
 * The words for what the file system refused, from real errors of real calls: the common ones in
 * plain words, a recursive mkdir stopped by a file named as that file, and any other in Node's
 * own words without the path and system call it repeats.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describeFsError, describeOpenError, fsErrorText } from "../../foundation/fs_error.ts";

const dir = mkdtempSync(join(tmpdir(), "pacer-fs-error-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = join(dir, "file");
writeFileSync(file, "x");

function thrown(call: () => unknown): unknown {
  try {
    call();
  } catch (error) {
    return error;
  }
  throw new Error("it did not throw");
}

test("a folder read as a file, a path through a file, a missing file", () => {
  expect(fsErrorText(thrown(() => readFileSync(dir)))).toBe("is a directory");
  expect(describeOpenError(join(file, "x"), thrown(() => openSync(join(file, "x"), "r")))).toBe(`${join(file, "x")}: a component of the path is not a directory`);
  expect(describeOpenError("gone.ts", thrown(() => openSync(join(dir, "gone.ts"), "r")))).toBe("gone.ts: no such file");
  expect(describeFsError(thrown(() => openSync(join(dir, "gone", "x"), "w")))).toBe("no such file or directory (ENOENT)");
});

test("a recursive mkdir stopped by a file names that file", () => {
  expect(fsErrorText(thrown(() => mkdirSync(file, { recursive: true })))).toBe(`${file} is not a directory`);
  expect(fsErrorText(thrown(() => mkdirSync(join(file, "a", "b"), { recursive: true })))).toBe("a component of the path is not a directory");
});

test("a symlink loop in words; a code without words of ours keeps Node's words and the code, not the path or the call", () => {
  const loop = join(dir, "loop");
  symlinkSync(loop, loop);
  const text = fsErrorText(thrown(() => openSync(loop, "r")));
  expect(text).toBe("too many levels of symbolic links");
  const odd = Object.assign(new Error("EXDEV: cross-device link not permitted, rename 'a' -> 'b'"), { code: "EXDEV" });
  expect(fsErrorText(odd)).toBe("cross-device link not permitted (EXDEV)");
});
