/**
 * A `live:NAME` job: accepted at once, even before the channel has a source. It reads the
 * channel through a cursor of its own (channel_source.ts), detects what the bytes are as `play`
 * does for stdin, and only then opens the pipeline Job that paces them: by PCR for MPEG-TS, by
 * the sample clock for PCM (WAV on the wire, or `bitrate` absent and a PCM format), and by the
 * channel's smoothed arrival rate otherwise. Until then its status shows no destinations.
 *
 * A stream it found (TS, PS, PCM) holds through drops and reconnects. A stream it could only take
 * for data (bytes it knows nothing of: anyone may connect to a keyless channel and send anything)
 * is looked at again from the first byte of each new source, and a stream found there replaces
 * it; and a job whose outputs cannot take what it found (data to rtp://, a lying WAV header)
 * waits for the next source rather than ending. Detected once, one source of garbage ended a
 * waiting rtp:// job for good, and left a udp:// one pacing the real stream that followed by its
 * arrival rate.
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
  /** What the running Job plays: "data" is looked at again when a new source begins. */
  #kind: string | null = null;
  #stopped = false;
  /** The cursor the running Job reads, or the one a detection reads while none runs. */
  #source: ChannelSource;
  /** A detection from a new source's first byte, beside a running data Job. */
  #probe: ChannelSource | null = null;
  readonly #onSource = (offset: number) => this.#sourceBegan(offset);

  constructor(private readonly options: LiveJobOptions) {
    this.#source = this.#cursor();
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
    this.options.channel.sourceBegan.add(this.#onSource);
    void this.#play(this.#source);
  }

  async stop(): Promise<unknown> {
    this.#stopped = true;
    this.#probe?.close();
    if (this.#job) return this.#job.stop(); // its end is this job's (#play)
    this.#source.close(); // a detection under way ends
    this.#end({ failures: [], losses: [], inputError: null });
    return this.done;
  }

  /** A cursor into the channel: at the live edge, or at stream offset `from`. */
  #cursor(from?: number): ChannelSource {
    const { channel } = this.options;
    return channelSource(`live:${channel.name}`, channel.ring.reader(from), channel.latencyMs);
  }

  #end(result: JobResult): void {
    this.options.channel.sourceBegan.delete(this.#onSource);
    this.#probe?.close();
    this.#resolveDone(result);
  }

  /** A new source's first byte lands at `offset`: unless a stream runs, what it sends is looked at. */
  #sourceBegan(offset: number): void {
    if (this.#stopped || (this.#job !== null && this.#kind !== "data")) return;
    if (this.#job === null) {
      // A detection still reading the last source's bytes is given up for the new source's.
      this.#source.close();
      this.#source = this.#cursor(offset);
      void this.#play(this.#source);
      return;
    }
    this.#probe?.close();
    this.#probe = this.#cursor(offset);
    void this.#play(this.#probe);
  }

  /** Detects what `source` carries and plays it, in place of a data Job running (a probe). */
  async #play(source: ChannelSource): Promise<void> {
    const { channel, scheduler, log, outputs, ssrcs } = this.options;
    const current = () => !this.#stopped && (source === this.#source || source === this.#probe);
    let job: Job | null = null;
    let kind: string | null = null;
    try {
      const opened = await openStreamInput(source, {
        bitrate: this.options.bitrate,
        dataClock: new ArrivalRateClock(() => channel.byteRate()),
      });
      kind = opened.info.kind;
      // Data again beside running data changes nothing.
      if (!current() || (source === this.#probe && kind === "data")) return this.#drop(source);
      source.hold();
      job = await Job.create({
        input: { ...opened.info, label: `live:${channel.name}` },
        source: opened.source,
        byteClock: opened.byteClock,
        outputs,
        ssrcs,
        scheduler,
        log,
      });
      if (!current()) {
        await job.stop();
        return this.#drop(source);
      }
      const replaced = this.#job;
      this.#job = job;
      this.#kind = kind;
      if (source === this.#probe) {
        this.#probe = null;
        this.#source.close();
        this.#source = source;
      }
      if (replaced) {
        log.info("live job found a stream in the new source; playing it instead of the data before it", { kind });
        void replaced.stop(); // its end is no longer this job's
      }
      log.info("live job playing", { kind, pacing: opened.pacing });
      void job.done.then((result) => {
        if (this.#job === job) this.#end(result);
      });
      job.start();
    } catch (error) {
      this.#drop(source);
      if (!current()) return; // stopped, or a new source's look replaced this one
      const what = kind === null ? "" : ` (${kind})`;
      if (this.#job) log.warn(`live job goes on as it was; the new source's stream${what} cannot be played: ${(error as Error).message}`);
      else log.warn(`live job could not start${what}: ${(error as Error).message}; waiting for the next source`);
    }
  }

  /** A probe that is not used; the main cursor is kept (a waiting job looks again from the next source). */
  #drop(source: ChannelSource): void {
    if (source === this.#probe) this.#probe = null;
    if (source !== this.#source) source.close();
  }
}
