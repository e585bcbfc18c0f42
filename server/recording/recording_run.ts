/**
 * One server recording run: a live channel (`live:NAME`, through its own ring cursor) or an input
 * URL, recorded by the recorder of `pacer record` to a pattern under the recording root, for a
 * duration or until stopped. The output lock is taken first, so two runs never write one pattern.
 *
 * @example
 * ```ts
 * const run = await startRun({ name: "news", source: "live:cam1", pattern, durationMs: 60_000 }, live, log);
 * run.stop();
 * const summary = await run.done;
 * ```
 */
import { TemporaryError } from "../../foundation/errors.ts";
import type { Logger } from "../../foundation/log.ts";
import { lockOutput } from "../../recorder/lock.ts";
import { inputPcmFormat, type RecordFileOptions, recordKindOf } from "../../recorder/record_options.ts";
import { Recorder, type RecordSummary } from "../../recorder/recorder.ts";
import { openLiveInput } from "../../sources/open_input.ts";
import type { Source } from "../../sources/source.ts";
import type { LiveSource } from "../../sources/live_input.ts";
import type { LiveChannels } from "../live/live_channels.ts";
import { channelInput } from "./channel_input.ts";

const SYNC_EVERY_MS = 1_000;

export interface RunSpec extends RecordFileOptions {
  readonly name: string;
  /** `live:NAME` or an input URL. */
  readonly source: string;
  /** Absolute pattern, its fixed folder already checked to lie under the recording root. */
  readonly pattern: string;
  /** The recording root: each file is checked again as it is made (a `%Y/` folder may be a symlink out). */
  readonly root: string;
  /** Undefined: until stopped. */
  readonly durationMs?: number;
  readonly trigger: "cron" | "manual";
}

export interface RecordingRun {
  readonly spec: RunSpec;
  readonly startedAtMs: number;
  readonly done: Promise<RecordSummary>;
  bytes(): number;
  stop(): void;
}

/** A run that cannot start: the channel is unknown, the input cannot open, or the output is locked. */
export class RunError extends Error {
  constructor(
    readonly code: "not_found" | "busy" | "forbidden" | "failed",
    message: string,
  ) {
    super(message);
  }
}

export async function startRun(spec: RunSpec, live: LiveChannels | null, log: Logger): Promise<RecordingRun> {
  let source: Source | LiveSource;
  let lock;
  try {
    lock = lockOutput(spec.pattern);
  } catch (error) {
    throw new RunError(error instanceof TemporaryError ? "busy" : "failed", (error as Error).message);
  }
  try {
    if (spec.source.startsWith("live:")) {
      const channel = live?.get(spec.source.slice("live:".length));
      if (!channel) throw new RunError("not_found", `no live channel ${spec.source}`);
      // No hold-back: a recording wants every byte as it comes, not a paced start.
      source = channelInput(spec.source, channel);
    } else {
      source = await openLiveInput(spec.source, { format: spec.format });
    }
  } catch (error) {
    lock.release();
    if (error instanceof RunError) throw error;
    // The input's own messages name it ("udp://@:5000: port 5000 is in use"); said once.
    const message = (error as Error).message;
    throw new RunError("failed", message.includes(spec.source) ? message : `${spec.source}: ${message}`);
  }
  const startedAtMs = Date.now();
  // On the monotonic clock: a wall clock stepped during the run neither cuts it short nor stretches it.
  const endAtMonotonicMs = spec.durationMs === undefined ? undefined : performance.now() + spec.durationMs;
  const recorder = new Recorder(source, {
    pattern: spec.pattern,
    root: spec.root,
    kind: recordKindOf(spec.pattern),
    pcmFormat: () => inputPcmFormat(source, spec.format),
    endAtMonotonicMs,
    rotateEveryMs: spec.rotateEveryMs,
    rotateBytes: spec.rotateBytes,
    staggerMs: spec.staggerMs,
    keep: spec.keep,
    part: spec.part,
    syncEveryMs: SYNC_EVERY_MS,
    log,
  });
  const done = recorder.done.finally(() => {
    source.close();
    lock.release();
  });
  return {
    spec,
    startedAtMs,
    done,
    bytes: () => recorder.bytesWritten,
    stop: () => recorder.stop(),
  };
}
