/**
 * `cmd:COMMAND`: the stream goes to the stdin of `sh -c COMMAND` (DESIGN.md
 * "Endpoints"). Everything after `cmd:` is the command, verbatim.
 *
 * - PCM goes in the backend's format (`--out-format`, else the input's), and
 *   PACER_FORMAT, PACER_RATE and PACER_CHANNELS are set for the command.
 * - The command's stdout is pacer's stdout (so `cmd:` can end in a filter that
 *   writes there); each stderr line is logged as `[cmd] line`, up to 20 a
 *   second (stderr_lines.ts: a flood is read and dropped, and counted).
 * - Backpressure: `send` takes only what fits in the pipe now, never blocks
 *   and never queues; the job offers the rest again shortly. A full pipe
 *   never splits a frame (pipe_writer.ts).
 * - A command killed by SIGPIPE while pacer's stdout (its stdout) has lost its
 *   reader fails its destination: a new one would meet the same closed pipe.
 * - A command that dies while the stream plays is restarted, with back-off
 *   from 100 ms doubling to 5 s, reset when a child read something and ran
 *   that long (5 s) or longer: reset at any byte read, `cmd:head -c 1000`
 *   was restarted every 100 ms, two lines each, for as long as the stream
 *   went on (48,000 lines an hour). The
 *   stream goes on in real time meanwhile: units offered while no child runs
 *   are taken and dropped, and the new child starts at the current position
 *   (on a frame boundary). Bytes the dead child never read are not resent.
 *   Ten deaths in a row without reading anything fail the destination.
 *   What a command never got (dropped while it was down, left unread in its
 *   pipe when it died) is counted in `counters.lostBytes`; the job reports it.
 * - `close` waits for the command to read what its pipe holds, then ends its
 *   stdin and waits for it to exit; a failing exit then is not restarted, and
 *   rejects the close if the command had read the stream (the output failed:
 *   `play` exits 1), else is a warning. Given a deadline (the job's end-of-stream bound), a command that
 *   still has unread input then is stuck, and is ended (SIGTERM to its
 *   process group, SIGKILL KILL_AFTER_US later), its unread bytes counted
 *   lost. One that has read everything is waited for as long as it takes to
 *   exit (an encoder may take a while to finish its file).
 * - A command is over once its stderr has closed (so its last line can explain
 *   an exit), or STDERR_AFTER_EXIT_US after it exited: what it started and
 *   still holds its stderr then is ended.
 * - Each command runs in a process group (and session) of its own: ending it
 *   ends what it started too (`sh -c 'sleep 30'` forks `sleep`), and a
 *   Ctrl-C on the terminal reaches pacer only, which closes the command's
 *   stdin so it can finish cleanly.
 * - Errors that fail the destination reach the user through the job, which
 *   puts the output's label (`cmd:COMMAND`) in front, so they do not name
 *   the command again; errors at creation are thrown straight to the user,
 *   so they do.
 *
 * Why a pipe of our own rather than the child's `stdin` stream: in Bun,
 * node:child_process stdin is a socketpair that absorbs ~190 KB from a child
 * that never reads, and its write callbacks complete before the child reads
 * anything (measured). With a plain pipe whose write end is non-blocking,
 * EAGAIN is exact backpressure, nothing is copied or queued in pacer, and
 * FIONREAD tells at a death how much the child left unread, so "it read
 * something" is a fact, not a guess. Bun.spawn is avoided for the reasons
 * in the brief: its stdin buffers without bound and drops writes silently.
 *
 * Tests shorten the back-off with PACER_CMD_BACKOFF_MS (the first delay in
 * ms; the cap becomes 50 times that, at most 5 s).
 *
 * @example
 * ```ts
 * const out = await commandBackend.create("cmd:aplay -t raw -f S16_LE -r 44100 -c 2", stream, ctx);
 * const taken = out.send(unit, timing); // may be < unit.length while the pipe is full
 * await out.close();                    // EOF to aplay, then wait for it to exit
 * ```
 */
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync } from "node:fs";
import { PacerError, UsageError } from "../foundation/errors.ts";
import { errno, type Libc, libc as loadLibc } from "../foundation/libc.ts";
import type { SampleFormat } from "../protocol/sample_format.ts";
import { US_PER_MS, US_PER_S } from "../scheduler/clock.ts";
import { type Backend, type BackendContext, type BackendFactory, countError, newCounters, type StreamInfo } from "./backend.ts";
import { pcmUnitBytes } from "./pcm_unit.ts";
import { alignmentFor, PipeWriter, pipeDataUnitBytes, setNonBlocking } from "./pipe_writer.ts";
import { stdoutReaderGone } from "../foundation/stdout_gone.ts";
import { signalGroup } from "../foundation/process_group.ts";
import { describeExit } from "../foundation/child_exit.ts";
import { describeFsError, errnoText } from "../foundation/fs_error.ts";
import { LINES_PER_SECOND, stderrLines } from "./stderr_lines.ts";

