/**
 * The server's recordings: the `[[recording]]` schedules, each armed for its next run, and the
 * runs going now (scheduled, or started by `record start NAME`). At most one run per name: a
 * schedule falling due while its previous run still goes is skipped with a log line. Each run is
 * logged at its start and end; `status` shows every schedule's next run and its last run's state
 * and summary. A reload replaces the schedules; runs going on keep going.
 *
 * @example
 * ```ts
 * const recordings = new Recordings({ live: () => live, log });
 * recordings.configure(config.recordings, config.recordingRoot);
 * await recordings.start("news");   // record start news
 * recordings.stop("news");          // record stop news
 * ```
 */
import type { Logger } from "../../foundation/log.ts";
import { describeDamage, type RecordSummary } from "../../recorder/recorder.ts";
import type { RecordingConfig } from "../config.ts";
import type { LiveChannel } from "../live/live_channel.ts";
import type { LiveChannels } from "../live/live_channels.ts";
import { OutsideRootError, patternUnderRoot } from "./out_path.ts";
import { type RecordingRun, RunError, startRun } from "./recording_run.ts";
import { RecordingPlan } from "./schedule.ts";

/**
 * A schedule's timer wakes at least this often to read the wall clock again: timers run on the
 * monotonic clock, so a wall clock stepped on (NTP at boot, on a host with no real-time clock)
 * brought a run nearer than its timer, which fired as late as the step (a 07:00 run set at 06:00
 * by a clock an hour slow started at 08:00, or was missed). Stepped back, it fires early: re-armed.
 */
const WALL_CLOCK_CHECK_MS = 1_000;
/** `record start NAME` for a live channel with no [[recording]]: where its files go, but for the extension. */
const MANUAL_LIVE_NAME = "%Y%m%d-%H%M%S";
/** Runs looked at for a duration longer than the time between runs ("0 9,10 * * *" has gaps of 1 h and 23 h). */
const GAP_LOOKAHEAD_RUNS = 16;

export interface LastRun {
  state: "done" | "failed" | "nothing" | "skipped";
  trigger: "cron" | "manual";
  started: string;
  ended: string;
  /** The first file's name and the newest few (RecordedFiles), not every one. */
  files: string[];
  files_total: number;
  bytes: number;
  error: string | null;
}

interface Schedule {
  readonly config: RecordingConfig;
  readonly plan: RecordingPlan;
  timer: ReturnType<typeof setTimeout> | null;
}

export interface RecordingsDeps {
  live(): LiveChannels | null;
  log: Logger;
  /** The wall clock the schedules are read by, Unix ms (default Date.now): a test steps it. */
  wallClock?: () => number;
}

export class Recordings {
  private schedules = new Map<string, Schedule>();
  private configs = new Map<string, RecordingConfig>();
  private root = "./recordings";
  private readonly runs = new Map<string, RecordingRun>();
  private readonly last = new Map<string, LastRun>();
  private closed = false;

  private readonly wallNow: () => number;

  constructor(private readonly deps: RecordingsDeps) {
    this.wallNow = deps.wallClock ?? Date.now;
  }

  /** (Re)arms the schedules from the config; runs going on are left alone. */
  configure(recordings: readonly RecordingConfig[], root: string): void {
    const previous = this.schedules;
    for (const s of previous.values()) if (s.timer) clearTimeout(s.timer);
    this.schedules = new Map();
    this.configs = new Map(recordings.map((r) => [r.name, r]));
    this.root = root;
    const now = this.wallNow();
    for (const config of recordings) {
      if (config.cron === undefined) continue;
      // A run already due whose timer has not fired yet (it fires late on a busy loop) is still
      // owed: a reload in that moment planned from now, past it, and the run was lost.
      const owed = previous.get(config.name)?.plan.nextMs;
      const from = owed != null && owed <= now ? owed - 1 : now;
      const schedule: Schedule = { config, plan: new RecordingPlan(config.cron, from, config.timezone), timer: null };
      // Said once here: otherwise only each skip says it, at every other run for good.
      const gapMs = schedule.plan.shortestGapMs(now, GAP_LOOKAHEAD_RUNS);
      if (config.durationMs !== undefined && config.durationMs > gapMs) {
        this.deps.log.warn(
          `recording ${config.name}: it lasts ${config.durationMs / 1000} s but falls due ${gapMs / 1000} s apart; a run due while the last still goes is skipped`,
        );
      }
      this.schedules.set(config.name, schedule);
      this.arm(schedule);
    }
  }

