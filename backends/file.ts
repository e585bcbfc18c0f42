/**
 * `file:PATH`: writes the stream to PATH verbatim, in the backend's format
 * (`--out-format`, else the input's), truncating what was there. Mostly for
 * tests and for capturing a live stream, so it is paced in real time like
 * every output, in units of 64 KiB, or about 100 ms of PCM (PCM_UNIT_US).
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
 * @example
 * ```ts
 * const out = await fileBackend.create("file:capture.raw", stream, ctx);
 * out.send(unit, timing); // always takes the whole unit
 * await out.close();      // fdatasync, close
 * ```
 */
import { closeSync, constants, fdatasyncSync, fstatSync, ftruncateSync, openSync, rmSync, writeSync } from "node:fs";
import { PacerError, UsageError } from "../foundation/errors.ts";
import { describeFsError } from "../foundation/fs_error.ts";
import type { SampleFormat } from "../protocol/sample_format.ts";
import { TS_SIZE } from "../protocol/mpegts.ts";
import { type Backend, type BackendContext, type BackendFactory, newCounters, type StreamInfo } from "./backend.ts";
import { pcmUnitBytes } from "./pcm_unit.ts";

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

function unitBytesFor(stream: StreamInfo, format: SampleFormat | undefined): number {
  if (format) return pcmUnitBytes(format, PCM_UNIT_US, UNIT_TARGET_BYTES);
  const align = stream.kind === "mpegts" ? TS_SIZE : 1;
  return Math.floor(UNIT_TARGET_BYTES / align) * align;
}

export const fileBackend: BackendFactory = {
  scheme: "file",
  summary: "file:PATH  the stream written to PATH, verbatim",
  check(target: string): void {
    if (target.slice(SCHEME_PREFIX.length) === "") throw new UsageError(`"${target}": file: needs a path, e.g. file:capture.raw`);
  },
  async create(target: string, stream: StreamInfo, ctx: BackendContext): Promise<Backend> {
    fileBackend.check!(target);
    const path = target.slice(SCHEME_PREFIX.length);
    const format = stream.kind === "pcm" ? (stream.outFormat ?? stream.format) : undefined;
    let fd: number;
    let made = false;
    try {
      try {
        fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o666);
        made = true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
        // There already, or a symlink (one whose target is missing makes that target).
        fd = openSync(path, constants.O_WRONLY | constants.O_CREAT, 0o666);
      }
    } catch (err) {
      throw new PacerError(`${target}: cannot open for writing: ${describeFsError(err)}`);
    }
    const counters = newCounters();
    let failed = false;
    let closing: Promise<void> | null = null;
    let truncated = made;
    /** What was there goes once the stream starts (a FIFO or a device has nothing to truncate). */
    const truncate = () => {
      truncated = true;
      if (fstatSync(fd).isFile()) ftruncateSync(fd, 0);
    };

    return {
      label: target,
      format,
      unitBytes: unitBytesFor(stream, format),
      aheadUs: AHEAD_US,
      counters,
      send(unit) {
        if (failed || closing) return unit.length;
        try {
          if (!truncated) truncate();
          // A regular file takes it all at once; a device or FIFO may take less per call.
          for (let offset = 0; offset < unit.length; ) offset += writeSync(fd, unit, offset, unit.length - offset);
        } catch (err) {
          failed = true;
          ctx.fail(new PacerError(`cannot write: ${describeFsError(err)}`));
          return unit.length;
        }
        counters.units++;
        counters.bytes += unit.length;
        return unit.length;
      },
      discard() {
        closing ??= (async () => {
          closeSync(fd);
          if (made) rmSync(path, { force: true });
        })();
        return closing;
      },
      close() {
        closing ??= (async () => {
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
