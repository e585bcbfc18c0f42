/**
 * Shell completions, generated from the --help texts: committed and current, valid bash and zsh,
 * and, in a real bash, completing what a user would type.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { renderCompletions } from "../../scripts/completions.ts";
import { collectHelp, optionsOf, type PacerHelp, REPO } from "../../scripts/help_text.ts";
import { havePeer } from "../helpers/pacer.ts";

const BASH_COMPLETION = join(REPO, "completions", "pacer.bash");
const ZSH_COMPLETION = join(REPO, "completions", "_pacer");

let help: PacerHelp;
beforeAll(async () => {
  help = await collectHelp();
}, 30_000); // `pacer CMD --help` for every command: a start-up each, slow on a busy host

/** What bash offers for `line` (cursor at its end), run in the repository so files are its files. */
function bashCompletes(lines: string[]): string[][] {
  const script = [
    `source ${JSON.stringify(BASH_COMPLETION)}`,
    // Interactive bash's default; a script's bash leaves it unset.
    `COMP_WORDBREAKS=$' \\t\\n"\\'><=;|&(:'`,
    `complete() { :; }`,
    ...lines.map(
      (line) => `COMP_LINE=${JSON.stringify(line)}; COMP_POINT=\${#COMP_LINE}; COMPREPLY=(); _pacer; printf '%s\\n' "\${COMPREPLY[*]}"`,
    ),
  ].join("\n");
  const result = Bun.spawnSync(["bash", "-c", script], { cwd: REPO, stdout: "pipe", stderr: "pipe" });
  expect(result.stderr.toString()).toBe("");
  return result.stdout
    .toString()
    .trimEnd()
    .split("\n")
    .map((l) => (l === "" ? [] : l.split(" ")));
}

/** What zsh's completion system offers for each line, through a real interactive zsh. */
async function zshCompletes(lines: string[]): Promise<string[][]> {
  return Promise.all(
    lines.map(async (line) => {
      const child = Bun.spawn(["zsh", "-f", join(import.meta.dir, "zsh_complete.zsh"), join(REPO, "completions"), REPO, line], {
        stdout: "pipe",
        stderr: "pipe",
      });
      const timer = setTimeout(() => child.kill(), 15_000);
      const text = await new Response(child.stdout).text();
      clearTimeout(timer);
      return text.split("\n").filter((l) => l !== "");
    }),
  );
}

describe("shell completions", () => {
  test("the committed files are what `npm run completions` generates now", () => {
    for (const [path, text] of Object.entries(renderCompletions(help))) {
      if (readFileSync(join(REPO, path), "utf8") !== text) throw new Error(`${path} is stale: run "npm run completions" and commit it`);
    }
  });

  test("bash -n accepts the bash completion", () => {
    const result = Bun.spawnSync(["bash", "-n", BASH_COMPLETION], { stderr: "pipe" });
    expect(result.stderr.toString()).toBe("");
    expect(result.exitCode).toBe(0);
  });

  test("zsh -n accepts the zsh completion", () => {
    if (!havePeer("zsh")) return;
    const result = Bun.spawnSync(["zsh", "-n", ZSH_COMPLETION], { stderr: "pipe" });
    expect(result.stderr.toString()).toBe("");
    expect(result.exitCode).toBe(0);
  });

  test("in bash, a user tabs through commands, options, output URLs, files and ctl's ops", () => {
    const play = help.commands.find((c) => c.name === "play")!;
    const [commands, pl, playOptions, outputs, rtp, files, ops, playOp, serveConfig, acquireTo, topVersion, playV, ctlTo, record] = bashCompletes([
      "pacer ",
      "pacer --verbose pl",
      "pacer play tone.wav --",
      "pacer play tone.wav --to ",
      "pacer play tone.wav --to rtp:",
      "pacer play packa",
      "pacer ctl --server 127.0.0.1:7070 ",
      "pacer ctl play song.wav --to udp://127.0.0.1:5004 --per",
      "pacer serve --config package.j",
      "pacer acquire - --to ",
      "pacer --v",
      "pacer play tone.wav --v",
      "pacer ctl play song.wav --to ",
      "pacer ctl record ",
    ]);
    expect(commands).toEqual(help.commands.map((c) => c.name));
    expect(pl).toEqual(["play"]);
    // record's own word: it offered nothing.
    expect(record).toEqual(["start", "stop"]);
    for (const option of optionsOf(play)) expect(playOptions).toContain(option.flag);
    expect(outputs).toEqual(["rtp://", "udp://", "alsa:", "cmd:", "file:"]);
    // Bash replaces only the part after ":", so the reply is that part.
    expect(rtp).toEqual(["//"]);
    expect(files.sort()).toEqual(["package-lock.json", "package.json"]);
    expect(ops).toEqual(expect.arrayContaining(["ping", "status", "play", "stop", "interest", "reload"]));
    expect(playOp).toEqual(["--persistent"]);
    expect(serveConfig).toEqual(["package.json"]);
    // acquire takes tcp:// only (it was offered play's outputs, every one refused); --version only before a command.
    expect(acquireTo).toEqual(["tcp://"]);
    expect(topVersion.sort()).toEqual(["--verbose", "--version"]);
    expect(playV).toEqual(["--verbose"]);
    // A server streams to rtp:// and udp:// only: the other outputs were offered and refused.
    expect(ctlTo).toEqual(["rtp://", "udp://"]);
  });

  test("in zsh, the same line completes to the same things", async () => {
    if (!havePeer("zsh")) return;
    const [commands, playOptions, outputs, ops, playOp, serveConfig, acquireTo, ctlTo, record] = await zshCompletes([
      "pacer ",
      "pacer play tone.wav --",
      "pacer play tone.wav --to ",
      "pacer ctl ",
      "pacer ctl play song.wav --to udp://127.0.0.1:5004 --per",
      "pacer serve --config package.j",
      "pacer acquire - --to ",
      "pacer ctl play song.wav --to ",
      "pacer ctl record ",
    ]);
    expect(commands).toEqual(help.commands.map((c) => c.name));
    expect(record).toEqual(["start", "stop"]);
    const play = help.commands.find((c) => c.name === "play")!;
    for (const option of optionsOf(play)) expect(playOptions).toContain(option.flag);
    expect(outputs).toEqual(["rtp://", "udp://", "alsa:", "cmd:", "file:"]);
    expect(ops).toEqual(expect.arrayContaining(["ping", "status", "play", "stop", "interest", "reload"]));
    expect(playOp).toEqual(["--persistent"]);
    expect(serveConfig).toEqual(["package.json"]);
    // Offered at all: a ":" left bare in the list ended its field, and zsh offered nothing.
    expect(acquireTo).toEqual(["tcp://"]);
    expect(ctlTo).toEqual(["rtp://", "udp://"]);
  }, 30_000);
});
