/**
 * A job: one input played in real time to one or more destinations.
 *
 * Data flows one way: source → load events → read-ahead buffer → each
 * destination's send events (with its own conversion) → backend. Load
 * events read 128 KiB chunks (the original push server's size) when a
 * destination is down to the load mark (100 ms of stream, see
 * loadMarkBytes), so a send never waits on the disk, and all destinations
 * share the one buffer.
 *
 * One output never holds back another (DESIGN.md, "Unreachable
 * destinations"). A stream output (a command's pipe, a sound card) that
 * pushes back may fall up to LAG_BOUND_S of media behind the job's leading
 * output, in room the buffer keeps for it; past that it skips ahead, the
 * skipped media counted and reported as lost, while the others keep their
 * schedule. At the end of the stream (the first output done), an output still
 * behind gets END_GRACE_US to take the rest, then is given up on (a command
 * still holding unread input is ended); the job reports each output's loss.
 *
 * @example
 * ```ts
 * const job = await Job.create({ input, source, outputs: ["rtp://127.0.0.1:5004"], scheduler, log });
 * job.start();
 * const result = await job.done;
 * ```
 */
import type { Backend, BackendContext, StreamInfo } from "../backends/backend.ts";
import { backendFor, schemeOf } from "../backends/registry.ts";
import type { Logger } from "../foundation/log.ts";
import { createConverter, type PcmConverter } from "../convert/converter.ts";
import type { ByteClock } from "../protocol/mpeg_timing.ts";
import { bytesPerFrame, sameFormat, type SampleFormat } from "../protocol/sample_format.ts";
import { TS_SIZE } from "../protocol/mpegts.ts";
import { US_PER_S } from "../scheduler/clock.ts";
import type { Scheduler, Timer } from "../scheduler/scheduler.ts";
import { type InputInfo, SOURCE_END, type Source } from "../sources/source.ts";
import { Destination, type DestinationHost } from "./destination.ts";
import { gatedReader, type ReaderGate } from "./gated_reader.ts";
import { type PacketInput, PacketReader } from "./packet_reader.ts";
import { PcmReader } from "./pcm_reader.ts";
import { ReadAheadBuffer } from "./read_ahead.ts";
import { SkipRanges } from "./skip_ranges.ts";
import { repeatTurns } from "./turn_repeat.ts";
import { describeLoss, type OutputLoss } from "./output_loss.ts";
import type { UnitReader } from "./unit_reader.ts";

/** The original push server's load size. */
export const DEFAULT_CHUNK_BYTES = 128 * 1024;
/**
 * One job's destinations start this far apart, about what one send costs, so their sends follow
 * each other back to back instead of waking together (500 outputs started within 1 ms queued for
 * up to 2.5 ms) or each on a wake-up of its own (spread over a whole unit's time, 500 outputs cost
 * twice the CPU in sleeps and wake-ups). Never spread wider than one unit's time.
 */
const STAGGER_PER_DESTINATION_US = 10;
/**
 * Many outputs join over a ramp, a few more each unit, rather than all in the first unit: the
 * first sends of a thousand outputs run before the JIT has compiled them, and all at once they
 * queued for tens of ms, so each output's first datagrams left late and its schedule moved after
 * them (1000 outputs: 10 to 60 ms in the first 0.1 s, a whole-run residual p99 of 2 ms). This
 * much per output (50 ms for 1000); each joins on a whole unit, so it keeps its place in the
 * stagger. 200 µs (0.2 s) measured no better at the start, and the last to join, 0.17 s of the
 * stream behind the first, kept a residual p99 of 0.3 to 0.5 ms where the others had 0.1.
 */
const RAMP_PER_DESTINATION_US = 50;
/**
 * A load is asked for when this much stream time is left in the read-ahead buffer: time enough
 * for a chunk read from a cold disk (a few ms) behind a busy loop.
 */
const LOAD_LEAD_S = 0.1;
/**
 * The least the buffer keeps beyond one chunk, whatever the rate: the rate is known from the
 * head of the input, and a variable-rate stream may run several times faster later (at 1.5 Mbit/s
 * this is 340 ms of lead; at ten times the rate still 34 ms).
 */
