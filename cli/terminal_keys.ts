/**
 * Keys for `pacer play` on a terminal, as a player takes them: space pauses and resumes, `n`
 * skips to the next input, `q` stops cleanly, Ctrl-C is SIGINT's stop. Only when stdin is a
 * TTY and no input is `-` (stdin may be the input), and pacer is the terminal's foreground job;
 * otherwise nothing reads stdin. The terminal is in raw mode while it plays and restored on stop
 * (and at exit or SIGHUP, if pacer ends otherwise). Ctrl-Z suspends as a shell expects. Started in
 * the background (`pacer play … &`), the raw mode stopped it at once ("Stopped (tty output)");
 * in raw mode Ctrl-Z did nothing; a hang-up left the terminal raw. A SIGHUP that pacer was
 * started ignoring (`trap '' HUP`) stays ignored: the hang-up handler had ended such a play.
 *
 * @example
 * ```ts
 * const keys = startTerminalKeys({ pause: () => …, next: () => …, quit: () => …, interrupt: () => … });
 * …
 * keys.stop();
 * ```
 */
import { ignoredAtStart } from "../foundation/ignored_signals.ts";
import { libc } from "../foundation/libc.ts";

export interface KeyActions {
  /** Space: pause or resume; returns whether it is paused now. */
  pause(): boolean;
  /** `n`: the next input; false when this was the last. */
  next(): boolean;
  /** `q`: stop cleanly. */
  quit(): void;
  /** Ctrl-C (raw mode takes it from the terminal): as SIGINT. */
  interrupt(): void;
}

const CTRL_C = 0x03;
const CTRL_Z = 0x1a;

/** Keys are read only from a terminal, never when stdin is an input, and only by its foreground job. */
export function keysWanted(inputs: readonly string[], stdin: NodeJS.ReadStream = process.stdin): boolean {
  return stdin.isTTY === true && !inputs.includes("-") && inForeground(stdin);
}

/** True when this process's group is the terminal's foreground one: only that one may set its modes or read it. */
function inForeground(stdin: NodeJS.ReadStream): boolean {
  const c = libc();
  if (!c) return true;
  const foreground = c.tcgetpgrp((stdin as { fd?: number }).fd ?? 0);
  return foreground < 0 || foreground === c.getpgrp();
}

export function startTerminalKeys(
  actions: KeyActions,
  stdin: NodeJS.ReadStream = process.stdin,
  notice: (line: string) => void = (line) => process.stderr.write(`\r${line}\x1b[K\n`),
): { stop(): void } {
  let reading = false;
  // A hung-up terminal refuses (EIO, thrown): nothing is left to restore then.
  const restore = () => {
    try {
      stdin.setRawMode(false);
    } catch {}
  };
  /** Raw mode and reading, while pacer is the foreground job; none of it otherwise (a read or a mode change from the background stops the process). */
  const take = () => {
    if (reading || !inForeground(stdin)) return;
    reading = true;
    stdin.setRawMode(true);
    stdin.resume();
  };
  const release = () => {
    if (!reading) return;
    reading = false;
    stdin.pause();
    restore();
  };
  /** At exit: only a terminal this process set raw (from the background, a mode change would stop it). */
  const atExit = () => {
    if (reading) restore();
  };
  // The terminal is gone: give it back its modes; play's own SIGHUP handler stops the stream
  // cleanly (129), as SIGTERM does (it exited here at once, its outputs not closed).
  const onHangUp = () => release();
  // A handler would take back a SIGHUP ignored from the start.
  const hangUps = !ignoredAtStart("SIGHUP");
  const onData = (chunk: Buffer) => {
    for (const key of chunk) {
      if (key === 0x20) notice(actions.pause() ? "paused (space resumes)" : "resumed");
      else if (key === 0x6e /* n */) notice(actions.next() ? "next input" : "last input: stopping");
      else if (key === 0x71 /* q */) actions.quit();
      else if (key === CTRL_C) actions.interrupt();
      else if (key === CTRL_Z) {
        // As the terminal would, to the whole job (`pacer play … | tee log` too): the shell takes
        // over; `fg` continues here, keys and all (SIGCONT).
        release();
        const group = libc()?.getpgrp() ?? process.pid;
        process.kill(-group, "SIGTSTP");
      }
    }
  };
  stdin.on("data", onData);
  process.once("exit", atExit);
  process.on("SIGCONT", take);
  if (hangUps) process.once("SIGHUP", onHangUp); // once: a second hang-up ends pacer, as a second SIGTERM does
  take();
  return {
    stop() {
      stdin.off("data", onData);
      release();
      process.off("exit", atExit);
      process.off("SIGCONT", take);
      if (hangUps) process.off("SIGHUP", onHangUp);
    },
  };
}