  /** `record start NAME`: a [[recording]] now, for its duration, or a live channel until stopped; resolves with the run's name. */
  async start(asked: string): Promise<{ name: string; pattern: string }> {
    const name = this.runName(asked);
    if (this.runs.has(name)) throw new RunError("busy", `recording ${name} is already running; record stop ${name} first`);
    const config = this.configs.get(name);
    const channel = config ? undefined : this.deps.live()?.get(name.replace(/^live:/, ""));
    if (!config && !channel) throw new RunError("not_found", `no [[recording]] or live channel named ${asked}`);
    const run = await this.launch(
      name,
      config ?? { name, source: `live:${channel!.name}`, out: manualLiveOut(channel!) },
      "manual",
    );
    return { name, pattern: run.spec.pattern };
  }

  /** `record stop NAME`: the run finishes its file and ends; resolves with its summary. */
  async stop(asked: string): Promise<LastRun> {
    const name = this.runName(asked);
    const run = this.runs.get(name);
    if (!run) throw new RunError("not_found", `recording ${asked} is not running`);
    run.stop();
    await run.done;
    return this.last.get(name)!;
  }

  /**
   * A [[recording]]'s name as it is; a live channel's as the channel's name, however it was asked
   * for (`cam1` or `live:cam1`): two names for one run let `record stop cam1` miss the run that
   * `record start live:cam1` began. Where a [[recording]] has the channel's name, `live:cam1`
   * stays the channel's own run: taken for `cam1`, it started or stopped the [[recording]].
   */
  private runName(asked: string): string {
    if (this.configs.has(asked) || !asked.startsWith("live:")) return asked;
    const channel = asked.slice("live:".length);
    return this.configs.has(channel) ? asked : channel;
  }

  status() {
    const names = new Set([...this.configs.keys(), ...this.runs.keys()]);
    return [...names].map((name) => {
      const schedule = this.schedules.get(name);
      const run = this.runs.get(name);
      return {
        name,
        cron: this.configs.get(name)?.cron ?? null,
        next: schedule?.plan.nextMs == null ? null : new Date(schedule.plan.nextMs).toISOString(),
        state: run ? "running" : "idle",
        ...(run && { running: { trigger: run.spec.trigger, since: new Date(run.startedAtMs).toISOString(), bytes: run.bytes() } }),
        last: this.last.get(name) ?? null,
      };
    });
  }

  /** Server stop: no more runs; those going finish their files. */
  async close(): Promise<void> {
    this.closed = true;
    for (const s of this.schedules.values()) if (s.timer) clearTimeout(s.timer);
    const going = [...this.runs.values()];
    for (const run of going) run.stop();
    await Promise.all(going.map((run) => run.done.catch(() => undefined)));
  }

  private arm(schedule: Schedule): void {
    const next = schedule.plan.nextMs;
    if (next === null || this.closed) return;
    const delay = Math.min(Math.max(0, next - this.wallNow()), WALL_CLOCK_CHECK_MS);
    schedule.timer = setTimeout(() => this.due(schedule), delay);
  }

