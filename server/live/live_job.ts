/**
 * A `live:NAME` job: accepted at once, even before the channel has a source. It reads the
 * channel through a cursor of its own (channel_source.ts), detects what the bytes are as `play`
 * does for stdin, and only then opens the pipeline Job that paces them: by PCR for MPEG-TS, by
 * the sample clock for PCM (WAV on the wire, or `bitrate` absent and a PCM format), and by the
 * channel's smoothed arrival rate otherwise. Until then its status shows no destinations.
 *
 * A TS or PS stream it found holds through drops and reconnects (it finds its packets again). A
 * stream it could only take for data (bytes it knows nothing of: anyone may connect to a keyless
 * channel and send anything), or PCM, is looked at again from the first byte of each new source:
 * a stream found there replaces data, and a new WAV header (pacer acquire started again, maybe in
 * another format) replaces PCM; otherwise it goes on (a source reconnecting mid-stream). Meanwhile
 * the job reads no further than that first byte, so nothing is sent twice. A job whose outputs
 * cannot take data (rtp://), or whose stream could not be detected, waits for the next source
 * rather than ending. Detected once, one source of garbage ended a waiting rtp:// job for good,
 * and left a udp:// one pacing the real stream that followed by its arrival rate.
 *
 * A job started while a WAV stream is under way (pacer acquire's PCM) reads the source's header
 * first, which the channel kept, then the samples from a whole frame at the live edge: else it
 * found no header and took them for data.
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
import { type Scheduler, sleepOn, type Timer } from "../../scheduler/scheduler.ts";
import { US_PER_MS } from "../../scheduler/clock.ts";
import { openStreamInput } from "../../sources/open_input.ts";
import type { RunningJob } from "../jobs.ts";
import { ArrivalRateClock } from "./arrival_rate_clock.ts";
import { channelSource, type ChannelSource } from "./channel_source.ts";
import type { LiveChannel } from "./live_channel.ts";
import { wireRateRefusal } from "../wire_rate.ts";

export interface LiveJobOptions {
  readonly channel: LiveChannel;
  readonly outputs: string[];
  readonly scheduler: Scheduler;
  readonly log: Logger;
  /** Bits/s: pace at this constant rate instead. */
  readonly bitrate?: number;
  /** Each output's RTP SSRC (JobOptions.ssrcs): chosen at the play, long before the outputs open. */
  readonly ssrcs?: readonly (number | null)[];
  /** limits.max_bitrate as the config now has it: a PCM source's rate on the wire is held to it (wire_rate.ts). */
  readonly maxBitrate?: () => number;
}

/** A look at a new source that has not told what it carries by then gives up (the job reads on), µs. */
const PROBE_GIVE_UP_US = 3_000_000;
/** How often a replacement looks whether the Job it replaces has read all it had, µs. */
const PLAYED_OUT_POLL_US = 20_000;

export class LiveJob implements RunningJob {
  readonly done: Promise<JobResult>;
  #resolveDone!: (result: JobResult) => void;
  #job: Job | null = null;
  /** What the running Job plays: "data" is looked at again when a new source begins. */
  #kind: string | null = null;
  #stopped = false;
  /** The cursor the running Job reads, or the one a detection reads while none runs. */
  #source: ChannelSource;
  /** A detection from a new source's first byte, beside a running data or PCM Job. */
  #probe: ChannelSource | null = null;
  /** Gives the look up (PROBE_GIVE_UP_US). */
  readonly #probeTimer: Timer;
  /** Ended (stopped, or its Job ended): nothing more may start. */
  #ended = false;
  readonly #onSource = (offset: number) => this.#sourceBegan(offset);

