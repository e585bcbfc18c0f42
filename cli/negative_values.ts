/**
 * `--start -1`: node's parseArgs takes "-1" for an option and says only "argument is ambiguous".
 * A negative number after a number option is that option's value (`--start=-1`), so the option's
 * own parser refuses it with a line that says what it expects.
 *
 * @example
 * ```ts
 * valuesMayBeNegative(["--duration", "-3", "x"], new Set(["--duration"])); // ["--duration=-3", "x"]
 * ```
 */
export function valuesMayBeNegative(argv: readonly string[], numberOptions: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") return out.concat(argv.slice(i));
    const next = argv[i + 1];
    if (numberOptions.has(arg) && next !== undefined && /^-\.?\d/.test(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else out.push(arg);
  }
  return out;
}