const MIN_LEAD_BYTES = 64 * 1024;
/**
 * How far (media time) a stream output that pushes back may fall behind the job's leading output
 * before it skips ahead: an encoder's start-up or a hiccup fits, and the buffer holds it for the
 * few jobs that mix such an output with others (2 s at 1.5 Mbit/s is 375 KB; at CD rate 353 KB).
 */
export const LAG_BOUND_S = 2;
/**
 * A sender thread reads its datagrams from the read-ahead buffer in place (Backend.sendInPlace)
 * when they are due, a lead (20 ms) after its destination handed them over and moved on, and
 * however late it runs: the buffer keeps the lead and this much more of the stream behind its
 * last destination before a load may reuse it (at 1.5 Mbit/s and a 20 ms lead, 13.1 KB, so the
 * 16 KiB below). Beyond that it keeps what the thread says it has not sent yet (keepingHandOvers),
 * as long as loads keep room; only a thread later than that finds the bytes gone and drops the
 * datagram, counted lost.
 * That covers a thread behind; this hold is for what it cannot see: a datagram handed over after
 * a restart, due before those the thread has finished, which HandOvers may forget a little early.
 * 50 ms: 0.1 s held 22.5 KB of a 1.5 Mbit/s stream, and 1000 jobs with a thread each went over
 * 300 KiB per stream (docs/scale.md, "What a thousand jobs cost, by the profile").
 */
const HAND_OVER_HOLD_S = 0.05;
/** ...and at least this much, whatever the rate; a chunk where the rate is not known. */
const MIN_HAND_OVER_HOLD_BYTES = 16 * 1024;
/**
 * What a sender thread behind may not keep from a load (keepingHandOvers): loads of less than
 * this would come too often to keep the job's other outputs fed (at 20 Mbit/s, 13 ms of stream).
 */
const LOAD_ROOM_MIN = 32 * 1024;
/**
 * Jobs that start together (a live channel's, waiting out its latency; a schedule's) would load
 * together for ever: each reads a chunk whenever its outputs reach the load mark, at the same rate
 * from the same moment. A hundred 20 Mbit/s live jobs read 12.8 MB at once every 52 ms, and each
 * time every stream's sends waited behind it (measured: the residual's p90 1.0-1.8 ms in the half
 * of that period after it, 0.2-0.3 in the other). So a job's first load, and its first after its
 * input ran dry, reads a share of a load mark more than a chunk, each job's share a golden-ratio
 * step from the last's on its loop: as far from those before as it can be, so any number of jobs
 * started together load spread over a load mark's time (the whole period where the mark is a
 * chunk, as at 20 Mbit/s; half of it at 1.5 Mbit/s).
 */
const GOLDEN_STEP = (Math.sqrt(5) - 1) / 2;
/** Jobs made so far on each scheduler: jobs on one loop are the ones whose loads must not meet. */
const jobsMade = new WeakMap<Scheduler, number>();

/** The next job's share of a load mark on `scheduler`, in [0, 1): 0 for its first (see GOLDEN_STEP). */
function nextLoadPhase(scheduler: Scheduler): number {
  const made = jobsMade.get(scheduler) ?? 0;
  jobsMade.set(scheduler, made + 1);
  return (made * GOLDEN_STEP) % 1;
}

/** The lag room when the stream's rate is not known yet, in chunks. */
const LAG_CHUNKS_UNKNOWN_RATE = 4;
/**
 * After the end of the stream (the first output done), how long the outputs still behind get to
 * take the rest before they are given up on, and a command still holding unread input is ended.
 */
export const END_GRACE_US = 5 * US_PER_S;

/** Closes outputs of a job that never started, each discarded where it can be. */
async function discardAll(backends: readonly Backend[]): Promise<void> {
  await Promise.allSettled(backends.map((b) => (b.discard ? b.discard() : b.close())));
}

/** The order a job's outputs are opened in: as given, but `cmd:` outputs last (see Job.create). */
function creationOrder(outputs: readonly string[]): number[] {
  const indices = outputs.map((_, i) => i);
  const isCommand = (i: number) => schemeOf(outputs[i]!) === "cmd";
  return [...indices.filter((i) => !isCommand(i)), ...indices.filter(isCommand)];
}

/**
 * Bytes left in the read-ahead buffer when a load is asked for: LOAD_LEAD_S of the stream, at
 * least MIN_LEAD_BYTES, and at most a chunk (a whole second chunk, when the rate is not known).
 * The buffer holds one chunk more, so each load reads a whole chunk: 192 KiB per 1.5 Mbit/s job
 * instead of 256 KiB. (A destination whose unit is larger still raises the mark to its unit.)
 */
