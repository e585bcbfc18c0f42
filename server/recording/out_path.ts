/**
 * Where a server recording may write: strftime patterns relative to `recording_root`, never
 * outside it. A pattern is refused when absolute or when it has a `..` segment; at run time the
 * folder it resolves to (symlinks followed) must still lie inside the root.
 *
 * @example
 * ```ts
 * outPatternError("news/%F-%H%M.ts"); // null
 * outPatternError("../etc/x.ts");     // "may not contain .. segments"
 * const pattern = patternUnderRoot("/srv/rec", "news/%F.ts"); // "/srv/rec/news/%F.ts"
 * ```
 */
import { accessSync, constants, statSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { fsErrorText } from "../../foundation/fs_error.ts";
import { BeneathError, makeFoldersBeneath } from "../../foundation/open_beneath.ts";
import { checkPattern, staticFolder } from "../../recorder/pattern.ts";

/** Why `out` is not a pattern under the root, or null when it is. */
export function outPatternError(out: string): string | null {
  if (out === "" || isAbsolute(out)) return "expected a pattern relative to recording_root, such as \"news/%F-%H%M.ts\"";
  if (out.includes("\0")) return "may not contain a NUL byte";
  if (out.split(/[\\/]/).includes("..")) return "may not contain .. segments (recordings stay under recording_root)";
  try {
    checkPattern(out);
  } catch (error) {
    return (error as Error).message.replace(/^--out "[^"]*": /, "");
  }
  return null;
}

/** `out` leads out of recording_root (through a symlink): refused as `forbidden`, as media outside the root is. */
export class OutsideRootError extends Error {
  override name = "OutsideRootError";
}

/**
 * The absolute pattern for `out` under `root`, its fixed folder created and checked to resolve
 * (symlinks followed) inside the root. Throws with one line otherwise.
 */
export function patternUnderRoot(root: string, out: string): string {
  const problem = outPatternError(out);
  if (problem) throw new Error(`out "${out}": ${problem}`);
  const rootPath = resolve(root);
  const pattern = join(rootPath, out);
  try {
    // Level by level, so that no folder is made through a symlink out before the check.
    makeFoldersBeneath(rootPath, staticFolder(pattern));
  } catch (error) {
    if (error instanceof BeneathError && error.reason === "escapes") {
      throw new OutsideRootError(`out "${out}": resolves outside recording_root ${root} (a symlink?)`);
    }
    const why = error instanceof BeneathError ? error.message : fsErrorText(error);
    throw new Error(`out "${out}": cannot make its folder under recording_root ${root}: ${why}`);
  }
  return pattern;
}

/**
 * Why this user cannot record under `root`, or null when it can as far as a look tells: the root
 * is a folder it may write, or is missing and may be made in its nearest existing parent. Said at
 * start and at reload; a run found it only when due ("… cannot make its folder under
 * recording_root /srv/rec: permission denied", for a root that did not exist).
 */
export function recordingRootProblem(root: string): string | null {
  const code = (error: unknown) => (error as { code?: string }).code ?? String(error);
  let at = resolve(root);
  for (;;) {
    let info;
    try {
      info = statSync(at);
    } catch (error) {
      const missing = code(error) === "ENOENT" || code(error) === "ENOTDIR";
      if (!missing || dirname(at) === at) return `cannot be looked at${at === resolve(root) ? "" : ` (at ${at})`} (${code(error)})`;
      at = dirname(at);
      continue;
    }
    if (!info.isDirectory()) return at === resolve(root) ? "is not a folder" : `does not exist, and ${at} is not a folder to make it in`;
    try {
      accessSync(at, constants.W_OK | constants.X_OK);
    } catch (error) {
      return at === resolve(root) ? `is not writable by this user (${code(error)})` : `does not exist, and this user may not make it in ${at} (${code(error)})`;
    }
    return null;
  }
}
