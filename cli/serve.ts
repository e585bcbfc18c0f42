/**
 * `pacer serve [--config FILE]`: the push server in the foreground, logging to stderr
 * (DESIGN.md, "serve"). SIGHUP reloads the config (an invalid one keeps the old); SIGTERM and
 * SIGINT stop every job and exit 0.
 */
import { parseArgs } from "node:util";
import { ConfigError, DEFAULT_CONFIG_TOML, KeyFileError, loadConfig } from "../server/config.ts";
import { type Server, startServer } from "../server/serve.ts";
import { PacerError, UsageError } from "../foundation/errors.ts";
import { startLineWriter } from "../foundation/line_writer.ts";
import type { Logger } from "../foundation/log.ts";
import { systemdNotifier } from "../foundation/sd_notify.ts";
import { parseSenderThreads, setSenderThreads } from "../backends/net/senders/pool.ts";
import { ignoredAtStart, onStopSignals } from "../foundation/ignored_signals.ts";

/** At exit, the log lines still queued get this long to be written (a reader that stopped gets no more). */
const STDERR_FLUSH_MS = 2_000;

export const SERVE_HELP = `Usage: pacer serve [--config FILE] [--senders N]

Runs the push server in the foreground: the UDP control port, push jobs,
interest tracking, status and metrics. Without --config it uses the embedded
default: control on 127.0.0.1:7070, media root ./media, interest timeout 10 s.

  --config FILE   a TOML config (see pacer.toml(5); "pacer serve --print-config"
                  shows the embedded default with every key)
  --print-config  print the embedded default config and exit
  --senders N     threads that put udp:// and rtp:// datagrams on the wire:
                  0 (default) the main thread, or N, or auto (cores minus one)

Signals: SIGHUP reloads the config; SIGTERM or SIGINT stops cleanly.
`;

export async function runServe(argv: string[], log: Logger): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: "string" },
      "print-config": { type: "boolean" },
      senders: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stdout.write(SERVE_HELP);
    return 0;
  }
  if (values["print-config"]) {
    process.stdout.write(DEFAULT_CONFIG_TOML);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`serve takes no arguments, got "${positionals[0]}" (see pacer serve --help)`);
  if (values.senders !== undefined) setSenderThreads(parseSenderThreads(values.senders, "--senders"));

  // A line stderr cannot take at once goes out through a thread of its own: a stderr nobody reads
  // holds up no stream, and is given at most the ring (1 MiB), not all the server logs.
  const stderr = startLineWriter(2);
  try {
    return await serve(values.config, log.to((line) => stderr.offer(line + "\n")));
  } finally {
    await stderr.flush(STDERR_FLUSH_MS);
  }
}

/** Runs the server from the config at `configPath` until SIGTERM or SIGINT. */
async function serve(configPath: string | undefined, log: Logger): Promise<number> {
  let server: Server | undefined;
  // Caught from the first: with no handler, a SIGHUP while the config loads or the sockets open
  // (a logrotate hook, a reload sent as the log says "serving") ended the server, status 129.
  // One that comes before the server is up is a reload once it is: the config may have been read before.
  let hangupWhileStarting = false;
  const onHangup = () => {
    if (!server) {
      hangupWhileStarting = true;
      return;
    }
    systemd.reloading();
    server
      .reload("SIGHUP") // which logs the outcome
      .catch(() => {})
      .finally(() => systemd.ready());
  };
  process.on("SIGHUP", onHangup);
  try {
    server = await startServer(await loadConfig(configPath), configPath, log);
  } catch (error) {
    process.off("SIGHUP", onHangup);
    if (error instanceof ConfigError || error instanceof KeyFileError) throw new PacerError(error.message);
    throw error;
  }
  // Under systemd (Type=notify): ready once the sockets are open, reloading around SIGHUP, the watchdog ping.
  const systemd = systemdNotifier();
  systemd.ready(`control on ${server.config().control.text}`);
  if (hangupWhileStarting) onHangup();
  const signal = await new Promise<string>((resolve) => {
    onStopSignals(resolve, { once: true, hangUp: false }); // SIGHUP reloads
    // SIGTERM is how a daemon is stopped (systemctl stop, docker stop): taken even when started
    // ignoring it (a wrapper's `trap '' TERM`), where it was left ignored, the server kept serving,
    // and only SIGKILL ended it, no job stopped. SIGINT ignored by a script's `&` stays ignored.
    if (ignoredAtStart("SIGTERM")) process.once("SIGTERM", resolve);
  });
  log.info(`${signal}: stopping`);
  systemd.stopping();
  process.off("SIGHUP", onHangup);
  await server.stop();
  systemd.close();
  log.info("stopped");
  return 0;
}
