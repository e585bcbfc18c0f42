/**
 * A command line pacer cannot parse is one pacer line naming the option and the help to read,
 * exit 2, for every command: before, each printed node:util parseArgs's own text ("Unknown option
 * '--bogus'. To specify a positional argument starting with a '-', place it at the end of the
 * command after '--', as in '-- "--bogus"'"). `pacer ctl OP --help` prints that op's usage, exit 0
 * (it was "Unknown option '--help'"). Real `pacer` subprocesses.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { rampS16, writeWav } from "../helpers/audio.ts";
import { MAIN, runPacer } from "../helpers/pacer.ts";
import { freeUdpPort } from "../helpers/ports.ts";

describe("usage errors", () => {
  test("an unknown option is one line naming it and the command's help, exit 2, for every command", async () => {
    const runs = await Promise.all(["play", "record", "serve", "recv", "acquire", "probe"].map(async (command) => ({ command, run: await runPacer([command, "x", "--bogus"]) })));
    for (const { command, run } of runs) {
      expect(run.stderr).toBe(`pacer: error: unknown option --bogus (see pacer ${command} --help)\n`);
      expect(run.code).toBe(2);
    }
    // ctl's own options may come before its op: one it does not know there was "unknown op".
    const ctl = await runPacer(["ctl", "--bogus", "ping"]);
    expect(ctl.stderr).toBe("pacer: error: unknown option --bogus (see pacer ctl --help)\n");
    expect(ctl.code).toBe(2);
    // "--" before the op ends ctl's options; the op follows (it was 'unknown op "--"', exit 2).
    const port = await freeUdpPort();
    const ended = await runPacer(["ctl", "--server", `127.0.0.1:${port}`, "--ttl", "0.3", "--", "ping"]);
    expect(ended.stderr).toStartWith(`pacer: error: no reply from 127.0.0.1:${port} within 0.3 s`);
    expect(ended.code).toBe(1);
  });

  test("an option without its value, or with one it takes none: one line each, exit 2", async () => {
    const missing = await runPacer(["play", "clip.ts", "--to"]);
    expect(missing.stderr).toBe("pacer: error: option --to needs a value (see pacer play --help)\n");
    expect(missing.code).toBe(2);
    const given = await runPacer(["record", "-", "--out", "x.ts", "--part=yes"]);
    expect(given.stderr).toBe("pacer: error: option --part takes no value (see pacer record --help)\n");
    expect(given.code).toBe(2);
    // An option with a short form: Node names it "-h, --help"; the line names --help (it said "-h,").
    const help = await runPacer(["play", "clip.ts", "--help=yes"]);
    expect(help.stderr).toBe("pacer: error: option --help takes no value (see pacer play --help)\n");
    expect(help.code).toBe(2);
  });

  test("a value that starts with '-' is one line saying to join it (it was Node's \"argument is ambiguous\")", async () => {
    const probe = await runPacer(["probe", "x.ts", "--bitrate", "-1"]);
    expect(probe.stderr).toBe("pacer: error: option --bitrate: a value that starts with '-' must be joined to it, as --bitrate=VALUE (see pacer probe --help)\n");
    expect(probe.code).toBe(2);
    const ctl = await runPacer(["ctl", "play", "x.ts", "--to", "udp://127.0.0.1:5000", "--start", "-3"]);
    expect(ctl.stderr).toBe("pacer: error: play: option --start: a value that starts with '-' must be joined to it, as --start=VALUE (see pacer ctl --help)\n");
    expect(ctl.code).toBe(2);
  });

  test("an empty value is refused, not taken for no option (a script's --bitrate \"$RATE\" with RATE unset played by PCR)", async () => {
    const cases: [string[], string][] = [
      [["play", "x.ts", "--to", "udp://127.0.0.1:5999", "--bitrate", ""], '--bitrate "": expected bits per second'],
      [["play", "x.wav", "--to", "udp://127.0.0.1:5999", "--start", ""], '--start "": expected seconds'],
      [["play", "x.wav", "--to", "udp://127.0.0.1:5999", "--out-format", ""], 'format "" must be ENCODING:RATE:CHANNELS'],
      [["probe", "x.ts", "--bitrate", ""], '--bitrate "": expected bits per second'],
      [["record", "-", "--out", "x.wav", "--format", ""], 'format "" must be ENCODING:RATE:CHANNELS'],
      [["recv", "--from", "127.0.0.1:9", "--request", "x", "--port", ""], '--port "": expected 0 to 65535'],
    ];
    for (const [args, said] of cases) {
      const run = await runPacer(args);
      expect(run.stderr).toContain(said);
      expect(run.code).toBe(2);
    }
  });

  test("after --, words are the command's as written: probe -- -v probes a file named -v (it took -v for --verbose)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pacer-dashdash-"));
    try {
      writeWav(join(dir, "-v"), { encoding: "s16le", rate: 8_000, channels: 1 }, rampS16(800));
      const run = await runPacer(["probe", "--", "-v"], { cwd: dir });
      expect(run.stderr).toBe("");
      expect(run.stdout).toStartWith("input:     -v\n");
      expect(run.code).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("recv: a bad --from names --from (it named ctl's --server); --wait 0 is refused (it gave up at once, its job already started)", async () => {
    const from = await runPacer(["recv", "--from", "127.0.0.1", "--request", "a.wav"]);
    expect(from.stderr).toContain("--from");
    expect(from.stderr).not.toContain("--server");
    expect(from.code).toBe(2);
    const wait = await runPacer(["recv", "--from", "127.0.0.1:9", "--request", "a.wav", "--wait", "0"]);
    expect(wait.stderr).toBe("pacer: error: --wait 0: give a time above 0\n");
    expect(wait.code).toBe(2);
  });

  test("a write to stdout that fails (a full device) is one line and exit 1: --print-config > /dev/full had left an empty file, exit 0", () => {
    for (const args of [["serve", "--print-config"], ["--version"]]) {
      const run = Bun.spawnSync(["sh", "-c", `'${process.execPath}' '${MAIN}' ${args.join(" ")} > /dev/full`], { stderr: "pipe" });
      expect(run.stderr.toString()).toBe("pacer: error: stdout: cannot write: no space left on device (ENOSPC)\n");
      expect(run.exitCode).toBe(1);
    }
  });

  test("pacer ctl OP --help prints the op's usage, exit 0; an unknown option of an op is one line, exit 2", async () => {
    const status = await runPacer(["ctl", "status", "--help"]);
    expect(status.code).toBe(0);
    expect(status.stderr).toBe("");
    expect(status.stdout).toStartWith("Usage: pacer ctl ");
    expect(status.stdout).toContain("status [JOB]");
    expect(status.stdout).not.toContain("queue PATH");
    const play = await runPacer(["ctl", "play", "news.ts", "--to", "udp://127.0.0.1:5000", "-h"]);
    expect(play.code).toBe(0);
    expect(play.stdout).toContain("play NAME --to URL");
    const bogus = await runPacer(["ctl", "play", "news.ts", "--bogus"]);
    expect(bogus.stderr).toBe("pacer: error: play: unknown option --bogus (see pacer ctl --help)\n");
    expect(bogus.code).toBe(2);
  });

  test("a time with 60 or more after a colon (--start 0:99, --duration 1:75:00) is a usage error; it was read as 99 s and 2 h 15 min", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pacer-clock-"));
    try {
      const wav = join(dir, "a.wav");
      writeWav(wav, { encoding: "s16le", rate: 8_000, channels: 1 }, rampS16(8_000 * 100, 1));
      const start = await runPacer(["play", wav, "--start", "0:99", "--to", `file:${join(dir, "out.raw")}`]);
      expect(start.stderr).toBe(`pacer: error: --start "0:99": minutes and seconds after a colon go up to 59, like 01:30 or 1:02:03\n`);
      expect(start.code).toBe(2);
      const duration = await runPacer(["record", "udp://@127.0.0.1:9", "--out", join(dir, "r.ts"), "--duration", "1:75:00"]);
      expect(duration.stderr).toContain(`--duration "1:75:00": minutes and seconds after a colon`);
      expect(duration.code).toBe(2);
      // Within 59 it is as before: 1:39.5 into a 100 s file plays its last half second.
      const last = await runPacer(["play", wav, "--start", "1:39.5", "--to", `file:${join(dir, "last.raw")}`]);
      expect(last.code).toBe(0);
      expect(Bun.file(join(dir, "last.raw")).size).toBe(8_000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 20_000);
});
