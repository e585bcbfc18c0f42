/**
 * Why this user cannot use a folder the config names, said at start (and at reload) rather than
 * at the first play or recording that needs it: the media root is read, the recording root
 * written, and made first where it is missing.
 *
 * @example
 * ```ts
 * folderProblem("/srv/media", "read");   // "is not a folder", "does not exist", null …
 * folderProblem("/srv/rec", "write");    // "does not exist, and this user may not make it in /srv (EACCES)"
 * ```
 */
import { accessSync, constants, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { errnoOf } from "./errors.ts";

/**
 * The problem with `path` for `use`, or null when there is none as far as a look tells. A folder
 * to write may be missing, if its nearest existing parent lets this user make it (recordings make
 * their folders as they go); one to read must be there.
 */
export function folderProblem(path: string, use: "read" | "write"): string | null {
  const root = resolve(path);
  let at = root;
  for (;;) {
    let info;
    try {
      info = statSync(at);
    } catch (error) {
      // ENOTDIR: a folder on its path is a file.
      const missing = errnoOf(error) === "ENOENT" || errnoOf(error) === "ENOTDIR";
      if (missing && use === "read") return "does not exist";
      if (!missing || dirname(at) === at) return `cannot be looked at${at === root ? "" : ` (at ${at})`} (${errnoOf(error)})`;
      at = dirname(at);
      continue;
    }
    // A file, not a folder, is said as such: access() said only EACCES, its X bit missing.
    if (!info.isDirectory()) return at === root ? "is not a folder" : `does not exist, and ${at} is not a folder to make it in`;
    try {
      accessSync(at, (use === "read" ? constants.R_OK : constants.W_OK) | constants.X_OK);
    } catch (error) {
      if (at !== root) return `does not exist, and this user may not make it in ${at} (${errnoOf(error)})`;
      return `is not ${use === "read" ? "readable" : "writable"} by this user (${errnoOf(error)})`;
    }
    return null;
  }
}
