/**
 * What a newcomer types first: `pacer` alone, `pacer help`, `pacer help play`. A bare `pacer` is a
 * usage error, so its help goes to stderr with exit 2 and stdout stays empty (it printed the help
 * to stdout, exit 2: a pipe took it for output). `pacer help [COMMAND]` is `pacer [COMMAND]
 * --help` (it was `unknown command "help"`). Real `pacer` subprocesses.
 */
import { describe, expect, test } from "bun:test";
import { runPacer } from "../helpers/pacer.ts";

describe("the top-level help", () => {
  test("pacer alone: the help on stderr, nothing on stdout, exit 2", async () => {
    const bare = await runPacer([]);
    const help = await runPacer(["--help"]);
    expect(bare.code).toBe(2);
    expect(bare.stdout).toBe("");
    expect(bare.stderr).toBe(help.stdout);
    expect(help.code).toBe(0);
    expect(help.stderr).toBe("");
  });

  test("pacer help is pacer --help, and pacer help COMMAND is pacer COMMAND --help", async () => {
    const [top, help, play, playHelp, recv, recvHelp] = await Promise.all(
      [["--help"], ["help"], ["play", "--help"], ["help", "play"], ["recv", "--help"], ["-q", "help", "recv"]].map((args) => runPacer(args)),
    );
    for (const [run, same] of [[help, top], [playHelp, play], [recvHelp, recv]] as const) {
      expect(run.code).toBe(0);
      expect(run.stderr).toBe("");
      expect(run.stdout).toBe(same!.stdout);
    }
    expect(playHelp.stdout).toStartWith("Usage: pacer play ");
  });

  test("pacer help with an unknown command, or with more than one word, is one line and exit 2", async () => {
    const unknown = await runPacer(["help", "pley"]);
    expect(unknown.stderr).toBe(`pacer: error: unknown command "pley" (see pacer --help)\n`);
    expect(unknown.code).toBe(2);
    const more = await runPacer(["help", "play", "now"]);
    expect(more.stderr).toBe(`pacer: error: help takes one command, got "now" too (see pacer --help)\n`);
    expect(more.code).toBe(2);
  });
});
