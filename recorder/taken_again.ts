/**
 * The names a pattern's recorders took again (`x-1.ts`, where `x.ts` was taken), listed in a
 * hidden file beside the lock (`.NAME.again`, one name a line), so that --keep counts a `-N` name
 * as its own only when one of them made it. A name alone cannot tell: beside `rec/%Y%m%d-%H%M.ts`,
 * `rec/%Y%m%d.ts` taken again for the 1230th time would be `20261207-1230.ts` too, and --keep 7
 * deleted the other recorder's files. The list is written by every recording (a later one may
 * keep), and cut back to names still there whenever --keep deletes. It is opened as the lock is
 * (lock.ts openHiddenFile): a FIFO put in its place had held the recorder, and serve, for good.
 *
 * @example
 * ```ts
 * const again = new TakenAgain("rec/%Y%m%d.ts");
 * again.add("rec/20261207-1.ts");
 * again.names(); // Set { "20261207-1.ts" }
 * ```
 */
import { closeSync, constants, existsSync, fstatSync, openSync, readSync, renameSync, rmSync, writeSync } from "node:fs";
import { basename, join } from "node:path";
import { hiddenPathFor, openHiddenFile } from "./lock.ts";

/** Longest list read: a list grown past it is someone else's file, not ours to trust. */
const MAX_LIST_BYTES = 1 << 20;

export class TakenAgain {
  readonly path: string;

  constructor(pattern: string) {
    this.path = hiddenPathFor(pattern, ".again");
  }

  /** Notes that this recording took `file` again; throws the file system's error in words. */
  add(file: string): void {
    this.writeTo(this.path, `${basename(file)}\n`, constants.O_APPEND);
  }

  /** The names listed; none when there is no list (or it cannot be read: nothing is then taken for ours). */
  names(): Set<string> {
    let fd: number;
    try {
      // Not through a symlink, not waiting on a FIFO, and by the descriptor that was checked, so a
      // symlink swapped in after a check (to /dev/zero) is not read without end.
      fd = openSync(this.path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY);
    } catch {
      return new Set();
    }
    try {
      const info = fstatSync(fd);
      // Not a huge file either: it is a list of a few names.
      if (!info.isFile() || info.size > MAX_LIST_BYTES) return new Set();
      const bytes = Buffer.alloc(info.size);
      const n = readSync(fd, bytes, 0, info.size, 0);
      return new Set(bytes.toString("utf8", 0, n).split("\n").filter((name) => name !== ""));
    } catch {
      return new Set();
    } finally {
      closeSync(fd);
    }
  }

  /** Keeps only the listed names (`listed`: as just read) whose files are still in `folder` (or still being written, as NAME.part): the rest were deleted. */
  prune(folder: string, listed = this.names()): void {
    const there = (name: string) => existsSync(join(folder, name)) || existsSync(join(folder, `${name}.part`));
    const kept = [...listed].filter(there);
    if (kept.length === listed.size) return;
    const fresh = `${this.path}.${process.pid}`;
    rmSync(fresh, { force: true });
    this.writeTo(fresh, kept.map((name) => `${name}\n`).join(""), constants.O_EXCL);
    renameSync(fresh, this.path); // replaces the name itself, never a file a symlink there points to
  }

  private writeTo(path: string, text: string, mode: number): void {
    let fd: number;
    try {
      fd = openHiddenFile(path, mode);
    } catch (error) {
      throw new Error(`cannot write ${path}: ${(error as Error).message}`);
    }
    try {
      writeSync(fd, text);
    } finally {
      closeSync(fd);
    }
  }
}
