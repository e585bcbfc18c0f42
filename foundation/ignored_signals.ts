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