  constructor(private readonly options: LiveJobOptions) {
    this.#source = this.#cursor();
    this.#probeTimer = options.scheduler.timer("retry", () => this.#dropProbe());
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
    const { channel } = this.options;
    channel.sourceBegan.add(this.#onSource);
    // Begun mid-way through a WAV stream: its header first, then its samples from a whole frame.
    const join = channel.wavJoin();
    if (join) {
      this.#source.close();
      this.#source = this.#cursor(join.from, join.header);
    }
    void this.#play(this.#source);
  }

  async stop(): Promise<unknown> {
    this.#stopped = true;
    this.#dropProbe();
    if (this.#job) return this.#job.stop(); // its end is this job's (#play)
    this.#source.close(); // a detection under way ends
    this.#end({ failures: [], losses: [], inputError: null });
    return this.done;
  }

  /** A cursor into the channel: at the live edge, or at stream offset `from`, after `prefix`. */
  #cursor(from?: number, prefix?: Uint8Array): ChannelSource {
    const { channel } = this.options;
    return channelSource(`live:${channel.name}`, channel.ring.reader(from), channel.latencyMs, prefix);
  }

  #end(result: JobResult): void {
    this.#ended = true;
    this.options.channel.sourceBegan.delete(this.#onSource);
    this.#dropProbe();
    this.#resolveDone(result);
  }

  /**
   * A new source's first byte lands at `offset`: unless a TS or PS stream runs, what it sends is
   * looked at. A running stream plays on into it, told where it begins (its TS seam is mended).
   */
  #sourceBegan(offset: number): void {
    if (this.#stopped || this.#ended) return;
    if (this.#job !== null && this.#kind !== "data" && this.#kind !== "pcm") return this.#source.newSourceAt(offset);
    if (this.#job === null) {
      // A detection still reading the last source's bytes is given up for the new source's.
      this.#source.close();
      this.#source = this.#cursor(offset);
      void this.#play(this.#source);
      return;
    }
    this.#dropProbe();
    // The running Job reads up to the new source and waits there until the look is done.
    this.#source.reader.until = offset;
    const probe = this.#cursor(offset);
    this.#probe = probe;
    this.options.scheduler.schedule(this.#probeTimer, this.options.scheduler.now() + PROBE_GIVE_UP_US);
    void this.#play(probe);
  }

  /** Resolves once the running Job has read up to where its cursor stops, and the latency after, or once `current()` is false. */
  async #previousPlayedOut(current: () => boolean): Promise<void> {
    const reader = this.#source.reader;
    const { scheduler, channel } = this.options;
    while (current() && reader.position < reader.until) await sleepOn(scheduler, PLAYED_OUT_POLL_US);
    if (current()) await sleepOn(scheduler, channel.latencyMs * US_PER_MS + PLAYED_OUT_POLL_US);
  }

  /** The look at a new source is over without a replacement: the running Job reads on. */
  #dropProbe(): void {
    this.options.scheduler.cancel(this.#probeTimer);
    const probe = this.#probe;
    this.#probe = null;
    probe?.close();
    const reader = this.#source.reader;
    if (reader.until !== Infinity) {
      reader.until = Infinity;
      reader.onData?.();
    }
  }

  /** Detects what `source` carries and plays it, in place of a data Job running (a probe). */
  async #play(source: ChannelSource): Promise<void> {
    const { channel, scheduler, log, outputs, ssrcs } = this.options;
    const current = () => !this.#stopped && !this.#ended && (source === this.#source || source === this.#probe);
    let job: Job | null = null;
    let kind: string | null = null;
    try {
      const opened = await openStreamInput(source, {
        bitrate: this.options.bitrate,
        dataClock: new ArrivalRateClock(() => channel.byteRate()),
      });
      kind = opened.info.kind;
      // Beside a running Job, only a stream replaces data, and only a new WAV header replaces PCM.
      if (!current() || (source === this.#probe && !(kind !== "data" && (this.#kind === "data" || kind === "pcm")))) return this.#drop(source);
      // MPEG and data at the request's bitrate, or the channel's arrival rate now.
      const streamBytesPerSecond = this.options.bitrate === undefined ? channel.byteRate() : this.options.bitrate / 8;
      const refusal = this.options.maxBitrate ? wireRateRefusal(outputs, opened.info, this.options.maxBitrate(), streamBytesPerSecond) : null;
      if (refusal) throw new Error(refusal);
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
      // A replacement waits for the Job it replaces to send what came before the new source (it
      // reads up to there, then holds the latency): else that stream's last moments were cut.
      if (source === this.#probe && current()) await this.#previousPlayedOut(current);
      if (!current()) {
        await job.stop();
        return this.#drop(source);
      }
      const replaced = this.#job;
      const replacedKind = this.#kind;
      this.#job = job;
      this.#kind = kind;
      if (source === this.#probe) {
        this.options.scheduler.cancel(this.#probeTimer);
        this.#probe = null;
        this.#source.close();
        this.#source = source;
      }
      if (replaced) {
        log.info(`live job found a new stream in the new source; playing it instead of the ${replacedKind === "data" ? "data" : "stream"} before it`, { kind });
        void replaced.stop(); // its end is no longer this job's
      }
      log.info("live job playing", { kind, pacing: opened.pacing });
      void job.done.then((result) => {
        if (this.#job === job) this.#end(result);
      });
      job.start();
    } catch (error) {
      const wasCurrent = current();
      this.#drop(source);
      if (!wasCurrent) return; // stopped, or a new source's look replaced this one
      const message = (error as Error).message;
      if (this.#job) return void log.warn(`live job goes on as it was; the new source's stream (${kind ?? "not detected"}) cannot be played: ${message}`);
      // What the source sent could not be told, or was data the outputs cannot take (rtp://): the
      // next source may send a stream. Any other failure to open the outputs is the job's end.
      if (kind === null || kind === "data") return void log.warn(`live job could not start (${kind ?? "not detected"}): ${message}; waiting for the next source`);
      log.warn(`live job could not start: ${message}`);
      this.#source.close();
      this.#end({ failures: [], losses: [], inputError: error as Error });
    }
  }

  /** A cursor not used: a probe is closed (the running Job reads on); the main cursor is kept (a waiting job looks again from the next source). */
  #drop(source: ChannelSource): void {
    if (source === this.#probe) this.#dropProbe();
    else if (source !== this.#source) source.close();
  }
}
