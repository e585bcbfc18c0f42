/**
 * The lock that keeps a second recorder off an output: flock(2) on a hidden file in the
 * pattern's folder, named after the pattern, never opened through a symlink. The kernel drops it when the process ends, however
 * it ends (kill -9 included), so a crashed recorder never leaves a stale lock for cron to trip on.
 *
 * @example
 * ```ts
 * const lock = lockOutput("rec/%Y%m%d.ts"); // TemporaryError (exit 75) when another recorder holds it
 * lock.release();
 * ```
 */
import { closeSync, constants, fstatSync, mkdirSync, openSync } from "node:fs";
import { join } from "node:path";
import { PacerError, TemporaryError } from "../foundation/errors.ts";
import { fsErrorText } from "../foundation/fs_error.ts";
import { libc } from "../foundation/libc.ts";
import { staticFolder } from "./pattern.ts";

const NOT_A_FILE = "it is there and is not a file (a FIFO or a device); remove it";
const LOCK_EX = 2;
const LOCK_NB = 4;

export interface OutputLock {
  readonly path: string;
  release(): void;
}

/**
 * The lock file for a pattern: `.NAME.lock` beside the files, NAME the rest of the pattern with
 * `_` written `__` and `/` written `_-`, so that two patterns never share a lock (with slashes
 * made underscores, `%Y_x.ts` and `%Y/x.ts` did, and the second recorder was told the first was
 * writing its output: exit 75, which cron lines take as "already running").
 */
export function lockPathFor(pattern: string): string {
  return hiddenPathFor(pattern, ".lock");
}

/** A hidden file of the pattern's own beside its files: `.NAME` + `extension`, NAME as for the lock. */
export function hiddenPathFor(pattern: string, extension: string): string {
  const folder = staticFolder(pattern);
  const rest = pattern.slice(folder === "." && !pattern.startsWith("./") ? 0 : folder.length + 1);
  return join(folder, `.${rest.replaceAll("_", "__").replaceAll("/", "_-")}${extension}`);
}

/**
 * Opens (making it) a hidden file of the pattern's own for writing, `flags` added, or throws why
 * not in words: never through a symlink (one put in its place would have it make a file
 * anywhere), and never waiting: a FIFO put there held the open (and `serve`, every stream with
 * it) until a reader came. A FIFO with a reader, or a device, opens and is refused as not a file.
 */
export function openHiddenFile(path: string, flags: number): number {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY | flags, 0o644);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // O_NOFOLLOW's ELOOP: the name is a symlink, not a loop of them; O_NONBLOCK's ENXIO: a FIFO no one reads.
    throw new Error(code === "ELOOP" ? "is a symlink (not followed)" : code === "ENXIO" ? NOT_A_FILE : fsErrorText(error));
  }
  if (!fstatSync(fd).isFile()) {
    closeSync(fd);
    throw new Error(NOT_A_FILE);
  }
  return fd;
}

export function lockOutput(pattern: string): OutputLock {
  const c = libc();
  if (!c) throw new PacerError("cannot lock the output: libc.so.6 could not be loaded");
  const path = lockPathFor(pattern);
  const cannot = (why: string) => new PacerError(`${path}: cannot create the lock file: ${why}`);
  try {
    mkdirSync(staticFolder(pattern), { recursive: true });
  } catch (error) {
    throw cannot(fsErrorText(error));
  }
  let fd: number;
  try {
    fd = openHiddenFile(path, constants.O_APPEND);
  } catch (error) {
    throw cannot((error as Error).message); // words already
  }
  if (c.flock(fd, LOCK_EX | LOCK_NB) !== 0) {
    closeSync(fd);
    throw new TemporaryError(`another recorder is writing ${pattern} (lock ${path})`);
  }
  return { path, release: () => closeSync(fd) };
}
