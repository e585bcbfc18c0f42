/**
 * `file:PATH`: writes the stream to PATH verbatim, in the backend's format
 * (`--out-format`, else the input's), truncating what was there. Mostly for
 * tests and for capturing a live stream, so it is paced in real time like
 * every output, in units of about 100 ms of PCM (PCM_UNIT_US), or of 64 KiB
 * of MPEG and other data; on a pipe or device (stdout, a FIFO), where a
 * reader takes each unit as it comes, in a `cmd:`'s 8 KiB.
 *
 * What was there is truncated at the first write (or the close), not at the
 * open: a job whose later output turns out bad is never started, and then
 * `discard` leaves the file as it was (and removes one the open made).
 *
 * A write error (ENOSPC, EACCES, EIO...) stops the destination with a
 * one-line message; `close` makes the data durable (fdatasync) before
 * closing, and rejects if that fails. Those two reach the user through the
 * job, which puts the destination's label (`file:PATH`) in front, so they do
 * not name the path themselves; an open error is thrown straight to the
 * user, so it does.
 *
 * A FIFO is opened without blocking: with no reader yet (ENXIO) the open is
 * tried again every READER_RETRY_US, `full` holds the stream back meanwhile,
 * and pacer runs on (its other outputs, Ctrl-C). It is then written without
 * blocking (pipe_writer.ts), so a reader that falls behind pushes back, as a
 * `cmd:` does, instead of stopping pacer in a write.
 *
 * @example
 * ```ts
 * const out = await fileBackend.create("file:capture.raw", stream, ctx);
 * out.send(unit, timing); // takes the whole unit (a FIFO: what fits now)
 * await out.close();      // fdatasync, close
 * ```
 */
import { closeSync, constants, fdatasyncSync, fstatSync, ftruncateSync, openSync, rmSync, statSync, writeSync } from "node:fs";
import { PacerError, UsageError } from "../foundation/errors.ts";
import { describeFsError } from "../foundation/fs_error.ts";
import type { SampleFormat } from "../protocol/sample_format.ts";
import { type Backend, type BackendContext, type BackendFactory, newCounters, type StreamInfo } from "./backend.ts";
import { pcmUnitBytes } from "./pcm_unit.ts";
import { alignmentFor, PipeWriter, pipeDataUnitBytes, setNonBlocking } from "./pipe_writer.ts";

const SCHEME_PREFIX = "file:";
/** At most this many bytes per write, rounded down to whole frames or TS packets. */
const UNIT_TARGET_BYTES = 64 * 1024;
/**
 * ...and PCM units hold at most about this much audio (at least one frame): a reader on a pipe
 * (`file:/dev/stdout | aplay`, whose buffer is 500 ms) gets it smoothly, where 64 KiB at
 * u8:8000:1 came in 8.2 s bursts; and at 1 Hz a unit is one frame, where 64 KiB of frames made
 * the job convert 65536 s of input at once (an 11 GB buffer). Ten writes a second cost nothing.
 */
const PCM_UNIT_US = 100_000;
const AHEAD_US = 20_000;

function unitBytesFor(stream: StreamInfo, format: SampleFormat | undefined, regular: boolean): number {
  if (format) return pcmUnitBytes(format, PCM_UNIT_US, UNIT_TARGET_BYTES);
  // A unit goes at the time of its first byte: 64 KiB into `file:/dev/stdout | …` came 0.6 s of a
  // 844 kbit/s TS at a time, and its end 1.1 s early. Only a regular file takes them unread.
  if (!regular) return pipeDataUnitBytes(stream);
  const align = alignmentFor(stream, format);
  return Math.floor(UNIT_TARGET_BYTES / align) * align;
}

/**
 * Opens without blocking: a FIFO's open for writing blocks until a reader opens it, and a blocked
 * open held the whole event loop (every other output, and Ctrl-C). O_NONBLOCK makes it ENXIO then.
 */
const WRITE_AT_ONCE = constants.O_WRONLY | constants.O_NONBLOCK;
/** A FIFO with no reader yet is opened again this often. */
const READER_RETRY_US = 50_000;

interface OpenedOutput {
  /** -1: a FIFO with no reader yet. */
  fd: number;
  /** The open created the file (discard removes it). */
  made: boolean;
  /** A FIFO: written without blocking, pushing back when its reader falls behind (pipe_writer.ts). */
  fifo: boolean;
  /** A regular file, not a pipe or a device that a reader takes the stream from as it comes. */
  regular: boolean;
}