export function loadMarkBytes(bytesPerSecond: number, chunkBytes: number): number {
  if (!(bytesPerSecond > 0)) return chunkBytes;
  return Math.min(chunkBytes, Math.max(MIN_LEAD_BYTES, Math.ceil(bytesPerSecond * LOAD_LEAD_S)));
}

export interface JobOptions {
  input: InputInfo;
  source: Source;
  /** Output URLs, one destination each. */
  outputs: string[];
  scheduler: Scheduler;
  log: Logger;
  /** Pacing of non-PCM streams (PCR, SCR or constant rate). Required unless the input is PCM. */
  byteClock?: ByteClock;
  loop?: boolean;
  /** Bytes per load event. */
  chunkBytes?: number;
  /** Stream offset to start at (`--start`), already mapped to bytes. */
  startOffset?: number;
  outFormat?: SampleFormat;
  /** See StreamInfo.deviceWaitS. */
  deviceWaitS?: number;
  /** While closed, no destination sends (the speaker's pause; see gated_reader.ts). */
  gate?: ReaderGate;
  /** Each output's RTP SSRC, in `outputs`' order (null: not RTP, or any); see BackendContext.ssrc. */
  ssrcs?: readonly (number | null)[];
}

export interface JobResult {
  /** Destinations that failed, with their errors. */
  failures: { label: string; error: Error }[];
  /** Destinations that did not fail but lost part of the stream (each also logged as one error line). */
  losses: OutputLoss[];
  /** Set when the input itself failed (a read error). */
  inputError: Error | null;
}

export class Job implements DestinationHost, PacketInput {
  /** Made once the destinations are known (see fitToDestinations), then fixed. */
  ring!: ReadAheadBuffer;
  /** A destination with this many bytes or fewer left ahead of it asks for a load. */
  loadMark: number;
  /** How far a destination may be behind the leading one before it skips ahead (Infinity: no bound, see fitToDestinations). */
  lagBytes = Infinity;
  /** Bytes the buffer keeps behind its last destination for sender threads reading in place (0: none do). */
  private handOverHold = 0;
  /** The leading output is short of data below this many bytes ahead (half the load mark, at least a unit): see keepingHandOvers. */
  private urgentBytes = 0;
  /** This job's place in the load period: what its first load, and its first after a dry spell, reads beyond a chunk (nextLoadPhase). */
  private loadPhaseBytes = 0;
  private readonly bytesPerSecond: number;
  readonly skips = new SkipRanges();
  private garbageRuns = 0;
  readonly destinations: Destination[] = [];
  inputEnded = false;
  inputError: Error | null = null;
  loops = 0;
  startedAt = 0;
  /** Time spent paused (pause), µs, and when the pause under way began. */
  private pausedUs = 0;
  private pausedSince = 0;
  /** Resolves when every destination has finished and every backend is closed. */
  readonly done: Promise<JobResult>;
  private resolveDone!: (r: JobResult) => void;
  private readonly loadTimer: Timer;
  /**
   * The last load found the input dry (an async source gave 0 before a chunk was read), or none
   * has run yet: bytes arriving now are loaded at once. Otherwise arrivals wait for the outputs to reach the load
   * mark, and a load then reads a whole chunk: a live channel's jobs, a latency behind its edge,
   * loaded at every arrival (measured: 100 jobs of 20 Mbit/s, 19,000 loads a second of 13 KB
   * each, against 1,900 of 128 KiB).
   */
  private awaitingInput = true;
  private readonly chunkBytes: number;
  private bytesSinceRewind = 0;
  /** Where the turn being loaded began in the buffer, if at a rewind (-1: at the start, maybe a `--start` into the input). */
  private turnStart = -1;
  /** Where each input of a sequence begins in the buffer, oldest first (see nextInput). */
  private readonly inputStarts: number[] = [];
  /**
   * The input (a sequence's inputIndex) the last bytes read came from: a read that moves the index
   * on may bring none (a source not yet sending, a skip), so an input begins where the next bytes land.
   */
  private bytesInput: number | undefined;
  private finished = false;
  /** When the first destination reached the end of the stream (scheduler time), or null. */
  private streamEndedAt: number | null = null;
  /** Set by stop(): outputs are closed because the job was stopped, not at the end. */
  private stopped = false;
  /** What an output still behind gets to take the rest when the outputs close (stop() may shorten it). */
  private closeGraceUs = END_GRACE_US;
  private readonly graceTimer: Timer;

