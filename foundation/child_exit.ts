/**
 * How a child process ended, in words for a log line or a track's failure: a signal by its name,
 * whether the child itself died of it or a shell reports it for a command it ran (128 + its
 * number), so "killed by SIGKILL" reads as that, not as "status 128" or "status 137".
 *
 * @example
 * ```ts
 * child.on("close", (code, signal) => log.warn(`decoder ${describeExit(code, signal)}`));
 * describeExit(null, "SIGKILL"); // "was killed by SIGKILL"
 * describeExit(137, null);       // "exited with status 137 (killed by SIGKILL, as a shell reports it)"
 * ```
 */
import { constants } from "node:os";
import { EXIT_SIGNAL_BASE } from "./errors.ts";

/** The shell's status for a command it could not find. */
const COMMAND_NOT_FOUND = 127;

/** Signal names by number (9: "SIGKILL"). */
const SIGNAL_NAMES = new Map<number, string>(Object.entries(constants.signals).map(([name, n]) => [n, name]));

export function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  if (signal) return `was killed by ${signal}`;
  if (code === null) return "ended without a status";
  if (code === COMMAND_NOT_FOUND) return `exited with status ${code} (command not found)`;
  const name = code > EXIT_SIGNAL_BASE ? SIGNAL_NAMES.get(code - EXIT_SIGNAL_BASE) : undefined;
  if (name) return `exited with status ${code} (killed by ${name}, as a shell reports it)`;
  return `exited with status ${code}`;
}
