/**
 * A `live:NAME` job: accepted at once, even before the channel has a source. It reads the
 * channel through a cursor of its own (channel_source.ts), detects what the bytes are as `play`
 * does for stdin, and only then opens the pipeline Job that paces them: by PCR for MPEG-TS, by
 * the sample clock for PCM (WAV on the wire, or `bitrate` absent and a PCM format), and by the
 * channel's smoothed arrival rate otherwise. Until then its status shows no destinations.
 *
 * A drop or a stall of the source only starves this job's reads: its destinations wait, and the
 * other jobs on the scheduler keep their timing. It ends on `stop`, lapsed interest, or a failure
 * of its outputs.
 *
 * @example
 * ```ts
 * const job = new LiveJob({ channel, outputs, scheduler, log });
 * jobs.add({ job, source: "live:cam1", ... }); // calls job.start()
 * ```
 */
import type { Logger } from "../../foundation/log.ts";
import { Job, type JobResult } from "../../pipeline/job.ts";
import type { Scheduler } from "../../scheduler/scheduler.ts";
import { openStreamInput } from "../../sources/open_input.ts";
import type { RunningJob } from "../jobs.ts";
import { ArrivalRateClock } from "./arrival_rate_clock.ts";
import { channelSource, type ChannelSource } from "./channel_source.ts";
import type { LiveChannel } from "./live_channel.ts";

export interface LiveJobOptions {
  readonly channel: LiveChannel;
  readonly outputs: string[];
  readonly scheduler: Scheduler;
  readonly log: Logger;
  /** Bits/s: pace at this constant rate instead. */
  readonly bitrate?: number;
  /** Each output's RTP SSRC (JobOptions.ssrcs): chosen at the play, long before the outputs open. */
  readonly ssrcs?: readonly (number | null)[];
}

export class LiveJob implements RunningJob {
  readonly done: Promise<JobResult>;
  #resolveDone!: (result: JobResult) => void;
  #job: Job | null = null;
  #stopped = false;
  readonly #source: ChannelSource;

  constructor(private readonly options: LiveJobOptions) {
    const { channel } = options;
    this.#source = channelSource(`live:${channel.name}`, channel.ring.reader(), channel.latencyMs);
    this.done = new Promise((resolve) => (this.#resolveDone = resolve));
  }

  get destinations(): Job["destinations"] {
    return this.#job?.destinations ?? [];
  }

  get loops(): number {
    return 0;
  }

  /** Bytes this job's cursor lost because it fell a whole channel ring behind. */
  get skippedBytes(): number {
    return this.#source.reader.skippedBytes;
  }

  start(): void {
    void this.#run().catch((error: Error) => {
      this.#source.close();
      if (!this.#stopped) this.options.log.warn(`live job could not start: ${error.message}`);
      this.#resolveDone({ failures: [], losses: [], inputError: this.#stopped ? null : error });
    });
  }

  async stop(): Promise<unknown> {
    this.#stopped = true;
    if (this.#job) return this.#job.stop();
    this.#source.close();
    return this.done;
  }

  async #run(): Promise<void> {
    const { channel, scheduler, log, outputs, ssrcs } = this.options;
    const opened = await openStreamInput(this.#source, {
      bitrate: this.options.bitrate,
      dataClock: new ArrivalRateClock(() => channel.byteRate()),
    });
    if (this.#stopped) throw new Error("stopped");
    this.#source.hold();
    const job = await Job.create({
      input: { ...opened.info, label: `live:${channel.name}` },
      source: opened.source,
      byteClock: opened.byteClock,
      outputs,
      ssrcs,
      scheduler,
      log,
    });
    if (this.#stopped) {
      await job.stop();
      throw new Error("stopped");
    }
    this.#job = job;
    log.info("live job playing", { kind: opened.info.kind, pacing: opened.pacing });
    void job.done.then((result) => this.#resolveDone(result));
    job.start();
  }
}