  private constructor(
    private readonly options: JobOptions,
    readonly scheduler: Scheduler,
  ) {
    this.chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
    this.bytesInput = options.source.inputIndex;
    const { input, byteClock } = options;
    this.bytesPerSecond = input.format ? bytesPerFrame(input.format) * input.format.rate : (byteClock?.byteRate() ?? 0);
    this.loadMark = loadMarkBytes(this.bytesPerSecond, this.chunkBytes);
    byteClock?.packets?.onGarbage((offset, length) => this.noteGarbage(offset, length));
    this.loadTimer = scheduler.timer("load", () => this.onLoad());
    this.graceTimer = scheduler.timer("retry", () => this.giveUpOnLaggards());
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    options.source.onReadable = () => {
      if (this.awaitingInput) this.requestLoad();
    };
  }

  /** Opens every output (resolving hosts, starting children) before anything is sent. */
  static async create(options: JobOptions): Promise<Job> {
    const { input, log } = options;
    if (input.kind !== "pcm" && !options.byteClock) throw new Error("a non-PCM job needs a byte clock");
    const job = new Job(options, options.scheduler);
    const stream: StreamInfo = { kind: input.kind, format: input.format, outFormat: options.outFormat, deviceWaitS: options.deviceWaitS };
    const opened: Backend[] = [];
    const destinations: Destination[] = [];
    try {
      // Every output known and well formed before any opens (Backend.check).
      for (const target of options.outputs) backendFor(target).check?.(target);
      // Commands start last: one a later bad output would stop may already have done something.
      for (const at of creationOrder(options.outputs)) {
        const target = options.outputs[at]!;
        const factory = backendFor(target);
        const why = factory.unavailable?.();
        if (why) throw new Error(why);
        let destination: Destination | null = null;
        const ctx: BackendContext = {
          log: log.child({ dest: target }),
          scheduler: options.scheduler,
          fail: (error) => destination?.fail(error),
          ssrc: options.ssrcs?.[at] ?? undefined,
        };
        const backend = await factory.create(target, stream, ctx);
        opened.push(backend);
        const reader = await readerFor(job, input.format, backend);
        destination = new Destination(job, backend, options.gate ? gatedReader(reader, options.gate) : reader);
        destinations[at] = destination;
      }
      job.destinations.push(...destinations);
    } catch (error) {
      await discardAll(opened);
      options.source.close();
      throw error;
    }
    job.fitToDestinations();
    // Sender threads are given the (now final) read-ahead buffer before anything is sent.
    await Promise.all(job.destinations.map((d) => d.inPlace && d.backend.shareMedia?.(job.ring.shared)));
    return job;
  }

  private newRing(): ReadAheadBuffer {
    const lagRoom = Number.isFinite(this.lagBytes) ? this.lagBytes : 0;
    const ring = new ReadAheadBuffer(this.chunkBytes + this.loadMark + lagRoom, this.handOverHold);
    ring.reset(this.startOffset);
    return ring;
  }

  /**
   * A destination waits for a whole unit (a file: write of MPEG-TS is 64 KiB), so the load mark must be at
   * least the largest unit, or it could wait for data no load was asked for. An output that pushes
   * back, among others, may lag: the buffer keeps LAG_BOUND_S more for it, so loads for the leading
   * outputs always find a chunk of room. Nothing is loaded yet.
   */
  private fitToDestinations(): void {
    let largest = 0;
    for (const d of this.destinations) largest = Math.max(largest, d.reader.inputBytesPerUnit);
    const mayLag = this.destinations.length > 1 && this.destinations.some((d) => d.backend.pushesBack);
    if (mayLag) {
      this.lagBytes = this.bytesPerSecond > 0 ? Math.ceil(LAG_BOUND_S * this.bytesPerSecond) : LAG_CHUNKS_UNKNOWN_RATE * this.chunkBytes;
    }
    // Only a thread reads them later; one sending from this thread copies them into its batch at once.
    let leadUs = 0;
    for (const d of this.destinations) if (d.inPlace) leadUs = Math.max(leadUs, d.backend.leadUs ?? 0);
    if (leadUs > 0) {
      const holdS = leadUs / US_PER_S + HAND_OVER_HOLD_S;
      this.handOverHold = this.bytesPerSecond > 0 ? Math.max(MIN_HAND_OVER_HOLD_BYTES, Math.ceil(holdS * this.bytesPerSecond)) : this.chunkBytes;
    }
    this.loadMark = Math.max(this.loadMark, largest);
    this.urgentBytes = Math.max(Math.ceil(this.loadMark / 2), largest);
    this.loadPhaseBytes = Math.floor(nextLoadPhase(this.scheduler) * this.loadMark);
    // Made here, once: a buffer made before and thrown away costs a server of a thousand jobs
    // its touched pages (23 MiB at 1000) until a collection.
    this.ring = this.newRing();
    // A TS that starts over (a loop, the next file) is mended at the seam, in the buffer it is sent from.
    if (this.options.loop || this.options.source.inputIndex !== undefined) this.options.byteClock?.packets?.mendSeams(this.ring);
  }