const SCHEME_PREFIX = "cmd:";
/** PCM units hold about this much audio, in whole frames. */
const PCM_UNIT_US = 20_000;
const AHEAD_US = 20_000;
const BACKOFF_START_MS = 100;
const BACKOFF_MAX_MS = 5_000;
/** With PACER_CMD_BACKOFF_MS the cap is this many times the first delay (still at most BACKOFF_MAX_MS). */
const BACKOFF_TEST_CAP_FACTOR = 50;
const MAX_IDLE_DEATHS = 10;
/** close() says once that it is still waiting for the command after this long. */
const CLOSE_NOTICE_US = 10 * US_PER_S;
/** While close waits for the command to read what its pipe holds, it looks this often. */
const DRAIN_POLL_US = 20_000;
/** A stuck command is sent SIGTERM at the deadline, and SIGKILL this much later if it is still there. */
const KILL_AFTER_US = 1 * US_PER_S;
/** A command's stderr is waited for this long after it exited; whatever still holds it then is ended. */
const STDERR_AFTER_EXIT_US = 1 * US_PER_S;
const ENV_BACKOFF = "PACER_CMD_BACKOFF_MS";

// Linux values (asm-generic/fcntl.h, ioctls.h); pacer runs on Linux only (ALSA, FFI).
const O_CLOEXEC = 0o2000000;
const FIONREAD = 0x541b;

let libc: Libc | null = null;

const pipeFds = new Int32Array(2);
const unreadCell = new Int32Array(1);

/** A pipe for one child: it reads `readFd` as stdin; pacer writes `writeFd` without blocking. */
interface ChildPipe {
  readFd: number;
  writeFd: number;
}

function openPipe(): ChildPipe {
  libc ??= loadLibc();
  if (!libc) throw new PacerError("cannot load the C library (libc.so.6) for the output pipe");
  // Both ends close-on-exec, so other children never hold our write end open (and
  // never see EOF late); spawn dup2()s the read end to fd 0, which clears it there.
  if (libc.pipe2(pipeFds, O_CLOEXEC) !== 0) throw new PacerError(`cannot create a pipe: ${errnoText(errno(libc))}`);
  const readFd = pipeFds[0]!;
  const writeFd = pipeFds[1]!;
  // Non-blocking on pacer's end only: the child's stdin stays an ordinary blocking pipe.
  setNonBlocking(writeFd, true);
  return { readFd, writeFd };
}

/** Bytes written to the pipe and not yet read by the child. */
function unreadBytes(writeFd: number): number {
  return libc!.ioctl(writeFd, FIONREAD, unreadCell) === 0 ? unreadCell[0]! : 0;
}

function unitBytesFor(stream: StreamInfo, format: SampleFormat | undefined): number {
  return format ? pcmUnitBytes(format, PCM_UNIT_US) : pipeDataUnitBytes(stream);
}

function childEnv(format: SampleFormat | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.PACER_FORMAT;
  delete env.PACER_RATE;
  delete env.PACER_CHANNELS;
  if (format) {
    env.PACER_FORMAT = format.encoding;
    env.PACER_RATE = String(format.rate);
    env.PACER_CHANNELS = String(format.channels);
  }
  return env;
}

