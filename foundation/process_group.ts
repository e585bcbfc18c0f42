/**
 * A signal to a child spawned detached (its own process group) and to whatever it started: a
 * shell's background children, a decoder's helpers. Where the group is gone already, or never
 * formed, the child alone.
 *
 * @example
 * ```ts
 * const child = spawn("sh", ["-c", command], { detached: true });
 * signalGroup(child, "SIGTERM");
 * ```
 */
import type { ChildProcess } from "node:child_process";

export function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    child.kill(signal);
  }
}
