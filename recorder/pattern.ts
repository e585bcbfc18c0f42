/**
 * Output patterns: file names from strftime fields at a file's start (local time), the folder
 * that holds no field (where the lock lives), and a matcher for the files a pattern has made
 * (for --keep).
 *
 * @example
 * ```ts
 * formatPattern("rec/%Y%m%d-%H%M.ts", new Date(2024, 4, 1, 6, 30)); // "rec/20240501-0630.ts"
 * patternMatcher("rec/%Y%m%d-%H%M.ts").test("20240501-0630.ts");  // true
 * ```
 */
import { basename, dirname } from "node:path";
import { UsageError } from "../foundation/errors.ts";

const pad = (n: number, width = 2) => String(n).padStart(width, "0");

/** Fields pacer fills in, and the text each matches. */
const FIELDS: Record<string, { value(d: Date): string; match: string }> = {
  Y: { value: (d) => pad(d.getFullYear(), 4), match: "\\d{4}" },
  y: { value: (d) => pad(d.getFullYear() % 100), match: "\\d{2}" },
  m: { value: (d) => pad(d.getMonth() + 1), match: "\\d{2}" },
  d: { value: (d) => pad(d.getDate()), match: "\\d{2}" },
  H: { value: (d) => pad(d.getHours()), match: "\\d{2}" },
  M: { value: (d) => pad(d.getMinutes()), match: "\\d{2}" },
  S: { value: (d) => pad(d.getSeconds()), match: "\\d{2}" },
  j: { value: (d) => pad(dayOfYear(d), 3), match: "\\d{3}" },
  s: { value: (d) => String(Math.floor(d.getTime() / 1000)), match: "\\d+" },
  F: { value: (d) => `${pad(d.getFullYear(), 4)}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`, match: "\\d{4}-\\d{2}-\\d{2}" },
  T: { value: (d) => `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`, match: "\\d{2}:\\d{2}:\\d{2}" },
  "%": { value: () => "%", match: "%" },
};

function dayOfYear(d: Date): number {
  return Math.round((new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime() - new Date(d.getFullYear(), 0, 1).getTime()) / 86_400_000) + 1;
}

/**
 * Throws a UsageError for a pattern that names a folder (`rec/`, `rec/.`, `..`): its files would
 * be `rec/-1` or fail EISDIR once data came. Also for a field pacer does not know.
 */
export function checkPattern(pattern: string): void {
  const last = pattern.split("/").at(-1);
  if (last === "" || last === "." || last === "..") throw new UsageError(`--out "${pattern}": names a folder; expected a file name at the end, such as "rec/%Y%m%d-%H%M.ts"`);
  for (const m of pattern.matchAll(/%(.?)/g)) {
    if (m[1] === "") throw new UsageError(`--out "${pattern}": ends in a lone %; write %% for a percent sign`);
    if (!FIELDS[m[1]!]) throw new UsageError(`--out "${pattern}": unknown field %${m[1]} (known: %Y %y %m %d %H %M %S %j %s %F %T %%)`);
  }
}

export function formatPattern(pattern: string, at: Date): string {
  return pattern.replace(/%(.)/g, (_, f: string) => FIELDS[f]!.value(at));
}

/** True when the pattern holds a field that changes with the time (`%%` is none). */
export function hasFields(pattern: string): boolean {
  return /%[^%]/.test(pattern.replaceAll("%%", ""));
}

/** The part of the pattern's path before any field: the folder a lock and --keep work in. */
export function staticFolder(pattern: string): string {
  const cut = pattern.indexOf("%");
  const fixed = cut < 0 ? pattern : pattern.slice(0, cut);
  return fixed.endsWith("/") ? fixed.slice(0, -1) || "/" : dirname(fixed);
}

/** True when the fields are all in the file name, so the files of a pattern share one folder. */
export function fieldsInNameOnly(pattern: string): boolean {
  return !dirname(pattern).includes("%");
}

/** Matches the names (in the pattern's folder) a pattern makes, a `-N` suffix for repeats included (its group 1, when there). */
export function patternMatcher(pattern: string): RegExp {
  const name = basename(pattern);
  const dot = name.lastIndexOf(".");
  const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ""];
  const toRegex = (s: string) => s.split(/(%.)/).map((part) => (part.startsWith("%") && part.length === 2 ? FIELDS[part[1]!]!.match : part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))).join("");
  return new RegExp(`^${toRegex(stem)}(-\\d+)?${toRegex(ext)}$`);
}