  /** Time the job has been playing at `now`, µs: since it started, pauses left out. */
  playingUs(now: number): number {
    const gate = this.options.gate;
    return now - this.startedAt - this.pausedUs - (gate?.closed ? now - this.pausedSince : 0);
  }

  /** The stream offset the job starts at (`--start`, mapped to bytes); its readers start there. */
  get startOffset(): number {
    return this.options.startOffset ?? 0;
  }

  get label(): string {
    return this.options.input.label;
  }

  get kind(): InputInfo["kind"] {
    return this.options.input.kind;
  }

  /** Loads the first chunk and starts every destination's send events now. */
  start(): void {
    // Stopped before it started (a server starts jobs in turn: server/jobs.ts): nothing to send.
    if (this.stopped || this.finished) return;
    // The pages its first loads fill (a chunk and a load mark) are faulted in now, before any
    // load, not by those loads once it sends: a live channel's hundred jobs all load their first
    // chunks at the same moment, when its first bytes have waited out the latency, and each
    // first touch of a page then held up every job's sends (measured: those first loads read 74
    // KB in 49 µs, later ones 128 KiB in 12). Here, not where the buffer is made, so that the
    // server's paced starts carry it (about 130 µs a job of 1.5 Mbit/s).
    this.ring.prefault(this.chunkBytes + this.loadMark);
    this.onLoad();
    const now = this.scheduler.now();
    this.startedAt = now;
    const n = this.destinations.length;
    const unit = this.unitUs();
    const spread = Math.min(n * STAGGER_PER_DESTINATION_US, unit);
    const ramp = this.rampUs(n, unit);
    const joinAt = (i: number) => (ramp > 0 ? Math.floor((i * ramp) / n / unit) * unit : 0);
    this.destinations.forEach((d, i) => d.start(now + Math.floor((i * spread) / n) + joinAt(i)));
  }

  /**
   * How long the outputs take to join (RAMP_PER_DESTINATION_US each): never more of the stream
   * than half a load mark, which the buffer keeps for the last to join while the first go on; none
   * when the rate is not known.
   */
  private rampUs(n: number, unit: number): number {
    if (!(this.bytesPerSecond > 0) || !Number.isFinite(unit) || unit <= 0) return 0;
    return Math.min(n * RAMP_PER_DESTINATION_US, (this.loadMark / 2 / this.bytesPerSecond) * US_PER_S);
  }

  sendableEnd(): number {
    const end = this.ring.end;
    if (this.inputEnded) return end;
    const settled = this.options.byteClock?.packets?.settledOffset();
    return settled === undefined ? end : Math.min(end, settled);
  }

  /**
   * A reader is short of a unit: where the input is dry (no load under way), the packet held for
   * the next one's sync byte goes as it is, so a stall is not waited out (TsScanner.release).
   */
  releaseHeld(): void {
    if (this.awaitingInput && !this.loadTimer.scheduled) this.options.byteClock?.packets?.release();
  }

