/**
 * Where `pacer recv` puts the payload: a file written synchronously, or stdout with its buffering.
 *
 * Stdout, a FIFO or a device holds at most READER_BACKLOG_BYTES its reader has not taken; payloads
 * past that are dropped and counted (`droppedBytes`), whole. Before, a reader of stdout that stalled
 * (`recv - | stuck`) grew recv's memory by the stream's rate for as long as it stalled: 81 to 136 MB
 * in 12 s at 32 Mbit/s.
 *
 * A file is left as it was until the first payload arrives: a request the server refuses, or a
 * server that never answers, must not cost the user what the file held (README, "Interface
 * details"). The open checks only — an existing file is opened without truncation, a missing
 * one has its directory checked — so a bad path still fails before anything is requested, and the
 * first write truncates the file, or creates it. In place rather than a temporary renamed over it:
 * the file keeps its owner, mode and hard links, a FIFO or a device (`--out /dev/full`) stays
 * one, and a directory that takes no new files (/dev) is no obstacle.
 *
 * @example
 * ```ts
 * const sink = openSink("capture.ts"); // capture.ts untouched so far
 * sink.write(payload); // truncated (or created), then written
 * void sink.failure.then((f) => stop(f.why));
 * await sink.close();
 * ```
 */
import { closeSync, constants, fstatSync, ftruncateSync, openSync, writeSync } from "node:fs";
import { describeFsError } from "../foundation/fs_error.ts";
import { PacerError } from "../foundation/errors.ts";
import { openUntouched } from "../foundation/open_untouched.ts";

/** Why payload can no longer be written. `quiet`: the reader went away, which is not an error. */
export interface SinkFailure {
  quiet: boolean;
  why: string;
}

/** What a pipe's or device's writer may hold for a reader that has fallen behind: 2 s of a 32 Mbit/s stream. */
export const READER_BACKLOG_BYTES = 8 << 20;
/** How soon a full pipe is offered what it could not take. */
const PIPE_RETRY_MS = 5;

export interface PayloadSink {
  /** Drops the bytes once the sink has failed. */
  write(bytes: Uint8Array): void;
  /** Payload bytes dropped because the reader (of stdout, a FIFO) fell behind by READER_BACKLOG_BYTES. */
  readonly droppedBytes: number;
  close(): Promise<void>;
  /** Resolves at the first write error; never, if there is none. */
  readonly failure: Promise<SinkFailure>;
}

/** `-` is stdout; anything else a file path. Throws PacerError if the file cannot be written. */
export function openSink(out: string): PayloadSink {
  return out === "-" ? stdoutSink() : fileSink(out);
}

/** The first write error, kept: the receive loop acts on it once, and later writes are dropped. */
function failureLatch() {
  const { promise, resolve } = Promise.withResolvers<SinkFailure>();
  const latch = {
    failure: promise,
    failed: false,
    fail(failure: SinkFailure): void {
      if (latch.failed) return;
      latch.failed = true;
      resolve(failure);
    },
  };
  return latch;
}

/** EPIPE: whoever read the stream closed their end (`recv | head`); anything else is an error. */
function sinkFailure(name: string, error: unknown): SinkFailure {
  if ((error as NodeJS.ErrnoException).code === "EPIPE") return { quiet: true, why: `the reader of ${name} went away` };
  return { quiet: false, why: `${name}: cannot write: ${describeFsError(error)}` };
}

/**
 * Stdout, at its reader's pace without waiting for it: Bun's process.stdout queues what a slow
 * reader has not taken, which is held to READER_BACKLOG_BYTES here.
 */
function stdoutSink(): PayloadSink {
  const latch = failureLatch();
  /** Bytes handed to stdout and not yet written (Bun's writableLength says 0 throughout). */
  let backlog = 0;
  let droppedBytes = 0;
  let drained: (() => void) | null = null;
  const onError = (error: Error) => latch.fail(sinkFailure("stdout", error));
  // Without a listener, Bun throws stdout's EPIPE as an uncaught error with a stack trace.
  process.stdout.on("error", onError);
  return {
    failure: latch.failure,
    get droppedBytes() {
      return droppedBytes;
    },
    write: (bytes) => {
      if (latch.failed) return;
      if (backlog + bytes.length > READER_BACKLOG_BYTES) {
        droppedBytes += bytes.length;
        return;
      }
      backlog += bytes.length;
      process.stdout.write(bytes, (error) => {
        if (error) onError(error);
        backlog -= bytes.length;
        if (backlog === 0) drained?.();
      });
    },
    // After a failure the pending writes only fail too: nothing to wait for.
    close: () => (latch.failed || backlog === 0 ? Promise.resolve() : new Promise<void>((resolve) => (drained = resolve))),
  };
}

