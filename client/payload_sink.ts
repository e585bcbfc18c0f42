/**
 * Where `pacer recv` puts the payload: a file written synchronously, or stdout with its buffering.
 *
 * Stdout holds at most STDOUT_BACKLOG_BYTES its reader has not taken; payloads past that are dropped
 * and counted (`droppedBytes`), whole. Before, a reader that stalled (`recv - | stuck`) grew recv's
 * memory by the stream's rate for as long as it stalled: 81 to 136 MB in 12 s at 32 Mbit/s.
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
import { closeSync, fstatSync, ftruncateSync, openSync, writeSync } from "node:fs";
import { describeFsError } from "../foundation/fs_error.ts";
import { PacerError } from "../foundation/errors.ts";
import { openUntouched } from "../foundation/open_untouched.ts";

/** Why payload can no longer be written. `quiet`: the reader went away, which is not an error. */
export interface SinkFailure {
  quiet: boolean;
  why: string;
}

/** What stdout may hold for a reader that has fallen behind: 2 s of a 32 Mbit/s stream. */
export const STDOUT_BACKLOG_BYTES = 8 << 20;

export interface PayloadSink {
  /** Drops the bytes once the sink has failed. */
  write(bytes: Uint8Array): void;
  /** Payload bytes dropped because the reader of stdout fell behind by STDOUT_BACKLOG_BYTES. */
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
      if (backlog + bytes.length > STDOUT_BACKLOG_BYTES) {
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

function fileSink(out: string): PayloadSink {
  let fd: number | null;
  try {
    fd = openUntouched(out);
  } catch (error) {
    throw cannotOpen(out, error);
  }
  let started = false;
  /** What was there goes with the first payload (a FIFO or a device has nothing to truncate). */
  const start = () => {
    started = true;
    if (fd === null) fd = openSync(out, "w");
    else if (fstatSync(fd).isFile()) ftruncateSync(fd, 0);
  };
  const latch = failureLatch();
  return {
    failure: latch.failure,
    droppedBytes: 0, // written as it comes: a FIFO's stalled reader holds recv back instead
    write: (bytes) => {
      // An empty payload is no first payload: what was there stays until one with bytes comes.
      if (latch.failed || bytes.length === 0) return;
      try {
        if (!started) start();
        // A regular file takes it all at once; a FIFO or device may take less per call.
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
