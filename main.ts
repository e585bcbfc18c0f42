#!/usr/bin/env bun
/**
 * pacer: pushes media out in real time. This file parses the command line,
 * hands each subcommand its arguments and maps errors to exit codes
 * (DESIGN.md): 0 ok, 1 failure, 2 usage, 75 temporary.
 */
import pkg from "./package.json" with { type: "json" };
import "./backends/all.ts";
import { registeredBackends } from "./backends/registry.ts";
import { EXIT_FAILURE, EXIT_TEMPFAIL, EXIT_USAGE, TemporaryError, UsageError } from "./foundation/errors.ts";
import { createLogger, type Logger, type LogLevel, underJournald } from "./foundation/log.ts";
import { onAlsaLibMessage } from "./backends/alsa/libasound.ts";
import { runPlay } from "./cli/play.ts";
import { runProbe } from "./cli/probe.ts";
import { runDevices } from "./cli/devices.ts";
import { runServe } from "./cli/serve.ts";
import { runCtl } from "./cli/ctl.ts";
import { runRecv } from "./cli/recv.ts";
import { runAcquire } from "./cli/acquire.ts";
import { runRecord } from "./cli/record.ts";
import { usageFromParseArgs } from "./cli/parse_args_errors.ts";
import { FormatSpecError } from "./protocol/sample_format.ts";
import { describeFsError } from "./foundation/fs_error.ts";

type Command = (argv: string[], log: Logger) => Promise<number> | number;

const HELP = `pacer ${pkg.version}: pushes media out in real time.

Usage: pacer [--quiet|--verbose] [--log-json] COMMAND [ARGS]

Commands:
  play INPUT... --to OUTPUT   play inputs in real time to outputs (rtp, udp, alsa, cmd, file)
  record INPUT --out PATTERN  record a stream to disk, for cron
  serve [--config FILE]       the push server daemon, in the foreground
  ctl OP ...                  send a control command to a server
  recv --from SERVER --request NAME   ask a server for a stream and write it out
  acquire INPUT --to tcp://HOST:PORT  push a live stream to a server
  probe INPUT                 what pacer knows of an input
  devices                     list ALSA PCMs

Run "pacer COMMAND --help" (or "pacer help COMMAND") for a command's options,
"pacer --version" for the version.
`;


const COMMANDS: Record<string, Command> = {
  play: runPlay,
  probe: runProbe,
  devices: (argv, log) => {
    if (argv.includes("--help") || argv.includes("-h")) {
      process.stdout.write("Usage: pacer devices\n\nLists the ALSA PCMs this host knows: name, description, direction.\n");
      return 0;
    }
    return runDevices(log, argv);
  },
  record: runRecord,
  serve: runServe,
  ctl: runCtl,
  recv: runRecv,
  acquire: runAcquire,
};

/** A logging flag, which may stand anywhere, before or after the command. */
const LOG_FLAGS: Record<string, { level?: LogLevel; json?: true }> = {
  "--quiet": { level: "error" },
  "-q": { level: "error" },
  "--verbose": { level: "debug" },
  "-v": { level: "debug" },
  "--log-json": { json: true },
};

/**
 * Takes the logging flags out from anywhere in `argv`; of the rest, `--help` and `--version`
 * count only before the command, and everything from the command on is the command's.
 */
function splitGlobal(argv: string[]): { level: LogLevel; json: boolean; rest: string[]; help: boolean; version: boolean } {
  let level: LogLevel = "info";
  let json = false;
  let help = false;
  let version = false;
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    // After "--", words are the command's as written: `pacer probe -- -v` probes a file named -v.
    if (a === "--" && rest.length > 0) {
      rest.push(...argv.slice(i));
      break;
    }
    const flag = LOG_FLAGS[a];
    if (flag) {
      level = flag.level ?? level;
      json ||= flag.json ?? false;
    } else if (rest.length > 0) rest.push(a);
    else if (a === "--help" || a === "-h") help = true;
    else if (a === "--version" || a === "-V") version = true;
    else if (a.startsWith("-")) throw new UsageError(`unknown option "${a}" (see pacer --help)`);
    else rest.push(a);
  }
  return { level, json, help, version, rest };
}

/**
 * The reader of stdout going away (`pacer ctl status | head -1`) is no error of ours: without a
 * listener Bun prints it with a stack trace. Say nothing, as a tool killed by SIGPIPE would;
 * commands that stream to stdout (recv) listen too and stop their work.
 */
function quietOnClosedStdout(): void {
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    // A command that listens itself (recv) reports it and stops its work first.
    if (error.code === "EPIPE" || process.stdout.listenerCount("error") > 1) return;
    process.stderr.write(`pacer: error: stdout: cannot write: ${describeFsError(error)}\n`);
    process.exit(EXIT_FAILURE);
  });
}

async function main(argv: string[]): Promise<number> {
  quietOnClosedStdout();
  // Under systemd, stderr is journald's stream: each line then carries its priority.
  const journal = underJournald();
  let log: Logger = createLogger({ level: "info", journal });
  try {
    const global = splitGlobal(argv);
    const rest = global.rest;
    log = createLogger({ level: global.level, json: global.json, journal });
    // libasound's own lines, wherever ALSA is used (a capture: record had none): an alsa: output narrows them to its log.
    onAlsaLibMessage((text) => log.debug(text));
    if (global.version) {
      process.stdout.write(`pacer ${pkg.version}\n`);
      return 0;
    }
    // `pacer help` is --help, as `pacer help play` is `pacer play --help` (as git and go have it).
    if (rest[0] === "help") {
      if (rest.length > 2) throw new UsageError(`help takes one command, got "${rest[2]}" too (see pacer --help)`);
      if (rest.length === 1 || rest[1] === "help") return printHelp(process.stdout, 0);
      rest.splice(0, 2, rest[1]!, "--help");
    }
    if (global.help) return printHelp(process.stdout, 0);
    // No command is a usage error: the help goes to stderr, so stdout holds nothing a pipe would take for output.
    if (rest.length === 0) return printHelp(process.stderr, EXIT_USAGE);
    const [name, ...args] = rest;
    const command = COMMANDS[name!];
    if (!command) throw new UsageError(`unknown command "${name}" (see pacer --help)`);
    try {
      return await command(args, log);
    } catch (error) {
      throw usageFromParseArgs(error, `pacer ${name}`) ?? error;
    }
  } catch (error) {
    return reportError(error, log);
  }
}

/** The top-level help and the outputs pacer knows, to `stream`; returns `code`. */
function printHelp(stream: NodeJS.WriteStream, code: number): number {
  stream.write(HELP);
  stream.write(`\nOutputs:\n${registeredBackends().map((b) => `  ${b.summary}`).join("\n")}\n`);
  return code;
}

function reportError(error: unknown, log: Logger): number {
  const message = error instanceof Error ? error.message : String(error);
  const oneLine = message.split("\n")[0]!;
  log.error(oneLine);
  if (error instanceof UsageError || error instanceof FormatSpecError) return EXIT_USAGE;
  if (error instanceof TemporaryError) return EXIT_TEMPFAIL;
  return EXIT_FAILURE;
}

const code = await main(process.argv.slice(2));
// A failed write to stdout (`--print-config > file` on a full disk) is an event after the write:
// it comes before the exit, so it is said and the status is 1. It was 0, the file left empty.
await new Promise((resolve) => setImmediate(resolve));
process.exit(code);
