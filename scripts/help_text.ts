/**
 * The `--help` texts, as the one source the man page and the shell completions are generated
 * from. They are read by running pacer itself (`bun main.ts [COMMAND] --help`), so what they
 * say is exactly what a user sees, including the top-level help that main.ts keeps to itself.
 *
 * A help text is blocks separated by blank lines, in the shapes the *_HELP constants use:
 * a "Usage:" block, prose at column 0, a list of "  TERM   description" lines (optionally under
 * a "Title:" line), or anything else, kept verbatim.
 *
 * @example
 * ```ts
 * const help = await collectHelp();
 * help.commands.map((c) => c.name);   // ["play", "record", "serve", ...]
 * optionsOf(help.commands[0]!);       // [{ flag: "--to", argument: "OUTPUT", repeatable: true, ... }, ...]
 * ```
 */
import { join } from "node:path";

export const REPO = join(import.meta.dir, "..");
const MAIN = join(REPO, "main.ts");

export interface ListItem {
  term: string;
  description: string;
}

export type HelpBlock =
  | { kind: "usage"; lines: string[] }
  | { kind: "prose"; text: string }
  | { kind: "list"; title?: string; items: ListItem[] }
  | { kind: "verbatim"; lines: string[] };

export interface HelpText {
  /** The subcommand, or "" for `pacer --help`. */
  name: string;
  text: string;
  blocks: HelpBlock[];
}

export interface PacerHelp {
  version: string;
  /** What pacer is, from the first line of `pacer --help`. */
  summary: string;
  main: HelpText;
  commands: HelpText[];
}

/** One `--option` a help text names: its argument's name, and whether it may repeat. */
export interface OptionSpec {
  flag: string;
  argument?: string;
  description: string;
  repeatable: boolean;
  /** What its argument takes, said elsewhere than its description (a ctl op's line: "to rtp:// or udp:// URLs"). */
  takes?: string;
}

/** Leading spaces of a line. */
const indentOf = (line: string) => line.length - line.trimStart().length;
const TITLE = /^[A-Z][A-Za-z ]*:$/;
/** A term and its description are set apart by two or more spaces. */
const TERM_AND_DESCRIPTION = /^(\S.*?)\s{2,}(\S.*)$/;

function parseList(lines: string[], title?: string): ListItem[] {
  const itemIndent = indentOf(lines[0]!);
  const items: ListItem[] = [];
  for (const line of lines) {
    const text = line.trim();
    const last = items.at(-1);
    if (last && indentOf(line) > itemIndent) {
      last.description = last.description ? `${last.description} ${text}` : text;
      continue;
    }
    const split = TERM_AND_DESCRIPTION.exec(text);
    items.push(split ? { term: split[1]!, description: split[2]! } : { term: text, description: "" });
  }
  if (items.length === 0) throw new Error(`help list "${title ?? lines[0]}" has no items`);
  return items;
}

/** Splits a help text into its blocks. */
export function parseHelp(text: string): HelpBlock[] {
  const blocks: HelpBlock[] = [];
  for (const chunk of text.split(/\n[ \t]*\n/)) {
    const lines = chunk.split("\n").filter((l) => l.trim() !== "");
    if (lines.length === 0) continue;
    const [first, ...rest] = lines as [string, ...string[]];
    const restIndented = rest.every((l) => indentOf(l) > 0);
    if (first.startsWith("Usage: ")) {
      blocks.push({ kind: "usage", lines: [first.slice("Usage: ".length), ...rest].map((l) => l.trim()) });
    } else if (TITLE.test(first) && rest.length > 0 && restIndented) {
      blocks.push({ kind: "list", title: first.slice(0, -1), items: parseList(rest, first) });
    } else if (indentOf(first) > 0 && restIndented) {
      blocks.push({ kind: "list", items: parseList(lines) });
    } else if (lines.every((l) => indentOf(l) === 0)) {
      blocks.push({ kind: "prose", text: lines.join(" ") });
    } else {
      blocks.push({ kind: "verbatim", lines });
    }
  }
  return blocks;
}

/** Every `--option` a text names, in order of first mention. */
export function flagsIn(text: string): string[] {
  return [...new Set(text.match(/(?<![\w-])--[a-z][a-z0-9-]*/g) ?? [])];
}

/** An option's argument as the usage or list writes it: `--to OUTPUT`, `--out FILE|-`. */
const OPTION_WITH_ARGUMENT = /(?<![\w-])(--[a-z][a-z0-9-]*)(?: ([A-Z][A-Z0-9_:.|-]*))?/g;