function openOutput(path: string): OpenedOutput {
  let fd: number;
  let made = false;
  try {
    try {
      fd = openSync(path, WRITE_AT_ONCE | constants.O_CREAT | constants.O_EXCL, 0o666);
      made = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      // There already, or a symlink (one whose target is missing makes that target).
      fd = openSync(path, WRITE_AT_ONCE | constants.O_CREAT, 0o666);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENXIO" && isFifo(path)) return { fd: -1, made: false, fifo: true, regular: false };
    throw err;
  }
  const stat = fstatSync(fd);
  // Only a pipe is written without blocking: a device (a terminal) may take part of a frame.
  if (!stat.isFIFO() && !stat.isFile()) setNonBlocking(fd, false);
  return { fd, made, fifo: stat.isFIFO(), regular: stat.isFile() };
}

function isFifo(path: string): boolean {
  try {
    return statSync(path).isFIFO();
  } catch {
    return false;
  }
}

export const fileBackend: BackendFactory = {
  scheme: "file",
  summary: "file:PATH  the stream written to PATH, verbatim",
  check(target: string): void {
    const path = target.slice(SCHEME_PREFIX.length);
    if (path === "") throw new UsageError(`"${target}": file: needs a path, e.g. file:capture.raw`);
    // `-` is stdout to most tools (and to recv --out): taken as a name, `--to file:- | ffplay -` wrote a file "-" and piped nothing.
    if (path === "-") throw new UsageError(`"${target}" would be a file named "-": for stdout, file:/dev/stdout (for that file name, file:./-)`);
  },
  async create(target: string, stream: StreamInfo, ctx: BackendContext): Promise<Backend> {
    fileBackend.check!(target);
    const path = target.slice(SCHEME_PREFIX.length);
    const format = stream.kind === "pcm" ? (stream.outFormat ?? stream.format) : undefined;
    const { log, scheduler } = ctx;
    let opened: OpenedOutput;
    try {
      opened = openOutput(path);
    } catch (err) {
      throw new PacerError(`${target}: cannot open for writing: ${describeFsError(err)}`);
    }
    const { made, fifo } = opened;
    let fd = opened.fd;
    const pipe = fifo ? new PipeWriter(alignmentFor(stream, format)) : null;
    const counters = newCounters();
    let failed = false;
    let closing: Promise<void> | null = null;
    let truncated = made;
    /** The job's destination, told once a FIFO's reader has come (Backend.full). */
    let readerCame: (() => void) | null = null;
    /** What was there goes once the stream starts (a FIFO or a device has nothing to truncate). */
    const truncate = () => {
      truncated = true;
      if (fstatSync(fd).isFile()) ftruncateSync(fd, 0);
    };

    // A FIFO with no reader: opened again on a timer, so pacer runs on meanwhile (other outputs, Ctrl-C).
    const lookForReader = scheduler.timer("retry", (_timer, now) => {
      if (closing || failed) return;
      try {
        fd = openSync(path, WRITE_AT_ONCE);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENXIO") return scheduler.schedule(lookForReader, now + READER_RETRY_US);
        failed = true;
        ctx.fail(new PacerError(`cannot open for writing: ${describeFsError(err)}`));
        return;
      }
      readerCame?.();
    });
    if (fd < 0) scheduler.schedule(lookForReader, scheduler.now() + READER_RETRY_US);

    return {
      label: target,
      format,
      unitBytes: unitBytesFor(stream, format, opened.regular),
      aheadUs: AHEAD_US,
      pushesBack: fifo,
      counters,
      full: fifo
        ? (ready) => {
            if (fd >= 0) return false;
            // Said once, when the stream first waits for it (not for a job that never starts).
            if (readerCame === null) log.info(`file: waiting for a reader to open the FIFO ${path}`);
            readerCame = ready;
            return true;
          }
        : undefined,
      send(unit) {
        if (failed || closing) return unit.length;
        if (fd < 0) return 0; // no reader yet (full() says so first)
        let written = unit.length;
        try {
          if (!truncated) truncate();
          if (pipe) {
            // A FIFO's reader may fall behind: it takes what fits now, the rest goes later.
            written = pipe.write(fd, unit);
            if (pipe.error) throw pipe.error;
          } else {
            // A regular file takes it all at once; a device may take less per call.
            for (let offset = 0; offset < unit.length; ) offset += writeSync(fd, unit, offset, unit.length - offset);
          }
        } catch (err) {
          failed = true;
          ctx.fail(new PacerError(`cannot write: ${describeFsError(err)}`));
          return unit.length;
        }
        if (written > 0) counters.units++;
        counters.bytes += written;
        return written;
      },
      discard() {
        closing ??= (async () => {
          scheduler.cancel(lookForReader);
          if (fd >= 0) closeSync(fd);
          if (made) rmSync(path, { force: true });
        })();
        return closing;
      },
      close() {
        closing ??= (async () => {
          scheduler.cancel(lookForReader);
          if (fd < 0) return; // a FIFO whose reader never came: nothing was written
          try {
            if (!truncated && !failed) truncate();
            fdatasyncSync(fd);
          } catch (err) {
            // EINVAL: not a file that can be synced (a pipe, /dev/null); nothing to make durable.
            const code = (err as NodeJS.ErrnoException).code;
            if (code !== "EINVAL" && code !== "EROFS") {
              closeSync(fd);
              throw new PacerError(`cannot flush to disk: ${describeFsError(err)}`);
            }
          }
          closeSync(fd);
        })();
        return closing;
      },
    };
  },
};
