/**
 * Lines to a file descriptor (stderr) through a thread of their own, so that the caller never
 * waits on the reader and holds a bounded amount for it. The server logs on the thread that runs
 * every send: a blocking write (Bun's console.error) to a pipe nobody reads held a scratch build
 * in poll(), its 1000 streams with it; Bun's process.stderr never waits, but holds what the pipe
 * does not take without bound (20 MB in 0.3 s, measured) and loses it at process.exit.
 *
 * A line goes straight to the descriptor while the thread has nothing queued and poll() says a
 * write of up to PIPE_BUF bytes goes through at once (so a reader that keeps up sees each line
 * before whatever the caller does next, a reply to a request for one). Otherwise the caller
 * copies it into a ring in shared memory and wakes the thread, which writes what is there with
 * blocking writes; a line that finds the ring full is dropped (offer says so, and the logger
 * counts it). One producer, one consumer; offsets only grow (mod 2^32).
 *
 * @example
 * ```ts
 * const stderr = startLineWriter(2);
 * stderr.offer("pacer: serving\n"); // false: the ring was full, the line dropped
 * await stderr.flush(1_000);        // before exit: what is queued, written
 * ```
 */
import { writeSync } from "node:fs";
import { POLLOUT, pollNow } from "./libc.ts";
import { threadEntry } from "./thread_entry.ts";

/** Control words: where the caller has written to, and where the thread has written out to (bytes, mod 2^32). */
export const WRITTEN_IN = 0;
export const WRITTEN_OUT = 1;
export const CONTROL_BYTES = 8;

/** About 12,000 log lines: a burst of starts, while the reader is slow, without a drop. */
const DEFAULT_CAPACITY = 1 << 20;
const FLUSH_POLL_MS = 5;
/** A write of at most this much to a pipe that poll() calls writable completes at once (pipe(7)). */
const PIPE_BUF = 4096;

const THREAD = threadEntry("foundation/line_writer_thread.ts");

export interface LineWriterStart {
  readonly shared: SharedArrayBuffer;
  readonly fd: number;
}

export interface LineWriter {
  /** Writes `line` (its own newline included) or queues it for the thread; false if the ring had no room, and it was dropped. */
  offer(line: string): boolean;
  /** Resolves once the thread has written everything queued, or after `timeoutMs`. */
  flush(timeoutMs: number): Promise<void>;
}

export function startLineWriter(fd: number, capacity = DEFAULT_CAPACITY): LineWriter {
  const shared = new SharedArrayBuffer(CONTROL_BYTES + capacity);
  const control = new Int32Array(shared, 0, CONTROL_BYTES / 4);
  const ring = new Uint8Array(shared, CONTROL_BYTES, capacity);
  const worker = new Worker(THREAD);
  // A thread blocked in a write must not keep the process alive.
  worker.unref();
  worker.postMessage({ shared, fd } satisfies LineWriterStart);
  const encoder = new TextEncoder();
  // A line is encoded here first: it may wrap around the ring's end.
  let scratch = new Uint8Array(1024);
  let writtenIn = 0;
  const pending = () => (writtenIn - Atomics.load(control, WRITTEN_OUT)) | 0;
  const writableNow = pollWritable(fd);
  return {
    offer(line) {
      if (scratch.length < line.length * 3) scratch = new Uint8Array(line.length * 3);
      let length = encoder.encodeInto(line, scratch).written;
      let from = 0;
      if (pending() === 0 && length <= PIPE_BUF && writableNow()) {
        try {
          from = writeSync(fd, scratch, 0, length);
        } catch {
          return true; // nobody to read it (EPIPE): lost, as the thread's would be
        }
        if (from === length) return true;
      }
      length -= from;
      if (length > capacity - pending()) return false;
      const at = (writtenIn >>> 0) % capacity;
      const first = Math.min(length, capacity - at);
      ring.set(scratch.subarray(from, from + first), at);
      if (first < length) ring.set(scratch.subarray(from + first, from + length), 0);
      writtenIn = (writtenIn + length) | 0;
      Atomics.store(control, WRITTEN_IN, writtenIn);
      Atomics.notify(control, WRITTEN_IN);
      return true;
    },
    async flush(timeoutMs) {
      const until = performance.now() + timeoutMs;
      while (pending() > 0 && performance.now() < until) await Bun.sleep(FLUSH_POLL_MS);
    },
  };
}

/** Whether `fd` takes a write now (poll with no wait); always false without libc, so the thread writes. */
function pollWritable(fd: number): () => boolean {
  const revents = pollNow(fd, POLLOUT);
  if (revents === null) return () => false;
  return () => (revents() & POLLOUT) !== 0;
}
