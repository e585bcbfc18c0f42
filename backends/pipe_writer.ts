/**
 * Writes a stream into a pipe (a command's stdin, a FIFO) whose write end does not block, so a
 * reader that falls behind pushes back instead of stopping pacer: `write` takes what fits now and
 * the job offers the rest again shortly. It writes in pieces of whole frames or TS packets up to
 * PIPE_BUF, which a pipe takes all or not at all (POSIX), so a full pipe never splits one: a
 * larger non-blocking write may stop at any byte when the pipe fills.
 *
 * @example
 * ```ts
 * setNonBlocking(fd, true);
 * const pipe = new PipeWriter(alignmentFor(stream, format));
 * const taken = pipe.write(fd, unit); // < unit.length while the pipe is full
 * if (pipe.error) fail(pipe.error);   // EPIPE: the reader is gone
 * ```
 */
import { writeSync } from "node:fs";
import { PacerError } from "../foundation/errors.ts";
import { libc } from "../foundation/libc.ts";
import { TS_SIZE } from "../protocol/mpegts.ts";
import { bytesPerFrame, type SampleFormat } from "../protocol/sample_format.ts";
import type { StreamInfo } from "./backend.ts";

// Linux values (asm-generic/fcntl.h); pacer runs on Linux only (ALSA, FFI).
const O_NONBLOCK = 0o4000;
const F_GETFL = 3;
const F_SETFL = 4;
/** Pipe writes of at most this many bytes are all-or-nothing (POSIX PIPE_BUF, 4096 on Linux). */
const PIPE_BUF = 4096;
/** A pipe's reader gets MPEG and other data in units of at most this (pipeDataUnitBytes). */
const PIPE_DATA_UNIT_BYTES = 8192;

export class PipeWriter {
  /** Why the last write stopped short, other than a full pipe (EPIPE: no reader any more); else null. */
  error: NodeJS.ErrnoException | null = null;
  private readonly pieceBytes: number;

  /** `alignment`: the bytes a reader must only ever see whole (a frame, a TS packet; 1 for data). */
  constructor(alignment: number) {
    this.pieceBytes = Math.max(1, Math.floor(PIPE_BUF / alignment)) * alignment;
  }

  /** Writes as much of `unit` as fits now, in whole pieces; returns the bytes written. */
  write(fd: number, unit: Uint8Array): number {
    this.error = null;
    let written = 0;
    while (written < unit.length) {
      try {
        written += writeSync(fd, unit, written, Math.min(this.pieceBytes, unit.length - written));
      } catch (err) {
        const error = err as NodeJS.ErrnoException;
        if (error.code !== "EAGAIN") this.error = error; // EAGAIN: full, the rest goes later
        break;
      }
    }
    return written;
  }
}

/**
 * The unit of MPEG or other data for a reader on a pipe (a `cmd:`'s stdin, a `file:` FIFO or
 * stdout): whole TS packets within PIPE_DATA_UNIT_BYTES, or exactly that for other data. Small,
 * since a unit goes at the time of its first byte: 64 KiB of a 844 kbit/s TS reached the reader
 * 0.6 s at a time, the stream's end 1.1 s early (a 128 kbit/s radio's, 4 s).
 */
export function pipeDataUnitBytes(stream: StreamInfo): number {
  return stream.kind === "mpegts" ? Math.floor(PIPE_DATA_UNIT_BYTES / TS_SIZE) * TS_SIZE : PIPE_DATA_UNIT_BYTES;
}

/** What a reader must only ever see whole: a PCM frame (in the backend's `format`), a TS packet, else a byte. */
export function alignmentFor(stream: StreamInfo, format: SampleFormat | undefined): number {
  if (format) return bytesPerFrame(format);
  return stream.kind === "mpegts" ? TS_SIZE : 1;
}

/** Sets or clears O_NONBLOCK on `fd` (this open file description only). */
export function setNonBlocking(fd: number, on: boolean): void {
  const c = libc();
  if (!c) throw new PacerError("cannot load the C library (libc.so.6) to set a descriptor's blocking mode");
  const flags = c.fcntl(fd, F_GETFL, 0);
  if (flags < 0 || c.fcntl(fd, F_SETFL, on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK) < 0) {
    throw new PacerError("cannot set a descriptor's blocking mode (fcntl failed)");
  }
}