function backoffRange(): { startMs: number; maxMs: number } {
  const raw = process.env[ENV_BACKOFF];
  if (raw === undefined || raw === "") return { startMs: BACKOFF_START_MS, maxMs: BACKOFF_MAX_MS };
  const startMs = Number(raw);
  if (!(startMs >= 1 && startMs <= BACKOFF_MAX_MS)) {
    throw new UsageError(`${ENV_BACKOFF}=${raw}: must be a number of ms from 1 to ${BACKOFF_MAX_MS}`);
  }
  return { startMs, maxMs: Math.min(BACKOFF_MAX_MS, startMs * BACKOFF_TEST_CAP_FACTOR) };
}

/** How a child ended, for logs and the give-up message. */
function describeEnd(code: number | null, signal: NodeJS.Signals | null, spawnError: Error | null): string {
  return spawnError ? `could not start sh: ${describeFsError(spawnError)}` : describeExit(code, signal);
}

type State = "running" | "down" | "closing" | "closed" | "failed";

export const commandBackend: BackendFactory = {
  scheme: "cmd",
  summary: "cmd:COMMAND  the stream on the stdin of `sh -c COMMAND`, restarted if it dies",
  check(target: string): void {
    if (target.slice(SCHEME_PREFIX.length).trim() === "") throw new UsageError(`"${target}": cmd: needs a shell command, e.g. cmd:aplay -`);
  },
  async create(target: string, stream: StreamInfo, ctx: BackendContext): Promise<Backend> {
    commandBackend.check!(target);
    const command = target.slice(SCHEME_PREFIX.length);
    const format = stream.kind === "pcm" ? (stream.outFormat ?? stream.format) : undefined;
    const unitBytes = unitBytesFor(stream, format);
    const pipe = new PipeWriter(alignmentFor(stream, format));
    const env = childEnv(format);
    const { startMs, maxMs } = backoffRange();
    const { log, scheduler } = ctx;
    const counters = newCounters();
    const quoted = `\`${command}\``;

    let state: State = "running";
    let child: ChildProcess | null = null;
    let writeFd = -1;
    /** Bytes written into the current child's pipe. */
    let writtenToChild = 0;
    /** Stream bytes taken so far (written or dropped): where a new child starts. */
    let position = 0;
    let droppedWhileDown = 0;
    let idleDeaths = 0;
    let backoffMs = startMs;
    /** When the current child started (scheduler time): one that lives the longest back-off has earned a quick restart. */
    let childStartedUs = 0;
    let lastStderrLine = "";
    let spawnError: Error | null = null;
    let exited: (() => void) | null = null;
    let closing: Promise<void> | null = null;
    /** Set when close() ended a stuck command, so its death by our signal is not warned about. */
    let ended = false;
    /** The last command failed after it had read the stream, as it closed: close() rejects with this. */
    let failedAtEnd: string | null = null;

    const restartTimer = scheduler.timer("retry", () => {
      if (state !== "down") return;
      counters.errors.restart = (counters.errors.restart ?? 0) + 1;
      log.info(`cmd: restarting ${quoted}; ${droppedWhileDown} bytes of the stream were dropped while it was down`);
      try {
        startChild();
      } catch (err) {
        state = "failed";
        ctx.fail(new PacerError(`cannot restart: ${(err as Error).message}`));
      }
    });

    function logStderr(line: string): void {
      lastStderrLine = line;
      log.info(`[cmd] ${line}`);
    }

    function startChild(): void {
      spawnError = null;
      lastStderrLine = "";
      const pipe = openPipe();
      let proc: ChildProcess;
      try {
        proc = spawn("sh", ["-c", command], { stdio: [pipe.readFd, "inherit", "pipe"], env, detached: true });
      } catch (err) {
        closeSync(pipe.writeFd);
        throw err;
      } finally {
        closeSync(pipe.readFd); // the child has its own copy; ours would hide its death from EPIPE
      }
      child = proc;
      childStartedUs = scheduler.now();
      writeFd = pipe.writeFd;
      writtenToChild = 0;
      droppedWhileDown = 0;
      state = "running";

      const stderr = stderrLines(
        { line: logStderr, dropped: (bytes) => log.info(`[cmd] … ${bytes} bytes of its stderr not logged (more than ${LINES_PER_SECOND} lines a second)`) },
        () => scheduler.now(),
      );
      // Short of descriptors or processes, Bun's spawn does not throw: the child has no pid (nor
      // pipes, short of descriptors), then "error" and "close" come: a death, restarted as any.
      proc.on("error", (error) => {
        spawnError = error;
      });
      proc.stderr?.on("data", (chunk: Buffer) => stderr.push(chunk));
      let finished = false;
      const finish = (code: number | null, signal: NodeJS.Signals | null) => {
        if (finished) return;
        finished = true;
        scheduler.cancel(leftovers);
        stderr.end();
        childEnded(proc, code, signal);
      };
      // Over at "close", not "exit": stderr is drained by then, so the last line can explain the death.
      proc.on("close", finish);
      // But what the command started may hold its stderr open long after it exited (`sleep 600 >&2 &`):
      // "close" waited for that, and a speaker waiting to release its output waited for good.
      const leftovers = scheduler.timer("retry", () => {
        log.warn(`cmd: ${quoted} exited ${STDERR_AFTER_EXIT_US / US_PER_S} s ago, but what it started still holds its stderr; ending that (SIGKILL to its process group)`);
        signalGroup(proc, "SIGKILL");
        finish(proc.exitCode, proc.signalCode);
      });
      proc.on("exit", () => scheduler.schedule(leftovers, scheduler.now() + STDERR_AFTER_EXIT_US));
    }

    function releasePipe(): number {
      if (writeFd < 0) return 0;
      const unread = unreadBytes(writeFd);
      closeSync(writeFd);
      writeFd = -1;
      return unread;
    }

    function childEnded(proc: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
      if (proc !== child) return;
      child = null;
      const unread = releasePipe();
      counters.lostBytes += unread;
      const consumed = writtenToChild - unread;
      const how = describeEnd(code, signal, spawnError);
      if (state === "closing" || state === "closed") {
        // One that read the stream and then failed (an upload refused at its end, an encoder that
        // could not write its trailer) failed its output: close says so, and `play` exits 1. It
        // was a warning, exit 0. One that read none of it was down or given up on, and said so.
        if ((code !== 0 || signal) && !ended) {
          if (consumed > 0) failedAtEnd = `${how} at the end of the stream`;
          else log.warn(`cmd: ${quoted} ${how} at the end of the stream`);
        }
        exited?.();
        return;
      }
      // Failed (killed by SIGPIPE, a shell's 141, or exiting non-zero on EPIPE as ffmpeg and
      // Python do) while pacer's own stdout, its stdout, has lost its reader: a new one would meet
      // the same closed pipe. Restarted, `play … --to cmd:cat | head` logged two lines every 100 ms,
      // and `cmd:ffmpeg … -f wav - | head` four every 5 s, for as long as the stream went on. Any
      // other death (a FIFO's player restarting, `nc` to a peer that reset) is restarted as before.
      if (spawnError === null && (code !== 0 || signal !== null) && stdoutReaderGone()) {
        state = "failed";
        ctx.fail(new PacerError(`${how} after reading ${consumed} bytes: the reader of its output went away (a closed pipe); not restarted`));
        return;
      }
      if (consumed > 0) {
        idleDeaths = 0;
        if (scheduler.now() - childStartedUs >= maxMs * US_PER_MS) backoffMs = startMs;
      } else {
        idleDeaths++;
      }
      if (idleDeaths >= MAX_IDLE_DEATHS) {
        state = "failed";
        const detail = lastStderrLine ? `${how}: ${lastStderrLine}` : how;
        ctx.fail(new PacerError(`died ${MAX_IDLE_DEATHS} times without reading any input: ${detail}`));
        return;
      }
      state = "down";
      log.warn(`cmd: ${quoted} ${how} after reading ${consumed} bytes; restarting it in ${backoffMs} ms`);
      scheduler.schedule(restartTimer, scheduler.now() + backoffMs * US_PER_MS);
      backoffMs = Math.min(backoffMs * 2, maxMs);
    }

    try {
      startChild();
    } catch (err) {
      throw new PacerError(`${target}: ${(err as Error).message}`);
    }

    /** The deadline passed with input still unread: the command is stuck; end it and count what it never read. */
    function endStuck(proc: ChildProcess, unread: number): void {
      ended = true;
      counters.lostBytes += unread;
      countError(counters, "ended");
      closeSync(writeFd);
      writeFd = -1;
      log.warn(`cmd: ${quoted} still had ${unread} bytes of its input unread at its deadline; ending it (SIGTERM, then SIGKILL)`);
      signalGroup(proc, "SIGTERM");
      const kill = scheduler.timer("retry", () => {
        if (child === proc) signalGroup(proc, "SIGKILL");
      });
      scheduler.schedule(kill, scheduler.now() + KILL_AFTER_US);
      // "close" waits for every holder of its stderr; "exit" is enough once we ended it.
      proc.once("exit", () => exited?.());
    }

    return {
      label: target,
      format,
      unitBytes,
      aheadUs: AHEAD_US,
      pushesBack: true,
      counters,
      // Nothing of what went into its pipe has been read: still starting, or it never reads.
      readNothing: () => state === "running" && writtenToChild > 0 && unreadBytes(writeFd) >= writtenToChild,
      send(unit) {
        const length = unit.length;
        if (state !== "running") {
          // Real time goes on while the command is away: take the unit and drop it.
          position += length;
          droppedWhileDown += length;
          counters.lostBytes += length;
          return length;
        }
        // A full pipe takes part (or none) of the unit: the job offers the rest again.
        const written = pipe.write(writeFd, unit);
        let dropped = 0;
        if (pipe.error) {
          if (pipe.error.code !== "EPIPE") log.warn(`cmd: ${quoted}: writing its stdin failed: ${pipe.error.message}`);
          state = "down"; // its stdin is gone: drop until its exit is seen and it is restarted
          dropped = length - written;
          droppedWhileDown += dropped;
          counters.lostBytes += dropped;
        }
        position += written + dropped;
        if (written > 0) {
          writtenToChild += written;
          counters.units++;
          counters.bytes += written;
        }
        return written + dropped;
      },
      abandon() {
        const proc = child;
        if (state !== "closing" || proc === null || ended || proc.exitCode !== null || proc.signalCode !== null) return;
        ended = true;
        if (writeFd >= 0) {
          counters.lostBytes += unreadBytes(writeFd);
          closeSync(writeFd);
          writeFd = -1;
        }
        log.warn(`cmd: ${quoted} has not exited since the end of its stream; ending it (SIGTERM, then SIGKILL)`);
        signalGroup(proc, "SIGTERM");
        const kill = scheduler.timer("retry", () => {
          if (child === proc) signalGroup(proc, "SIGKILL");
        });
        scheduler.schedule(kill, scheduler.now() + KILL_AFTER_US);
        // "close" waits for every holder of its stderr; "exit" is enough once we ended it.
        proc.once("exit", () => exited?.());
      },
      close(deadlineUs = Infinity) {
        closing ??= new Promise<void>((resolve, reject) => {
          const wasFailed = state === "failed";
          state = "closing";
          scheduler.cancel(restartTimer);
          const proc = child;
          if (proc === null || wasFailed) {
            state = "closed";
            resolve();
            return;
          }
          const notice = scheduler.timer("retry", () => log.warn(`cmd: still waiting for ${quoted} to exit after end of stream`));
          // Its stdin stays open until it has read what the pipe holds: then EOF, as it would see it
          // anyway, and a command that never reads shows (and what it leaves unread is counted).
          const drain = scheduler.timer("retry", (_timer, now) => {
            if (writeFd < 0) return;
            const unread = unreadBytes(writeFd);
            if (unread > 0 && now >= deadlineUs) return endStuck(proc, unread);
            if (unread > 0) return scheduler.schedule(drain, Math.min(now + DRAIN_POLL_US, deadlineUs));
            closeSync(writeFd); // EOF on the child's stdin
            writeFd = -1;
          });
          exited = () => {
            scheduler.cancel(notice);
            scheduler.cancel(drain);
            state = "closed";
            if (failedAtEnd) reject(new PacerError(failedAtEnd));
            else resolve();
          };
          scheduler.schedule(notice, scheduler.now() + CLOSE_NOTICE_US);
          if (writeFd >= 0) scheduler.schedule(drain, scheduler.now());
        });
        return closing;
      },
    };
  },
};
