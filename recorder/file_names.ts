/**
 * The names a recording's files get: the pattern's name, or, when that is taken, the name with
 * `-N` before its extension. Within one recording N only counts up while the pattern gives the
 * same name, so a name --keep freed is not taken again for it and the files keep their order
 * (`x.ts`, `x-1.ts`, `x-2.ts`…). Only the last name is remembered: a pattern that comes back to
 * an earlier name (`x-%H.ts` a day later) starts from the lowest free N again.
 *
 * @example
 * ```ts
 * const names = new FileNames({ part: false });
 * names.next("rec/x-2026.ts"); // "rec/x-2026.ts" (free)
 * names.next("rec/x-2026.ts"); // "rec/x-2026-1.ts", even once --keep has deleted rec/x-2026.ts
 * ```
 */
import { nameTaken } from "../foundation/open_beneath.ts";

/** `path` with `-N` before its extension (none for N = 0). */
function withSuffix(path: string, n: number): string {
  if (n === 0) return path;
  const slash = path.lastIndexOf("/");
  const dot = path.lastIndexOf(".");
  return dot > slash + 1 ? `${path.slice(0, dot)}-${n}${path.slice(dot)}` : `${path}-${n}`;
}

export class FileNames {
  /** The last name the pattern gave, and the N its file got. */
  private lastName = "";
  private lastN = 0;

  constructor(private readonly options: { part: boolean }) {}

  /** A free name for a file the pattern names `path`. */
  next(path: string): string {
    const taken = (p: string) => nameTaken(p) || (this.options.part && nameTaken(`${p}.part`));
    let n = path === this.lastName ? this.lastN + 1 : 0;
    while (taken(withSuffix(path, n))) n++;
    this.lastName = path;
    this.lastN = n;
    return withSuffix(path, n);
  }
}