/**
 * A FIFO or a device given as --out, at its reader's pace without waiting for it: written
 * without blocking, what the reader has not taken held in order (to READER_BACKLOG_BYTES) and
 * offered again every PIPE_RETRY_MS. Written blocking, a FIFO whose reader paused stopped recv
 * whole, its interest keep-alives too: the server let the stream expire, and recv's request again
 * wrote the stream's start a second time into the FIFO.
 */
function pipeSink(name: string): PayloadSink {
  let fd: number;
  try {
    fd = openSync(name, constants.O_WRONLY | constants.O_NONBLOCK);
  } catch (error) {
    throw cannotOpen(name, error);
  }
  const latch = failureLatch();
  const held: Uint8Array[] = [];
  let first = 0;
  let backlog = 0;
  let droppedBytes = 0;
  let retry: ReturnType<typeof setTimeout> | null = null;
  let drained: (() => void) | null = null;
  /** Writes what the pipe takes of `bytes` now: how much, or -1 once the sink has failed. */
  const writeNow = (bytes: Uint8Array): number => {
    try {
      return writeSync(fd, bytes);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "EAGAIN") return 0; // full: a write of up to PIPE_BUF is all or nothing
      latch.fail(sinkFailure(name, error));
      held.length = first = backlog = 0;
      drained?.(); // nothing more will go: a close waiting for it goes on
      return -1;
    }
  };
  const flush = () => {
    retry = null;
    while (first < held.length) {
      const chunk = held[first]!;
      const n = writeNow(chunk);
      if (n < 0) return;
      backlog -= n;
      if (n < chunk.length) {
        held[first] = chunk.subarray(n); // the rest waits for the reader
        break;
      }
      held[first++] = EMPTY;
    }
    if (first === held.length) {
      held.length = first = 0;
      drained?.();
      return;
    }
    if (first > 1024) {
      held.splice(0, first); // what went out, dropped from the front now and then
      first = 0;
    }
    retry = setTimeout(flush, PIPE_RETRY_MS);
  };
  return {
    failure: latch.failure,
    get droppedBytes() {
      return droppedBytes;
    },
    write: (bytes) => {
      if (latch.failed || bytes.length === 0) return;
      if (backlog + bytes.length > READER_BACKLOG_BYTES) {
        droppedBytes += bytes.length;
        return;
      }
      // Nothing waiting: straight into the pipe, which mostly takes it all.
      const taken = first === held.length ? writeNow(bytes) : 0;
      if (taken < 0 || taken === bytes.length) return;
      // A copy: the caller's buffer is its own again once this returns (the reorder's slots are reused).
      held.push(new Uint8Array(bytes.subarray(taken)));
      backlog += bytes.length - taken;
      retry ??= setTimeout(flush, PIPE_RETRY_MS);
    },
    close: async () => {
      if (first < held.length && !latch.failed) await new Promise<void>((resolve) => (drained = resolve));
      if (retry) clearTimeout(retry);
      closeSync(fd);
    },
  };
}

const EMPTY = new Uint8Array(0);

function fileSink(out: string): PayloadSink {
  let fd: number | null;
  try {
    fd = openUntouched(out);
  } catch (error) {
    throw cannotOpen(out, error);
  }
  // A FIFO or a device: its reader sets the pace, and recv must not wait for it.
  if (fd !== null && !fstatSync(fd).isFile()) {
    closeSync(fd);
    return pipeSink(out);
  }
  let started = false;
  /** What was there goes with the first payload. */
  const start = () => {
    started = true;
    if (fd === null) fd = openSync(out, "w");
    else ftruncateSync(fd, 0);
  };
  const latch = failureLatch();
  return {
    failure: latch.failure,
    droppedBytes: 0, // a regular file takes what comes
    write: (bytes) => {
      // An empty payload is no first payload: what was there stays until one with bytes comes.
      if (latch.failed || bytes.length === 0) return;
      try {
        if (!started) start();
        for (let done = 0; done < bytes.length; ) done += writeSync(fd!, bytes, done, bytes.length - done);
      } catch (error) {
        latch.fail(sinkFailure(out, error));
      }
    },
    close: async () => {
      if (fd !== null) closeSync(fd);
    },
  };
}

function cannotOpen(out: string, error: unknown): PacerError {
  return new PacerError(`${out}: cannot open for writing: ${describeFsError(error)}`);
}
