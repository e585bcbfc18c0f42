/**
 * `pacer record --gap-log FILE`: a line per gap, appended, and never a wait for it. A regular
 * file (or none yet) is opened for each line, so a log that logrotate moved away is made again.
 * A FIFO is opened once, at the start, without blocking, and kept open to the end: opened as a
 * file, it blocked the recorder until a reader came (past `--duration`, deaf to SIGTERM), and
 * each open and close handed its reader an end of file. A line a full pipe cannot take is
 * dropped and said, as a write the file system refuses is. The log is written only when a gap
 * comes, perhaps hours in: a path that cannot be written is said at the start, not at each gap.
 * A log that fails later (a full disk, a FIFO's reader gone) is said once when it starts failing
 * and once when it works again, its lost lines counted: a lossy feed warned at every gap, 29
 * lines of cron mail in 3 s.
 *
 * @example
 * ```ts
 * const gaps = new GapLog("gaps.log"); // PacerError now when it cannot be written
 * gaps.append("2026-12-06T20:00:00.000Z rec.ts 1316 stalled 2.0 s\n", log); // warns once if it fails
 * gaps.notWritten; // lines lost over the whole recording, for its summary
 * gaps.close();
 * ```
 */
import { accessSync, closeSync, constants, openSync, realpathSync, statSync, writeSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { PacerError, UsageError } from "../foundation/errors.ts";
import { fsErrorText } from "../foundation/fs_error.ts";
import type { Logger } from "../foundation/log.ts";
import { formatPattern, hasFields } from "./pattern.ts";

const APPEND = constants.O_WRONLY | constants.O_APPEND | constants.O_NONBLOCK | constants.O_NOCTTY;

export class GapLog {
  /** The FIFO, kept open; null for a file, opened per line. */
  #fifo: number | null = null;
  /** Lines not written since the log last worked: 0 while it works. */
  #missed = 0;
  /** Lines not written over the whole recording (its summary says them). */
  notWritten = 0;

  /** Checks that `path` can be written, leaving a file as it is; a FIFO must have a reader now. */
  constructor(readonly path: string) {
    const fail = (why: string) => new PacerError(`--gap-log ${path}: cannot write it: ${why}`);
    let fifo = false;
    try {
      fifo = statSync(path).isFIFO();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw fail(fsErrorText(error));
      try {
        accessSync(dirname(path), constants.W_OK | constants.X_OK);
      } catch (folderError) {
        throw fail(fsErrorText(folderError));
      }
      return;
    }
    try {
      const fd = openSync(path, APPEND);
      if (fifo) this.#fifo = fd;
      else closeSync(fd);
    } catch (error) {
      // A FIFO opened for writing without blocking: ENXIO while nothing reads it.
      throw fail(fifo && (error as NodeJS.ErrnoException).code === "ENXIO" ? "it is a FIFO and nothing is reading it" : fsErrorText(error));
    }
  }

  /** Appends `line`; the first failure of a stretch is warned on `log`, and the end of one. */
  append(line: string, log: Logger): void {
    const why = this.#write(line);
    if (why === null) {
      if (this.#missed > 0) log.warn(`${this.path}: the gap log is written again; ${this.#missed} gap line${this.#missed === 1 ? " was" : "s were"} not written`);
      this.#missed = 0;
      return;
    }
    this.notWritten++;
    if (this.#missed++ === 0) log.warn(`${this.path}: cannot write the gap log: ${why}; its lines are counted, not written, until it can be`);
  }

  /** Appends `line`: null, or why it was not written. */
  #write(line: string): string | null {
    const bytes = Buffer.from(line);
    try {
      if (this.#fifo !== null) {
        // A line goes whole or not at all: a pipe takes up to PIPE_BUF bytes at once.
        if (writeSync(this.#fifo, bytes) !== bytes.length) return "the pipe took only part of a line";
        return null;
      }
      const fd = openSync(this.path, APPEND | constants.O_CREAT, 0o644);
      try {
        writeSync(fd, bytes);
      } finally {
        closeSync(fd);
      }
      return null;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === "EAGAIN" ? "the pipe is full (its reader is not reading)" : fsErrorText(error);
    }
  }

  close(): void {
    if (this.#fifo !== null) closeSync(this.#fifo);
    this.#fifo = null;
  }
}

/** `path` with its folder's symlinks resolved (the folder as given where it does not exist). */
function canonicalPath(path: string): string {
  const full = resolve(path);
  try {
    return join(realpathSync(dirname(full)), basename(full));
  } catch {
    return full;
  }
}

function sameFile(a: string, b: string): boolean {
  if (canonicalPath(a) === canonicalPath(b)) return true;
  try {
    const [sa, sb] = [statSync(a), statSync(b)];
    return sa.dev === sb.dev && sa.ino === sb.ino;
  } catch {
    return false; // one is not there yet: only its name could say, and it did not
  }
}

/**
 * A usage error when `--gap-log` names the recording itself (by its pattern as written, or, for a
 * pattern with no field, the file it names, by another spelling, a symlink or a hard link): the
 * lines went into the recording, and the recording over them. Names a pattern's fields will
 * give later cannot be known at the start, and are not checked.
 */
export function refuseGapLogOnRecording(gapLog: string, pattern: string, part: boolean): void {
  const named = formatPattern(pattern, new Date());
  const recordings = [pattern, ...(hasFields(pattern) ? [] : [named, ...(part ? [`${named}.part`] : [])])];
  if (recordings.some((recording) => sameFile(gapLog, recording))) {
    throw new UsageError(`--gap-log ${gapLog} is the recording itself (--out ${pattern}): its lines would be written into the recording; give another file`);
  }
}
