/**
 * Opening a file by a name relative to a root so that nothing outside the root can be reached,
 * race-free: openat2(2) with RESOLVE_BENEATH (Linux 5.6+) resolves every component, symlinks
 * included, inside the root in the kernel, in one step, so a symlink swapped in between a check
 * and the open cannot lead out. Where openat2 is missing (ENOSYS, or no libc), the file is opened
 * and the opened file's own path (/proc/self/fd) is checked instead: that names the file the
 * descriptor holds, whatever happened to the names since. Folders to write in are made beneath a
 * root the same way, each checked before anything is made in it.
 *
 * @example
 * ```ts
 * const fd = openBeneath("/srv/media", "news/evening.ts"); // throws BeneathError("escapes") for "../x" or a symlink out
 * makeFoldersBeneath("/srv/rec", "/srv/rec/news/2026");   // throws BeneathError("escapes") where a level is a symlink out
 * ```
 */
import { closeSync, constants, lstatSync, mkdirSync, openSync, readlinkSync, realpathSync } from "node:fs";
import { isAbsolute, join, relative, resolve, sep } from "node:path";
import { errnoCode, errnoText, fsErrorText } from "./fs_error.ts";
import { errno, libc } from "./libc.ts";

const SYS_OPENAT2 = 437; // the same on every Linux architecture (the generic syscall table)
const RESOLVE_NO_MAGICLINKS = 0x02;
const RESOLVE_BENEATH = 0x08;
const EXDEV = 18;
const ENOSYS = 38;
const ELOOP = 40;
const ENOENT = 2;
const ENOTDIR = 20;
const EACCES = 13;

/** Why a name could not be opened beneath its root. */
export class BeneathError extends Error {
  constructor(
    readonly reason: "escapes" | "missing" | "denied" | "failed",
    message: string,
    /** What the system said, in words, where it refused (denied, failed). */
    readonly why = message,
    /** Its errno code (`EMFILE`), where it refused (denied, failed): isShortage reads it. */
    readonly code?: string,
  ) {
    super(message);
  }
}

/** Whether `realPath` lies beneath `realRoot` (both resolved, symlinks and all), not at it. */
export function liesBeneath(realRoot: string, realPath: string): boolean {
  const rel = relative(realRoot, realPath);
  return rel !== "" && rel !== ".." && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
}

/**
 * Makes `folder` (a path under `root`) and the folders before it, one level at a time, each new
 * one only inside a folder that resolves (symlinks followed) beneath the root: `mkdir -p` through
 * a symlink out made folders outside before anything checked where they landed. A symlink that
 * stays inside is followed. Throws BeneathError("escapes") for a level that leads out; other
 * failures are fs errors. The root itself is made if missing (it is the operator's).
 */
export function makeFoldersBeneath(root: string, folder: string): void {
  mkdirSync(root, { recursive: true });
  const realRoot = realpathSync(root);
  const rel = relative(resolve(root), resolve(folder));
  if (rel === "") return;
  if (rel === ".." || rel.startsWith(`..${sep}`) || isAbsolute(rel)) throw new BeneathError("escapes", `${folder} lies outside ${root}`);
  let at = realRoot;
  for (const name of rel.split(sep)) {
    const next = join(at, name);
    if (!nameTaken(next)) {
      try {
        mkdirSync(next);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      }
    }
    try {
      at = realpathSync(next);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") throw new BeneathError("failed", `${next} is a symlink to nothing`);
      throw error;
    }
    if (at !== realRoot && !liesBeneath(realRoot, at)) throw new BeneathError("escapes", `${folder} resolves outside ${root} (a symlink?)`);
  }
}

/**
 * Whether anything has the name, a dangling symlink included (existsSync follows links, and an
 * exclusive open or a mkdir then fails EEXIST). A name that cannot be looked at is left for the
 * open to report.
 */
export function nameTaken(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Whether openat2 answered here (after the first call); null before. */
let haveOpenat2: boolean | null = null;

/** A read-only, close-on-exec descriptor of `name` under `root`, which it cannot leave. */
export function openBeneath(root: string, name: string): number {
  const c = libc();
  if (c && haveOpenat2 !== false) {
    const rootFd = openSync(root, constants.O_RDONLY | constants.O_DIRECTORY);
    try {
      // struct open_how { u64 flags; u64 mode; u64 resolve; }
      const how = new BigUint64Array(new ArrayBuffer(24)); // its own buffer: FFI takes its address
      // Non-blocking, as below: opening a FIFO for reading waits for a writer, and this call
      // blocks the thread that sends every stream. The caller checks the descriptor is a file.
      how[0] = BigInt(constants.O_RDONLY | constants.O_NOCTTY | constants.O_NONBLOCK | 0o2000000 /* O_CLOEXEC */);
      how[2] = BigInt(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS);
      const path = new TextEncoder().encode(`${name}\0`);
      const fd = Number(c.syscall(SYS_OPENAT2, rootFd, path, how, how.byteLength));
      if (fd >= 0) {
        haveOpenat2 = true;
        return fd;
      }
      const code = errno(c);
      if (code !== ENOSYS) {
        haveOpenat2 = true;
        // EXDEV is also an absolute symlink, even one that lands inside the root: that one the
        // descriptor check below lets through, as the realpath check always did.
        if (code === EXDEV) return openThenCheck(root, name);
        if (code === ELOOP) throw new BeneathError("escapes", `${name} resolves outside ${root}`);
        if (code === ENOENT || code === ENOTDIR) throw new BeneathError("missing", `${name} is not in ${root}`);
        throw new BeneathError(code === EACCES ? "denied" : "failed", `${name}: ${errnoText(code)}`, errnoText(code), errnoCode(code));
      }
      haveOpenat2 = false;
    } finally {
      closeSync(rootFd);
    }
  }
  return openThenCheck(root, name);
}

/** Without openat2 (or past an absolute symlink): open, then check where the descriptor really is. */
function openThenCheck(root: string, name: string): number {
  if (isAbsolute(name)) throw new BeneathError("escapes", `${name} resolves outside ${root}`);
  const realRoot = realpathSync(root);
  let fd: number;
  try {
    // Non-blocking: a FIFO where the file should be must not hold the open.
    fd = openSync(join(realRoot, name), constants.O_RDONLY | constants.O_NOCTTY | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") throw new BeneathError("missing", `${name} is not in ${root}`);
    throw new BeneathError(code === "EACCES" ? "denied" : "failed", `${name}: ${fsErrorText(error)}`, fsErrorText(error), code);
  }
  const real = readlinkSync(`/proc/self/fd/${fd}`);
  if (!liesBeneath(realRoot, real)) {
    closeSync(fd);
    throw new BeneathError("escapes", `${name} resolves outside ${root}`);
  }
  return fd;
}

/** Test hook: forget whether openat2 is there, or pretend it is not. */
export function setOpenat2ForTests(value: boolean | null): void {
  haveOpenat2 = value;
}