  /** Garbage between TS packets, found as a chunk loads: senders pass over it. */
  private noteGarbage(offset: number, length: number): void {
    const log = this.options.log;
    if (!this.skips.add(offset, length) && this.skips.overflowed === 1) {
      log.warn(`${this.label}: garbage in more than ${this.skips.capacity} separate places within the read-ahead; the rest is sent as it is`);
    }
    if (this.garbageRuns++ === 0) {
      log.warn(`${this.label}: ${length} bytes at byte ${offset} are not MPEG-TS packets; skipped, so datagrams stay packet-aligned`);
    } else if (log.debugEnabled) {
      log.debug(`${this.label}: ${length} more bytes of garbage at byte ${offset} skipped`);
    }
  }

  /** The time one unit of the smallest-unit destination lasts, µs (Infinity when the rate is unknown). */
  private unitUs(): number {
    if (!(this.bytesPerSecond > 0)) return Infinity;
    let unit = Infinity;
    for (const d of this.destinations) unit = Math.min(unit, d.reader.inputBytesPerUnit);
    return Math.round((unit / this.bytesPerSecond) * 1e6);
  }

  /** A non-PCM job's byte clock (the constructor checks it has one). */
  get byteClock(): ByteClock {
    return this.options.byteClock!;
  }

  requestLoad(): void {
    // Input may come while the outputs open, before there is a buffer: start() loads it.
    if (this.ring === undefined) return;
    if (!this.loadTimer.scheduled && !this.inputEnded && !this.finished) {
      this.scheduler.schedule(this.loadTimer, this.scheduler.now());
    }
  }

  /** A load event: moves on a destination too far behind, frees what every destination has passed, then reads one chunk. */
  private onLoad(): void {
    if (this.inputEnded || this.finished) return;
    const lowest = this.releasePoint();
    const { source, byteClock, loop } = this.options;
    if (lowest !== Infinity) {
      while (this.inputStarts.length > 0 && this.inputStarts[0]! <= lowest) this.inputStarts.shift();
      this.ring.release(this.keepingHandOvers(lowest));
      this.skips.releaseBelow(lowest);
      // PCR/SCR anchors behind every destination are never looked up again; a clock keeps a bounded ring of them.
      byteClock?.forget(lowest);
    }
    let loaded = 0;
    // The first load, or the first since the input ran dry (a stall sets a live channel's jobs off together again).
    const wanted = this.chunkBytes + (this.awaitingInput ? this.loadPhaseBytes : 0);
    this.awaitingInput = false;
    // Nothing from here on is released before the next load: a turn begun since is in the buffer whole.
    const loadStart = this.ring.end;
    while (loaded < wanted) {
      const position = this.ring.writablePosition();
      const room = this.ring.writableRoom();
      if (room === 0) break;
      let n: number;
      try {
        n = source.read(this.ring.data, position, Math.min(room, wanted - loaded));
      } catch (error) {
        this.failInput(error as Error);
        return;
      }
      if (n === SOURCE_END) {
        // An input that gives nothing between rewinds would loop forever.
        if (loop && this.bytesSinceRewind > 0 && source.rewind()) {
          byteClock?.packets?.rewound();
          this.loops++;
          // A whole turn of one PCM input in the buffer: copy it for the next turns (turn_repeat.ts).
          // A clock must see every TS or PS turn, and a sequence marks where each input begins.
          if (this.turnStart >= loadStart && !byteClock && source.inputIndex === undefined) {
            const turns = repeatTurns(this.ring, this.bytesSinceRewind, wanted - loaded);
            this.loops += turns;
            loaded += turns * this.bytesSinceRewind;
          }
          this.bytesSinceRewind = 0;
          this.turnStart = this.ring.end;
          continue;
        }
        this.inputEnded = true;
        byteClock?.packets?.finish();
        break;
      }
      if (n === 0) {
        // An async source: onReadable calls again when bytes arrive.
        this.awaitingInput = true;
        break;
      }
      if (source.inputIndex !== this.bytesInput) {
        this.bytesInput = source.inputIndex;
        if (this.inputStarts.at(-1) !== this.ring.end) this.inputStarts.push(this.ring.end);
        byteClock?.packets?.seamAt(this.ring.end);
      }
      byteClock?.observe(this.ring.data, this.ring.end, position, position + n);
      this.ring.commit(n);
      this.bytesSinceRewind += n;
      loaded += n;
    }
    // Only news wakes a starving destination: waking it for nothing would have it ask for another
    // load at once, and the two would chase each other without time passing.
    if (loaded > 0 || this.inputEnded) for (const d of this.destinations) d.wake();
  }

