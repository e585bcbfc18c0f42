/**
 * node:util parseArgs's errors in pacer's words, for every command in one place: `unknown option
 * --bogus (see pacer play --help)`, not Node's "Unknown option '--bogus'. To specify a positional
 * argument starting with a '-', place it at the end of the command after '--', as in '--
 * "--bogus"'", which every command printed as it came.
 *
 * @example
 * ```ts
 * try { parseArgs(...) } catch (error) { throw usageFromParseArgs(error, "pacer play") ?? error; }
 * ```
 */
import { UsageError } from "../foundation/errors.ts";

/** Node's own codes (ERR_PARSE_ARGS_*), the only errors parseArgs throws for what it was given. */
const PARSE_ARGS_CODE = "ERR_PARSE_ARGS_";

/**
 * The option or argument Node's message is about, as it quotes it: `'--bogus'`, `'pos'`, or
 * `'-h, --help'` and `'-t, --to <value>'` for an option with a short form (the long name, not "-h,").
 */
function quoted(message: string): string {
  return /'(?:-[^-], )?([^' ]+)/.exec(message)?.[1] ?? "";
}

/**
 * A UsageError for a parseArgs error, naming the option and where to read more (`see` is the
 * command: "pacer play", "pacer ctl"); null for any other error.
 */
export function usageFromParseArgs(error: unknown, see: string): UsageError | null {
  const code = (error as { code?: unknown }).code;
  if (typeof code !== "string" || !code.startsWith(PARSE_ARGS_CODE)) return null;
  const message = (error as Error).message;
  const what = quoted(message);
  const help = ` (see ${see} --help)`;
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") return new UsageError(`unknown option ${what}${help}`);
  if (code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL") return new UsageError(`unexpected argument "${what}"${help}`);
  if (message.includes("argument missing")) return new UsageError(`option ${what} needs a value${help}`);
  if (message.includes("does not take an argument")) return new UsageError(`option ${what} takes no value${help}`);
  // A value that starts with '-' (a negative number, a name like -x.ts): Node will not guess.
  if (message.includes("argument is ambiguous")) return new UsageError(`option ${what}: a value that starts with '-' must be joined to it, as ${what}=VALUE${help}`);
  return new UsageError(`${message.split("\n")[0]}${help}`);
}