/** Adds the options `text` names (with their arguments) to `found`. */
function noteOptions(found: Map<string, OptionSpec>, text: string, description: string): void {
  const seen = new Map<string, number>();
  for (const m of text.matchAll(OPTION_WITH_ARGUMENT)) {
    const flag = m[1]!;
    seen.set(flag, (seen.get(flag) ?? 0) + 1);
    const spec = found.get(flag) ?? { flag, description: "", repeatable: false };
    spec.argument ??= m[2];
    if (description && !spec.description) spec.description = description;
    // "--to OUTPUT [--to OUTPUT ...]" in one line, or "(repeat for more)".
    if (seen.get(flag)! > 1 || /\brepeat\b/.test(description)) spec.repeatable = true;
    found.set(flag, spec);
  }
}

/**
 * The options of a command: those in its usage lines and in its option lists (not those of
 * ctl's ops, nor ones prose merely mentions), with the argument each takes.
 */
export function optionsOf(help: HelpText): OptionSpec[] {
  const found = new Map<string, OptionSpec>();
  for (const block of help.blocks) {
    if (block.kind === "usage") for (const line of block.lines) noteOptions(found, line, "");
    if (block.kind === "list" && (block.title === undefined || block.title === "Options")) {
      // Only an item's own option: serve's "--config FILE" mentions --print-config in its description.
      for (const item of block.items) if (item.term.startsWith("-")) noteOptions(found, item.term, item.description);
    }
  }
  return [...found.values()];
}

/** Options that exclude each other, as a usage writes them: "[--quiet|--verbose]". */
export function exclusiveOptions(help: HelpText): string[][] {
  const groups: string[][] = [];
  for (const block of help.blocks) {
    if (block.kind !== "usage") continue;
    for (const line of block.lines) {
      for (const m of line.matchAll(/\[(--[a-z][a-z0-9-]*(?:\|--[a-z][a-z0-9-]*)+)\]/g)) groups.push(m[1]!.split("|"));
    }
  }
  return groups;
}

/** The items of the list titled `title`, or none. */
export function listItems(help: HelpText, title: string): ListItem[] {
  for (const block of help.blocks) if (block.kind === "list" && block.title === title) return block.items;
  return [];
}

/** A control op of `pacer ctl`, with the options its line names. */
export interface OpSpec {
  name: string;
  options: OptionSpec[];
  /** The words that may follow it: "record start NAME | record stop NAME" gives start and stop. */
  words: string[];
}

/** ctl's ops, from its "Ops:" list: "play NAME --to URL ... | stop JOB" gives play and stop. */
export function opsOf(help: HelpText): OpSpec[] {
  const ops = new Map<string, { options: Map<string, OptionSpec>; words: string[] }>();
  for (const item of listItems(help, "Ops")) {
    for (const alternative of item.term.split("|")) {
      const [name, second] = alternative.trim().split(" ") as [string, string | undefined];
      const op = ops.get(name) ?? { options: new Map<string, OptionSpec>(), words: [] };
      noteOptions(op.options, alternative, "");
      for (const option of op.options.values()) option.takes ??= item.description;
      // A literal word (lower case), not a placeholder (NAME) or an option.
      if (second !== undefined && /^[a-z]+$/.test(second) && !op.words.includes(second)) op.words.push(second);
      ops.set(name, op);
    }
  }
  return [...ops].map(([name, op]) => ({ name, options: [...op.options.values()], words: op.words }));
}

/** The subcommands `pacer --help` lists, each with its one-line summary. */
export function commandsOf(main: HelpText): ListItem[] {
  return listItems(main, "Commands").map((item) => ({ term: item.term.split(" ")[0]!, description: item.description }));
}

async function runHelp(args: string[]): Promise<string> {
  const child = Bun.spawn([process.execPath, MAIN, ...args, "--help"], {
    cwd: REPO,
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, NO_COLOR: "1" },
  });
  const [text, errors, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  if (code !== 0) throw new Error(`pacer ${[...args, "--help"].join(" ")} exited ${code}: ${errors.trim()}`);
  return text;
}

/** Runs `pacer --help` and `pacer COMMAND --help` for every command it lists. */
export async function collectHelp(): Promise<PacerHelp> {
  const mainText = await runHelp([]);
  const main: HelpText = { name: "", text: mainText, blocks: parseHelp(mainText) };
  const heading = /^pacer (\S+): (.*?)\.?$/.exec(mainText.split("\n")[0]!);
  if (!heading) throw new Error(`pacer --help does not start with "pacer VERSION: what it is": ${mainText.split("\n")[0]}`);
  // The heading is the NAME line; the rest is the page.
  main.blocks = main.blocks.slice(1);
  const names = commandsOf(main).map((c) => c.term);
  const commands = await Promise.all(
    names.map(async (name): Promise<HelpText> => {
      const text = await runHelp([name]);
      return { name, text, blocks: parseHelp(text) };
    }),
  );
  return { version: heading[1]!, summary: heading[2]!, main, commands };
}