  private due(schedule: Schedule): void {
    schedule.timer = null;
    if (this.schedules.get(schedule.config.name) !== schedule) return; // replaced by a reload
    const dueMs = schedule.plan.nextMs!;
    const nowMs = this.wallNow();
    const decision = schedule.plan.fire(nowMs, this.runs.has(schedule.config.name), schedule.config.durationMs);
    const { log } = this.deps;
    const at = new Date(dueMs).toISOString();
    const skipped = (line: string, error: string) => {
      log.warn(`recording ${schedule.config.name}: ${line}`);
      this.last.set(schedule.config.name, { state: "skipped", trigger: "cron", started: at, ended: at, files: [], files_total: 0, bytes: 0, error });
    };
    if (decision === "missed") {
      // From the first run missed: the runs due since were all over by now too.
      const why = `no run was found due within its duration; the first, at ${at}, ${Math.round((nowMs - dueMs) / 1000)} s ago (the host suspended, or its clock stepped on)`;
      skipped(`runs from ${at} on missed: ${why}`, `missed: ${why}`);
    } else if (decision === "skip") {
      skipped(`run at ${at} skipped; the previous run is still going`, "the previous run was still going");
    } else if (decision === "start") {
      this.launch(schedule.config.name, schedule.config, "cron").catch((error) => {
        log.error(`recording ${schedule.config.name}: cannot start: ${(error as Error).message}`);
        const at = new Date().toISOString();
        this.last.set(schedule.config.name, { state: "failed", trigger: "cron", started: at, ended: at, files: [], files_total: 0, bytes: 0, error: (error as Error).message });
      });
    }
    this.arm(schedule);
  }

  private async launch(name: string, config: Omit<RecordingConfig, "name" | "cron" | "timezone">, trigger: "cron" | "manual"): Promise<RecordingRun> {
    if (this.closed) throw new RunError("failed", "the server is stopping");
    let pattern: string;
    try {
      pattern = patternUnderRoot(this.root, config.out);
    } catch (error) {
      throw new RunError(error instanceof OutsideRootError ? "forbidden" : "failed", (error as Error).message);
    }
    const log = this.deps.log.child({ recording: name });
    const { out: _, ...options } = config;
    const run = await startRun({ ...options, name, pattern, root: this.root, trigger }, this.deps.live(), log);
    this.runs.set(name, run);
    log.info("recording started", {
      source: config.source,
      out: pattern,
      trigger,
      duration: config.durationMs === undefined ? "until stopped" : `${config.durationMs / 1000} s`,
      ...(config.rotateEveryMs !== undefined && { rotate: `${config.rotateEveryMs / 1000} s` }),
      ...(config.rotateBytes !== undefined && { rotate: `${config.rotateBytes} bytes` }),
      ...(config.keep !== undefined && { keep: config.keep }),
    });
    void run.done.then(
      (summary) => this.ended(name, run, summary),
      (error) => this.ended(name, run, null, (error as Error).message),
    );
    return run;
  }

  private ended(name: string, run: RecordingRun, summary: RecordSummary | null, failure?: string): void {
    this.runs.delete(name);
    const error = failure ?? summary?.error ?? null;
    const state = error ? "failed" : summary!.nothing ? "nothing" : "done";
    const last: LastRun = {
      state,
      trigger: run.spec.trigger,
      started: new Date(run.startedAtMs).toISOString(),
      ended: new Date().toISOString(),
      files: summary?.files.names ?? [],
      files_total: summary?.files.count ?? 0,
      bytes: summary?.bytes ?? 0,
      error: state === "nothing" ? `nothing arrived from ${run.spec.source}` : error,
    };
    this.last.set(name, last);
    const damage = summary && !summary.nothing ? `, ${describeDamage(summary)}` : "";
    const note = summary?.endNote ? `; ${run.spec.source}: ${summary.endNote}` : "";
    const files = summary?.files.describe() ?? "0 files";
    const line = `recording ${name} ended: ${state}, ${files}, ${last.bytes} bytes${damage}${note}`;
    if (state === "done" && summary!.notTs) this.deps.log.warn(line, { files: last.files.join(" ") });
    else if (state === "done") this.deps.log.info(line, { files: last.files.join(" ") });
    else this.deps.log.warn(`${line}; ${last.error}`);
  }
}

/**
 * The pattern of `record start NAME` for a live channel: `.wav` while it carries a WAV stream
 * (acquire's PCM), else `.ts`. Always `.ts`, PCM went into it as bare samples, with no header to
 * say their format, and the run ended "not MPEG-TS".
 */
function manualLiveOut(channel: LiveChannel): string {
  return `${channel.name}/${MANUAL_LIVE_NAME}.${channel.wavJoin()?.format ? "wav" : "ts"}`;
}
