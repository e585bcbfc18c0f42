/**
 * The command file of `pacer ctl --pool FILE` (DESIGN.md, "pacer ctl"): one command per line, in
 * the same words as on the ctl command line.
 *
 * ```
 * # evening schedule
 * play news.ts --to rtp://10.0.0.5:5004 --loop
 * play "Morning Show.wav" --to 'rtp://[2001:db8::5]:5004'
 * stop job-12
 * record start evening   # a trailing comment
 * ```
 *
 * Words split like a POSIX shell's, without expansion: whitespace separates words; '…' is literal;
 * "…" is literal except that \" and \\ stand for " and \; outside quotes a backslash takes the next
 * character literally. A word starting with # begins a comment. There is no line continuation:
 * a backslash at the end of a line is an error, as is an unterminated quote.
 *
 * @example
 * ```ts
 * parsePoolFile("stop job-12\n\n# note\nplay 'a b.ts' --to rtp://10.0.0.5:5004\n");
 * // [{ line: 1, words: ["stop", "job-12"] }, { line: 4, words: ["play", "a b.ts", "--to", "rtp://10.0.0.5:5004"] }]
 * ```
 */

export interface PoolCommand {
  /** 1-based line number in the file, for the log and error messages. */
  readonly line: number;
  readonly words: readonly string[];
}

export interface PoolProblem {
  readonly line: number;
  readonly message: string;
}

/** Thrown by splitWords for a malformed line. */
export class WordSplitError extends Error {
  override name = "WordSplitError";
}

/** Thrown by parsePoolFile; lists every malformed line so they can all be fixed at once. */
export class PoolFileError extends Error {
  override name = "PoolFileError";
  readonly problems: readonly PoolProblem[];

  constructor(sourceName: string, problems: readonly PoolProblem[]) {
    const shown = problems.slice(0, MAX_PROBLEMS_IN_MESSAGE).map((p) => `${sourceName}:${p.line}: ${p.message}`);
    if (problems.length > MAX_PROBLEMS_IN_MESSAGE) shown.push(`… and ${problems.length - MAX_PROBLEMS_IN_MESSAGE} more`);
    super(shown.join("\n"));
    this.problems = problems;
  }
}

const MAX_PROBLEMS_IN_MESSAGE = 5;

function isBlank(ch: string): boolean {
  return ch === " " || ch === "\t" || ch === "\r" || ch === "\f" || ch === "\v";
}

/**
 * Splits one line into words (see the module comment for the rules). Returns [] for a blank or
 * comment-only line. Throws WordSplitError for an unterminated quote or a trailing backslash.
 *
 * @example
 * ```ts
 * splitWords(`queue "Evening news.wav" --id ev1`); // ["queue", "Evening news.wav", "--id", "ev1"]
 * ```
 */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let i = 0;
  while (i < line.length) {
    const ch = line[i]!;
    if (isBlank(ch)) {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
      i++;
    } else if (ch === "#" && !inWord) {
      break;
    } else if (ch === "'") {
      const close = line.indexOf("'", i + 1);
      if (close < 0) throw new WordSplitError(`unterminated ' quote starting at column ${i + 1}; close it with '`);
      word += line.slice(i + 1, close);
      inWord = true;
      i = close + 1;
    } else if (ch === '"') {
      let j = i + 1;
      for (;;) {
        if (j >= line.length) throw new WordSplitError(`unterminated " quote starting at column ${i + 1}; close it with "`);
        const c = line[j]!;
        if (c === '"') break;
        if (c === "\\" && (line[j + 1] === '"' || line[j + 1] === "\\")) {
          word += line[j + 1];
          j += 2;
        } else {
          word += c;
          j++;
        }
      }
      inWord = true;
      i = j + 1;
    } else if (ch === "\\") {
      if (i + 1 >= line.length) throw new WordSplitError("backslash at the end of the line; commands cannot span lines");
      word += line[i + 1];
      inWord = true;
      i += 2;
    } else {
      word += ch;
      inWord = true;
      i++;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/**
 * Parses a whole pool file into commands, skipping blank and comment lines. Throws PoolFileError
 * listing every malformed line with its number; `sourceName` (the path) prefixes each.
 */
export function parsePoolFile(text: string, sourceName = "pool file"): PoolCommand[] {
  const commands: PoolCommand[] = [];
  const problems: PoolProblem[] = [];
  const lines = text.split("\n");
  // A final newline does not start another line.
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  lines.forEach((content, index) => {
    const line = index + 1;
    try {
      const words = splitWords(content);
      if (words.length > 0) commands.push({ line, words });
    } catch (e) {
      if (!(e instanceof WordSplitError)) throw e;
      problems.push({ line, message: e.message });
    }
  });
  if (problems.length > 0) throw new PoolFileError(sourceName, problems);
  return commands;
}
