/**
 * The signals this process was started with set to ignore (`nohup`, `trap '' HUP`), which a
 * handler must then leave alone: `process.on` takes an ignored signal back, and `process.off`
 * leaves its default, not the ignoring. Read from /proc/self/status (SigIgn) once, when this
 * module loads, before any handler: the CLI imports it at start-up.
 *
 * @example
 * ```ts
 * if (!ignoredAtStart("SIGHUP")) process.on("SIGHUP", onHangUp);
 * ```
 */
import { readFileSync } from "node:fs";
import { constants } from "node:os";

const ignored: bigint = (() => {
  try {
    const mask = /^SigIgn:\s*([0-9a-f]+)$/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1];
    return mask === undefined ? 0n : BigInt(`0x${mask}`);
  } catch {
    return 0n; // no /proc: none known
  }
})();

/** Whether `signal` was ignored when this process started. */
export function ignoredAtStart(signal: NodeJS.Signals): boolean {
  const number = constants.signals[signal];
  return ((ignored >> BigInt(number - 1)) & 1n) === 1n;
}

/** SIGHUP too: a hang-up (the ssh session or terminal a pipeline ran in went away) is a stop, not a crash. */
const STOP_SIGNALS: readonly NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];

/**
 * Calls `handler` on SIGINT, SIGTERM or SIGHUP (but SIGHUP not with `hangUp: false`: serve's
 * reload), and leaves one this process was started ignoring alone: a script's `pacer … &` ignores
 * SIGINT (POSIX gives a background job of a shell without job control that), so a Ctrl-C meant for
 * the script's foreground must not stop it; `nohup pacer …` ignores SIGHUP. Returns what takes the
 * handler off again. Without a handler, a hang-up killed play, record, recv and acquire where they
 * stood: no output closed (a command not waited for), a WAV recording's header a sync behind.
 */
export function onStopSignals(handler: (signal: NodeJS.Signals) => void, how: { once?: boolean; hangUp?: boolean } = {}): () => void {
  const taken = STOP_SIGNALS.filter((signal) => !ignoredAtStart(signal) && (signal !== "SIGHUP" || how.hangUp !== false));
  // `once`: a second of the same signal has its default (a stop that hangs can still be ended).
  for (const signal of taken) {
    if (how.once) process.once(signal, handler);
    else process.on(signal, handler);
  }
  return () => {
    for (const signal of taken) process.off(signal, handler);
  };
}
