/**
 * A path to be written later, checked now without touching it: an existing file is opened for
 * writing as it is (not truncated), a missing one has its folder checked, so a bad path fails
 * before any work while what the file holds stays until the first write. `recv --out` keeps the
 * descriptor.
 *
 * @example
 * ```ts
 * const fd = openUntouched("capture.ts"); // null: not there yet, and its folder would take it
 * ```
 */
import { accessSync, constants, openSync } from "node:fs";
import { dirname } from "node:path";

/** `path` opened write-only as it is, or null when there is none and its folder would take it; else throws the file system's error. */
export function openUntouched(path: string): number | null {
  try {
    return openSync(path, constants.O_WRONLY);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  accessSync(dirname(path), constants.W_OK | constants.X_OK);
  return null;
}