  /**
   * The lowest position any destination still needs. One more than lagBytes behind the leading
   * destination skips ahead first (whole frames or packets; the skipped media is counted lost), so a stuck
   * output never keeps the buffer from the others.
   */
  private releasePoint(): number {
    let lowest = Infinity;
    let leading = -Infinity;
    for (const d of this.destinations) {
      if (!d.active) continue;
      lowest = Math.min(lowest, d.reader.position);
      leading = Math.max(leading, d.reader.position);
    }
    if (!(leading - lowest > this.lagBytes)) return lowest;
    const floor = leading - this.lagBytes;
    const now = this.scheduler.now();
    lowest = Infinity;
    for (const d of this.destinations) {
      if (!d.active) continue;
      if (d.reader.position < floor) {
        if (d.skipsAhead === 0) {
          this.options.log.warn(`${d.label}: fell more than ${LAG_BOUND_S} s behind the other outputs; skipping ahead, so they keep their schedule (what it misses is reported at the end)`);
        }
        d.skipTo(floor, now);
      }
      lowest = Math.min(lowest, d.reader.position);
    }
    return lowest;
  }

  /**
   * Where the buffer may be released to, every reader being past `lowest`: no lower than what a
   * sender thread still holds to send in place (Backend.heldFrom), so that a thread behind sends
   * it late rather than finding it gone. Loads meanwhile read into what room is left; once the
   * leading output is down to urgentBytes, a load finds LOAD_ROOM_MIN of room whatever the thread
   * holds: it loses the oldest (counted), and never starves the job's other outputs.
   */
  private keepingHandOvers(lowest: number): number {
    if (this.handOverHold === 0) return lowest;
    let held = Infinity;
    let leading = -Infinity;
    for (const d of this.destinations) {
      if (d.inPlace && d.backend.heldFrom) held = Math.min(held, d.backend.heldFrom());
      if (d.active) leading = Math.max(leading, d.reader.position);
    }
    if (held === Infinity) return lowest;
    const ring = this.ring;
    // release() keeps keepBehind below what it is given.
    const keep = Math.min(lowest, held + ring.keepBehind);
    // The outputs ahead still have enough to go on: this load takes what room there is.
    if (ring.end - leading >= this.urgentBytes) return keep;
    return Math.max(keep, Math.min(lowest, ring.end + Math.min(LOAD_ROOM_MIN, this.chunkBytes) - ring.capacity + ring.keepBehind));
  }

  /**
   * The input failed (a read error, a file that shrank): said once, and the job ends with it. What
   * was read before the failure still goes out on schedule, as a stream that ends there: a bad
   * sector costs what lies beyond it, not the seconds already loaded.
   */
  private failInput(error: Error): void {
    this.inputError = error;
    this.options.log.error(error.message);
    this.inputEnded = true;
    for (const d of this.destinations) d.wake();
  }

  destinationDone(destination: Destination): void {
    if (destination.error) this.options.log.error(`${destination.label}: ${destination.error.message}`);
    if (this.destinations.every((d) => !d.active)) {
      void this.finish();
      return;
    }
    // The first output to reach the end marks the end of the stream; the others get END_GRACE_US.
    if (destination.state === "done" && this.streamEndedAt === null) {
      this.streamEndedAt = this.scheduler.now();
      this.scheduler.schedule(this.graceTimer, this.streamEndedAt + END_GRACE_US);
    }
  }

  /** END_GRACE_US after the end of the stream: the outputs still behind lose the rest. */
  private giveUpOnLaggards(): void {
    for (const d of this.destinations) d.giveUp();
    void this.finish();
  }

  /**
   * Pauses or resumes the stream (the job's gate, options.gate): no destination sends while
   * paused, a sound card holds its place (Backend.pause), and on resume each sends again at once.
   */
  pause(paused: boolean): void {
    const gate = this.options.gate;
    if (!gate) throw new Error("pause needs a job made with a gate");
    if (paused !== gate.closed) {
      const now = this.scheduler.now();
      if (paused) this.pausedSince = now;
      else this.pausedUs += now - this.pausedSince;
    }
    gate.closed = paused;
    for (const d of this.destinations) {
      d.backend.pause?.(paused);
      if (!paused) d.wake();
    }
  }

