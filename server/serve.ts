/**
 * The push server, assembled (DESIGN.md, "serve"): one scheduler for every job and interest
 * deadline, the job table, the control endpoint on its UDP socket, and, when configured, the
 * metrics and status HTTP endpoint. Sockets are opened first, then root is dropped, then the
 * server starts answering.
 *
 * Reload (SIGHUP or the `reload` op) re-reads the config file and the key file; an invalid config
 * or an unreadable key keeps the old config whole. Reloads begin RELOAD_SPACING_MS apart at
 * least, and asks that come before the next one begins share it. Running streams are not touched: the media
 * root, destination policy, limits, key and interest timeout apply to requests from then on.
 * Addresses, the user and the speaker are fixed at start; changing them logs that a restart is needed.
 *
 * Recordings (`[[recording]]`) are armed once root is dropped and re-armed by a reload; runs
 * going on keep going through a reload.
 *
 * Live channels (`[[live]]`) are opened with the other sockets, before root is dropped, and are
 * fixed at start like them.
 *
 * @example
 * ```ts
 * const server = await startServer(await loadConfig(path), path, log);
 * process.on("SIGHUP", () => void server.reload("SIGHUP").catch(() => {})); // reload logs the outcome
 * await server.stop();
 * ```
 */

import { accessSync, constants } from "node:fs";
import { PacerError, TemporaryError } from "../foundation/errors.ts";
import type { Logger } from "../foundation/log.ts";
import { Scheduler } from "../scheduler/scheduler.ts";
import { StallWatch } from "./stall_watch.ts";
import { DescriptorWatch, type PausableListener } from "./descriptor_watch.ts";
import { Speaker } from "../speaker/speaker.ts";
import type { SpeakerOptions } from "../speaker/speaker_options.ts";
import { Catalogue } from "./catalogue.ts";
import { hostPortText, isLoopbackHost } from "../foundation/net/address.ts";
import { type Config, ConfigError, keyFileExposure, loadConfig, readKey, type SpeakerConfig } from "./config.ts";
import { ControlEndpoint, type ControlSocket, openControlSocket } from "./control_server.ts";
import { JobTable } from "./jobs.ts";
import { startMetricsHttp, type MetricsHttp } from "./metrics_http.ts";
import { serverOps } from "./ops.ts";
import { type BoundPorts, ownPortsOf } from "./own_ports.ts";
import { dropPrivileges } from "./privileges.ts";
import type { ServerContext } from "./server_context.ts";
import { type LiveChannels, openLiveChannels } from "./live/live_channels.ts";
import { Recordings } from "./recording/recordings.ts";
import { folderProblem } from "../foundation/folder_problem.ts";

/**
 * Reloads begin at least this far apart, server-wide; asks meanwhile share the next one. A reload
 * parses the config on the loop that sends (0.1–0.7 ms, README "Control under load") and logs a
 * line: one keyless client asking 50 times a second, its rate limit, held every stream's sends
 * that often and logged 50 lines a second, and more clients each as much again.
 */
const RELOAD_SPACING_MS = 250;

export interface Server {
  /** The control port actually bound. */
  readonly controlPort: number;
  /** The current config. */
  config(): Config;
  /** Re-reads the config (as SIGHUP); rejects with ConfigError or KeyFileError, keeping the old one. */
  reload(by: string): Promise<Config>;
  /** Stops every job and closes the sockets. */
  stop(): Promise<void>;
}

/**
 * Starts the server on `initial`, read from `configPath` (undefined: the embedded default, which
 * a reload keeps). Throws ConfigError for a config this version cannot run, TemporaryError when a
 * port is in use, PacerError when a socket cannot be bound otherwise or root cannot be dropped.
 */
