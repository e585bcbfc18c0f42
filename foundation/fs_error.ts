/**
 * Plain words for what the file system refused, so a message about a path is one line a user
 * reads (`rec/a.ts: cannot create: read-only file system`), never Node's own text (`EROFS:
 * read-only file system, open 'rec/a.ts'`), which repeats the path and names the system call.
 * Every open, read and write of a user's file words its error here.
 *
 * @example
 * ```ts
 * try { openSync(path, "r"); } catch (error) { throw new PacerError(describeOpenError(path, error)); }
 * // "media: is a directory", "a/b.ts: a component of the path is not a directory"
 * ```
 */

const WORDS: Readonly<Record<string, string>> = {
  ENOENT: "no such file or directory",
  ENOTDIR: "a component of the path is not a directory",
  EISDIR: "is a directory",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EROFS: "read-only file system",
  ENOSPC: "no space left on device",
  EDQUOT: "disk quota exceeded",
  EFBIG: "file too large",
  EIO: "input/output error",
  ELOOP: "too many levels of symbolic links",
  ENAMETOOLONG: "file name too long",
  ENXIO: "no such device or address",
  EMFILE: "too many open files",
  ENFILE: "too many open files in the system",
  ENOMEM: "out of memory",
  ETXTBSY: "text file busy",
  EPIPE: "the reader closed the pipe",
};

/** Words for errno numbers a system call through bun:ffi returns (Linux's numbers), and Node's codes for them. */
const ERRNO_CODES: Readonly<Record<number, string>> = {
  1: "EPERM", 2: "ENOENT", 5: "EIO", 11: "EAGAIN", 12: "ENOMEM", 13: "EACCES", 19: "ENODEV", 20: "ENOTDIR", 21: "EISDIR", 22: "EINVAL",
  23: "ENFILE", 24: "EMFILE", 28: "ENOSPC", 30: "EROFS", 40: "ELOOP", 97: "EAFNOSUPPORT", 98: "EADDRINUSE",
  99: "EADDRNOTAVAIL", 101: "ENETUNREACH", 105: "ENOBUFS", 111: "ECONNREFUSED", 113: "EHOSTUNREACH",
};
const NET_WORDS: Readonly<Record<string, string>> = {
  EAGAIN: "resource temporarily unavailable",
  ENODEV: "no such device",
  EINVAL: "invalid argument",
  EAFNOSUPPORT: "address family not supported",
  EADDRINUSE: "address already in use",
  EADDRNOTAVAIL: "not an address of this host",
  ENETUNREACH: "network unreachable",
  ENOBUFS: "no buffer space available",
  ECONNREFUSED: "connection refused",
  EHOSTUNREACH: "no route to host",
};

/** Node's code for a system call's errno (24: "EMFILE"), where this table has it. */
export function errnoCode(errno: number): string | undefined {
  return ERRNO_CODES[errno];
}

/**
 * Codes of a host short of something (descriptors, memory, processes): the path or command is
 * fine, and a try once some is freed may pass.
 */
const SHORTAGES = new Set(["EMFILE", "ENFILE", "ENOMEM", "EAGAIN"]);

/**
 * The code (`EMFILE`) where `error`, or an error it wraps (its `cause`: a PacerError that words a
 * file's failure), says the host is short of descriptors, memory or processes; else null.
 */
export function shortageOf(error: unknown): string | null {
  let e = error as { code?: unknown; cause?: unknown } | null | undefined;
  for (let depth = 0; e && depth < 4; depth++, e = e.cause as typeof e) {
    if (typeof e.code === "string" && SHORTAGES.has(e.code)) return e.code;
  }
  return null;
}

/** Whether `error` says the host is short of descriptors, memory or processes (shortageOf). */
export function isShortage(error: unknown): boolean {
  return shortageOf(error) !== null;
}

/** An errno code in words with the code (`too many open files (EMFILE)`). */
export function codeText(code: string): string {
  const words = WORDS[code] ?? NET_WORDS[code];
  return words ? `${words} (${code})` : code;
}

/** A system call's errno in words (`permission denied`), or `errno N` for one without. */
export function errnoText(errno: number): string {
  const code = ERRNO_CODES[errno];
  const words = code ? (WORDS[code] ?? NET_WORDS[code]) : undefined;
  return words ?? `errno ${errno}`;
}

/** Node's form, `CODE: words, syscall 'path'`, for a code without words of ours. */
const NODE_MESSAGE = /^([A-Z][A-Z0-9_]*): (.+?), \w+(?: '.*')?$/;

/** What the file system said, in words: `is a directory`, `read-only file system`. */
export function fsErrorText(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  // A recursive mkdir meets a file where a folder of the path should be: that file is the trouble.
  if (e?.code === "EEXIST" && e.syscall === "mkdir" && e.path) return `${e.path} is not a directory`;
  const words = e?.code ? WORDS[e.code] : undefined;
  if (words) return words;
  const line = (error instanceof Error ? error.message : String(error)).split("\n")[0]!;
  const node = NODE_MESSAGE.exec(line);
  return node ? `${node[2]} (${node[1]})` : line;
}

/** `words (CODE)`, for the messages that have always named the code (an output's open or write). */
export function describeFsError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException)?.code;
  const text = fsErrorText(error);
  return code && WORDS[code] ? `${text} (${code})` : text;
}

/** Why an input file cannot be opened, one line naming it: `a.ts: no such file`, `m/: is a directory`. */
export function describeOpenError(path: string, error: unknown): string {
  if ((error as NodeJS.ErrnoException)?.code === "ENOENT") return `${path}: no such file`;
  return `${path}: ${fsErrorText(error)}`;
}
