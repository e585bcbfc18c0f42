/**
 * The name of the user this process runs as, from /etc/passwd by its uid. Bun's os.userInfo()
 * takes it from $USER, so under cron or systemd without one, or after the server drops root, it
 * said "unknown".
 *
 * @example
 * ```ts
 * currentUserName(); // "nobody", or null where no entry names the uid
 * ```
 */
import { readFileSync } from "node:fs";

export function currentUserName(): string | null {
  const uid = process.getuid?.();
  if (uid === undefined) return null;
  try {
    const entry = readFileSync("/etc/passwd", "utf8").split("\n").find((line) => line.split(":")[2] === String(uid));
    return entry ? entry.split(":")[0]! || null : null;
  } catch {
    return null; // no passwd file
  }
}