export async function startServer(initial: Config, configPath: string | undefined, log: Logger): Promise<Server> {
  let config = initial;
  let key = config.keyFile ? await readKey(config.keyFile) : undefined;
  const scheduler = new Scheduler();
  const stalls = new StallWatch(log);
  const jobs = new JobTable({ scheduler, log, interestTimeoutMs: config.interestTimeoutMs });
  const speaker = config.speaker ? new Speaker(speakerOptions(config.speaker), { scheduler, log: log.child({ part: "speaker" }) }) : null;
  let reloading: Promise<Config> = Promise.resolve(config);
  /** The reload asked for and not begun (it waits for the one before, or for RELOAD_SPACING_MS). */
  let nextReload: Promise<Config> | null = null;
  let lastReloadAtMs = -Infinity;

  const reload = async (): Promise<Config> => {
    const next = await loadConfig(configPath);
    const nextKey = next.keyFile ? await readKey(next.keyFile) : undefined;
    // The control socket stays where it is, so the key rule applies to where it really listens.
    if (!isLoopbackHost(config.control.host) && nextKey === undefined) {
      throw new ConfigError(`config ${next.source}: key_file: the server listens on ${config.control.text} and needs a key`);
    }
    for (const fixed of ["control", "user", "group", "http", "speaker", "live"] as const) {
      if (JSON.stringify(next[fixed]) !== JSON.stringify(config[fixed])) {
        log.warn(`config ${fixed} changed; it takes effect at the next restart`);
      }
    }
    // Said, not only done: an emptied or half-written file on a loopback server dropped the key
    // with no more than "config reloaded", and unsigned requests were served from then on.
    if (key !== undefined && nextKey === undefined) {
      log.warn(`config ${next.source} has no key_file: control requests need no key from now on, from any local user`);
    }
    config = { ...next, control: config.control, user: config.user, group: config.group, http: config.http, speaker: config.speaker, live: config.live };
    // A recording of a channel added with it is accepted, but has no channel to record until then.
    const running = new Set(config.live.map((channel) => channel.name));
    for (const recording of config.recordings) {
      const channel = recording.source.startsWith("live:") ? recording.source.slice(5) : null;
      if (channel !== null && !running.has(channel)) {
        log.warn(`recording ${recording.name}: ${recording.source} is a channel this server has only after a restart ([[live]] changes wait for it); its runs fail until then`);
      }
    }
    key = nextKey;
    warnExposedKey();
    warnOpenHttp();
    jobs.interestTimeoutMs = config.interestTimeoutMs;
    endpoint.configure(key, config.limits);
    recordings.configure(config.recordings, config.recordingRoot);
    checkMediaRoot();
    checkRecordingRoot();
    return config;
  };

  const warnExposedKey = () => {
    const exposed = keyFileExposure(config.keyFile);
    if (exposed) log.warn(exposed);
  };
  /**
   * Said at start and at each reload, as a keyless control port off loopback is refused: the HTTP
   * endpoint has no key at all, and bound to every address it showed anyone every job unsaid.
   */
  const warnOpenHttp = () => {
    const at = config.http;
    if (at && !isLoopbackHost(at.host)) {
      log.warn(`http: ${at.text} is not a loopback address, and /metrics and /status need no key: anyone who reaches it sees every job, its source, owner and destinations; use a loopback address such as 127.0.0.1:${at.port}, or one on a network only your monitoring reaches`);
    }
  };
  const recordings = new Recordings({ live: () => live, log });
  /** Said at start and at each reload: a reload to a mistyped or missing root said only "config reloaded", and every play failed. */
  const checkMediaRoot = () => {
    const problem = folderProblem(config.mediaRoot, "read");
    if (problem) log.warn(`media root ${config.mediaRoot} ${problem}; play requests will fail`);
  };
  /** With [[recording]]s, says a root they cannot be written to (not for live channels alone: most are never recorded). */
  const checkRecordingRoot = () => {
    if (config.recordings.length === 0) return;
    const problem = folderProblem(config.recordingRoot, "write");
    if (problem) log.warn(`recording root ${config.recordingRoot} ${problem}; recordings will fail`);
  };
  const context: ServerContext = {
    config: () => config,
    keyed: () => key !== undefined,
    jobs,
    speaker,
    get live() {
      return live;
    },
    recordings,
    scheduler,
    log,
    catalogue: new Catalogue(),
    get counters() {
      return endpoint.counters;
    },
    startedAtMs: Date.now(),
    stalls,
    // Built from the config each time: a reload's recordings add their ports.
    ownPorts: () => (bound ? ownPortsOf(config, bound) : []),
    // One reload at a time; each starts from the outcome of the one before. Logged here, so a
    // reload by signal and one by control op leave the same line.
    reload: (by) => {
      // Not begun yet, it reads the file after this ask came, so it answers this ask too.
      if (nextReload) return nextReload;
      const run = reloading
        .catch(() => config)
        .then(async () => {
          const waitMs = lastReloadAtMs + RELOAD_SPACING_MS - performance.now();
          if (waitMs > 0) await Bun.sleep(waitMs);
          nextReload = null;
          lastReloadAtMs = performance.now();
          return reload();
        })
        .then(
          (next) => {
            log.info("config reloaded", { config: next.source, by, key: key ? "required" : "none" });
            return next;
          },
          (error: Error) => {
            log.error(`${error.message}; keeping the old config`, { by });
            throw error;
          },
        );
      nextReload = run;
      reloading = run;
      return run;
    },
  };
  const endpoint = new ControlEndpoint({ ops: serverOps(context), scheduler, log, key, limits: config.limits });
  const socket: ControlSocket = await openControlSocket(config.control, endpoint, log);
  let http: MetricsHttp | null = null;
  let live: LiveChannels | null = null;
  // As bound, and fixed like the addresses: no stream may go to them (ownPortsOf).
  let bound: BoundPorts | null = null;
  try {
    if (config.http) http = startMetricsHttp(config.http, context);
    live = await openLiveChannels(config.live, log);
    bound = { control: socket.port, http: http?.port ?? null, listening: live.all().filter((c) => c.port > 0) };
    const dropped = dropPrivileges(config.user, config.group);
    if (dropped) log.info("dropped root privileges", { user: dropped.user, group: dropped.group });
  } catch (error) {
    socket.close();
    http?.stop();
    live?.close();
    throw error instanceof PacerError || error instanceof TemporaryError ? error : new PacerError((error as Error).message);
  }
  // What may spin at the descriptor limit: a TCP listener a connection waits on.
  const listeners: PausableListener[] = live.all().filter((channel) => channel.port > 0).map((channel) => ({
    label: `live "${channel.name}" ${hostPortText(channel.config.listen!.host || "0.0.0.0", channel.port)}`,
    pause: () => channel.pause(),
    resume: () => channel.resume(),
  }));
  if (http) listeners.unshift({ label: `HTTP ${hostPortText(config.http!.host, http.port)}`, pause: http.pause, resume: http.resume });
  const descriptors = new DescriptorWatch(listeners, log);
  checkMediaRoot();
  // Read as root at start, then again at each reload as this user: said now, not at the first
  // `systemctl reload`, which kept the old config (a key file of mode 600 is the usual case).
  for (const [what, path] of [["config", configPath], ["key file", config.keyFile]] as const) {
    if (path === undefined) continue;
    try {
      accessSync(path, constants.R_OK);
    } catch (error) {
      log.warn(`${what} ${path} is not readable by this user (${(error as { code?: string }).code ?? error}); a reload will fail and keep the old config until it is`);
    }
  }
  checkRecordingRoot();
  warnExposedKey();
  warnOpenHttp();
  stalls.start();
  descriptors.start();
  log.info("serving", {
    // As --server takes it: an IPv6 host in brackets (`::1:7070` names no port).
    control: hostPortText(config.control.host, socket.port),
    media_root: config.mediaRoot,
    key: key ? "required" : "none",
    http: http ? hostPortText(config.http!.host, http.port) : undefined,
    config: config.source,
    speaker: config.speaker ? config.speaker.outputs.join(" ") : undefined,
    recordings: config.recordings.length > 0 ? config.recordings.map((r) => r.name).join(" ") : undefined,
  });
  // After the drop: recordings are written as the unprivileged user.
  recordings.configure(config.recordings, config.recordingRoot);

  let stopping: Promise<void> | null = null;
  return {
    controlPort: socket.port,
    config: () => config,
    reload: context.reload,
    stop: () =>
      (stopping ??= (async () => {
        socket.close();
        endpoint.clear();
        stalls.stop();
        descriptors.stop();
        http?.stop();
        await Promise.all([jobs.stopAll(), speaker?.stop(), recordings.close()]);
        live?.close();
      })()),
  };
}

/** The speaker as `[speaker]` describes it. */
function speakerOptions(config: SpeakerConfig): SpeakerOptions {
  return { ...config, decoders: new Map(Object.entries(config.decoders)) };
}