  /**
   * The process was stopped for `us` (Ctrl-Z, `kill -TSTP`) and has just been continued: no time
   * of the stream passed meanwhile, so every output's schedule moves on by it (a new stretch, as
   * after a re-anchor, but not counted as time behind) and the time playing leaves it out.
   */
  suspended(us: number): void {
    const now = this.scheduler.now();
    this.pausedUs += us;
    for (const d of this.destinations) d.suspended(us, now);
  }

  /**
   * A listener's "next": each destination moves on to the start of the input after the one it
   * is playing, at once and as a new timeline segment (RTP marks it), nothing counted lost. When
   * that input is not read yet, the rest of the current one is left unread. On the last input
   * the job stops. False when there was no next input.
   */
  nextInput(): boolean {
    const { source } = this.options;
    const playing = Math.min(...this.destinations.filter((d) => d.active).map((d) => d.reader.position));
    let to = this.inputStarts.find((at) => at > playing);
    if (to === undefined) {
      if (!source.skipInput?.()) {
        void this.stop();
        return false;
      }
      to = this.ring.end;
      this.inputStarts.push(to);
    }
    const now = this.scheduler.now();
    for (const d of this.destinations) if (d.active && d.reader.position < to) d.skipTo(to, now, false);
    this.requestLoad();
    return true;
  }

  /**
   * A job made but never started (what was to follow its creation failed): its outputs leave no
   * trace where they can (Backend.discard) and its input is closed. `done` never settles.
   */
  async discard(): Promise<void> {
    this.finished = true;
    this.options.source.close();
    await discardAll(this.destinations.map((d) => d.backend));
  }

  /**
   * Stops every destination and closes the outputs, giving one still behind `graceUs` to take
   * what it was given (the speaker ends an output it found stuck sooner than the usual grace).
   */
  async stop(graceUs = END_GRACE_US): Promise<JobResult> {
    this.stopped = true;
    if (!this.finished) this.closeGraceUs = Math.min(this.closeGraceUs, graceUs);
    for (const d of this.destinations) d.stop();
    await this.finish();
    return this.done;
  }

  private async finish(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    this.scheduler.cancel(this.loadTimer);
    this.scheduler.cancel(this.graceTimer);
    this.options.source.close();
    const log = this.options.log;
    // What an output was given it must take by the end of the grace: a command stuck on unread input is ended then.
    const deadline = (this.streamEndedAt ?? this.scheduler.now()) + this.closeGraceUs;
    const closing = this.destinations.map(async (d) => {
      try {
        await d.backend.close(deadline);
      } catch (error) {
        if (d.error) return;
        d.error = error as Error;
        log.error(`${d.label}: ${d.error.message}`);
      }
    });
    await Promise.all(closing);
    if (this.garbageRuns > 1) {
      log.warn(`${this.label}: ${this.skips.total} bytes of garbage skipped in ${this.garbageRuns} places`);
    }
    const losses: OutputLoss[] = [];
    for (const d of this.destinations) {
      if (d.error) continue; // its error line says what went wrong
      const loss = describeLoss(d, this.stopped ? "stop" : "end", { lagBoundS: LAG_BOUND_S, graceS: this.closeGraceUs / US_PER_S });
      if (!loss) continue;
      losses.push(loss);
      log.error(loss.line);
    }
    this.resolveDone({
      failures: this.destinations.filter((d) => d.error).map((d) => ({ label: d.label, error: d.error! })),
      losses,
      inputError: this.inputError,
    });
  }

  /** Units and bytes sent over all destinations. */
  totals(): { units: number; bytes: number } {
    let units = 0;
    let bytes = 0;
    for (const d of this.destinations) {
      units += d.backend.counters.units;
      bytes += d.backend.counters.bytes;
    }
    return { units, bytes };
  }
}

/** A PCM job's destinations convert and stage frames; any other job's send the stream's bytes as they are. */
async function readerFor(job: Job, format: SampleFormat | undefined, backend: Backend): Promise<UnitReader> {
  if (!format) return new PacketReader(job, job.startOffset, backend.unitBytes, job.kind === "mpegts" ? TS_SIZE : 1);
  return new PcmReader(job, job.startOffset, format, await converterFor(format, backend.format), backend.unitBytes);
}

async function converterFor(input: SampleFormat, output: SampleFormat | undefined): Promise<PcmConverter | null> {
  if (!output || sameFormat(input, output)) return null;
  return createConverter(input, output);
}
