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
import { isAbsolute, join, resolve } from "node:path";
import { folderProblem } from "../../foundation/folder_problem.ts";
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
    // A root gone since the start (that this user may not make again) was said as "permission denied".
    const rootProblem = folderProblem(rootPath, "write");
    if (rootProblem) throw new Error(`out "${out}": cannot make its folder: recording_root ${root} ${rootProblem}`);
    const why = error instanceof BeneathError ? error.message : fsErrorText(error);
    throw new Error(`out "${out}": cannot make its folder under recording_root ${root}: ${why}`);
  }
  return pattern;
}
