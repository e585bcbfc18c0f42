/**
 * The speaker: a queue of tracks played back to back, with no gap, as one
 * continuous PCM stream to its outputs (DESIGN.md, "Speaker").
 *
 * - **Ahead of time.** Tracks are opened, decoded and converted to the one
 *   output format in queue order, into a buffer of `buffer_seconds`
 *   (track_loader.ts). The next track is therefore ready long before the one
 *   playing ends, whatever the two formats are.
 * - **One stream.** The speaker is the Source of one job (a session): each
 *   read hands over the buffer's bytes, running from the end of one track
 *   straight into the next. The job's destinations pace, convert to each
 *   backend (L16 for RTP) and send, as for `pacer play`. The job reads ahead
 *   only SESSION_CHUNK_US, so a cancel or a queue change is heard soon.
 * - **Pause** closes the job's reader gate: the destinations stop within
 *   their lead, and the time counts as a gap (RTP timestamps move on by it
 *   and the first packet after carries the marker). Nothing is dropped.
 * - **Playhead.** The lowest position among the destinations says which
 *   track is playing and how far in; starts and ends are noticed by a tick
 *   every TICK_US, which runs the hooks and keeps the history.
 * - **Idle.** With the queue empty, a session with a device-like output
 *   (alsa, cmd, file) is ended after `idle_close`, which releases them, and a
 *   new one is opened for the next track. Network-only outputs, and
 *   `idle = "silence"`, keep their session, so RTP timestamps keep counting.
 * - **Following the track's format** (`alsa:DEVICE?follow=1`). Each track
 *   plays in its own format, unconverted. Tracks of one format follow each
 *   other gaplessly as above; where the next track's format differs, it waits
 *   unloaded until the buffer has been handed over, the session is ended (its
 *   outputs drain and close), and a new one opens in the new format: a short
 *   gap there only, logged.
 * - **Errors.** A track that cannot be opened or decoded is logged once,
 *   recorded as failed, and skipped: whatever it gave plays, and the next
 *   track follows at once. An output that fails, or takes nothing for
 *   OUTPUT_STALL_US while playing (stuck, and ended), fails the track at the
 *   playhead; the rest of the queue waits for a new session. Outputs that
 *   cannot be opened keep the queue too, and are tried again with back-off
 *   (output_retry.ts), as are those that fail soon after opening.
 * - **Starvation.** A track whose audio comes slower than real time (a slow
 *   decoder or read) leaves an output waiting with nothing to play: the tick
 *   sees it, and each stall is logged once and counted on the track
 *   (starve_watch.ts, status's `starved_s`).
 *
 * @example
 * ```ts
 * const speaker = new Speaker(options, { scheduler, log });
 * speaker.enqueue({ path: "/srv/media/a.wav", name: "a.wav" }); // { id: "t-…", position: 0 }
 * speaker.pause(); speaker.resume();
 * await speaker.stop();
 * ```
 */
import { randomBytes } from "node:crypto";
import type { Logger } from "../foundation/log.ts";
import type { ReaderGate } from "../pipeline/gated_reader.ts";
import type { Destination } from "../pipeline/destination.ts";
import { END_GRACE_US, Job, type JobResult } from "../pipeline/job.ts";
import { bytesPerFrame, formatToString, type SampleFormat, sameFormat } from "../protocol/sample_format.ts";
import { US_PER_MS, US_PER_S } from "../scheduler/clock.ts";
import type { Scheduler } from "../scheduler/scheduler.ts";
import type { Timer } from "../scheduler/timer_wheel.ts";
import { SOURCE_END, type Source } from "../sources/source.ts";
import { PcmFifo } from "./pcm_fifo.ts";
import type { SpeakerOptions } from "./speaker_options.ts";
import { loggedName, Track, type TrackEnd } from "./track.ts";
import { runTrackHook } from "./track_hooks.ts";
import type { HeldFile } from "./track_input.ts";
import { LoadTask } from "./track_loader.ts";
import { OutputWatch } from "./output_watch.ts";
import { OutputRetry } from "./output_retry.ts";
import { StarveWatch } from "./starve_watch.ts";

/** How often the playhead is looked at: starts, ends and idle are noticed this late at most. */
const TICK_US = 20 * US_PER_MS;
/**
 * The job's read-ahead per load: what still plays after a cancel, and how late a queued track can
 * be heard. A load is asked for with this much left, so it is also how late a load may come before
 * the outputs run dry: at 50 ms, a host at load average 5 on 2 cores starved RTP outputs for a
 * fraction of a ms in 7 of 16 tries (a timestamp jump and a marker mid-track); at 100 ms, in none.
 */
const SESSION_CHUNK_US = 100 * US_PER_MS;
/** With idle = "silence", silence is handed over at most this far ahead of the playhead. */
const SILENCE_LEAD_US = 2 * SESSION_CHUNK_US;
/** Finished tracks remembered for `status`. */
export const HISTORY_LENGTH = 10;
/** A session that ends by itself sooner than this after opening is not reopened at once (a dead output): it backs off (OutputRetry). */
const PLAYED_A_WHILE_US = 1_000 * US_PER_MS;
/**
 * An output that takes nothing for this long while audio waits for it (playing, not paused) is
 * stuck, and ended as a failed one: the 5 s an output still behind gets at the end of a `play`
 * (END_GRACE_US) before it is cut off. A slow output moves the playhead and is never cut off, as
 * a lone slow output of `play` is not; an encoder's start-up or a hiccup fits many times over.
 */
const OUTPUT_STALL_US = END_GRACE_US;
/** ...but with nothing wanted left in it (what it holds was cancelled), it is ended after this. */
const CANCELLED_STALL_US = 1_000 * US_PER_MS;
/** A stuck output is then given this to take what it holds (a command: EOF), before it is ended (SIGTERM, then SIGKILL). */
const STUCK_CLOSE_GRACE_US = 1_000 * US_PER_MS;
/**
 * A track that reached no output for more than this (and lost some) ends `failed`: its loss is
 * charged a tick at a time (OutputWatch), so where tracks meet a few tens of ms may go to the wrong one.
 */
const LOST_ALL_SLACK_US = 100 * US_PER_MS;
/**
 * Outputs being closed (released when idle, closed for another format, or at stop) get this long
 * past the buffer to be gone; a command that took its whole stream and is still running then is
 * ended (Backend.abandon). Before, one that did not exit at EOF (`nc` without -N) held the speaker
 * for good: the queue never played again, and SIGTERM never stopped the server.
 */
const CLOSE_WAIT_US = 10 * US_PER_S;
/** Schemes whose outputs hold a device or a process, released when idle. */
const RELEASABLE_SCHEMES = ["alsa", "cmd", "file"];
/** The buffer holds at least this much, so a block always fits. */
const MIN_BUFFER_BYTES = 256 * 1024;

/** `starved_s` for status and the log, where the output waited `us` for a track's audio. */
function starvedView(us: number): { starved_s?: number } {
  return us >= US_PER_MS ? { starved_s: Math.round(us / US_PER_MS) / 1000 } : {};
}

/** A request the speaker refuses; `code` is the protocol's error code. */
export class SpeakerError extends Error {
  override name = "SpeakerError";
  constructor(
    readonly code: "bad_request" | "not_found",
    message: string,
  ) {
    super(message);
  }
}

export interface SpeakerContext {
  readonly scheduler: Scheduler;
  readonly log: Logger;
}

export interface QueueRequest {
  /** The resolved path under the media root. */
  readonly path: string;
  /**
   * Opens the file when the track loads, where nothing outside the media root can be reached (the
   * server's openMediaFile): a name checked when it was queued may lead elsewhere by then.
   * Without it, `path` is opened.
   */
  readonly open?: () => Promise<HeldFile>;
  /** The media name as the client gave it. */
  readonly name: string;
  readonly id?: string;
  /** Place it right after this track (queued or playing). */
  readonly after?: string;
  /** Place it before every queued track. */
  readonly first?: boolean;
  /** Who queued it, as a key the caller chooses (the server: the client's address); waitingBy counts by it. */
  readonly owner?: string;
}

interface Session {
  readonly job: Job;
  readonly openedAt: number;
  ending: boolean;
  readonly watch: OutputWatch;
  /** Why the speaker ended it as failed (a stuck output), or null. */
  failure: string | null;
}

/** A track as `status` shows it. */
export interface TrackView {
  readonly id: string;
  readonly path: string;
}

export interface FinishedView extends TrackView {
  readonly status: TrackEnd;
  readonly error?: string;
  /** Played, but this much of it (s) never reached an output (the most any one lost). */
  readonly lost_s?: number;
  /** The output waited this long (s) for its audio, its decoder or file slower than real time (StarveWatch). */
  readonly starved_s?: number;
}

export interface SpeakerStatus {
  /** playing, paused, idle (outputs open, nothing to play) or released (no output open). */
  readonly state: "playing" | "paused" | "idle" | "released";
  readonly paused: boolean;
  readonly output: "open" | "released";
  readonly playing: (TrackView & { position: number; duration: number | null; starved_s?: number }) | null;
  readonly queue_length: number;
  readonly finished: readonly FinishedView[];
  /** Why the outputs are not playing what waits (they cannot be opened, or failed at once); tried again with back-off. */
  readonly output_error?: string;
}

export class Speaker implements Source {
  readonly label = "speaker";
  onReadable: (() => void) | null = null;

  /** Waiting tracks in play order; the first ones may already be loaded. */
  private readonly queue: Track[] = [];
  /** The track whose audio reads hand over now. */
  private emitting: Track | null = null;
  /** Handed over (wholly or in part) but not yet ended at the playhead, in order. */
  private readonly inFlight: Track[] = [];
  private readonly history: Track[] = [];
  private loading: LoadTask | null = null;
  /** Decoded-ahead audio in `format` (the loader finds it here: a change of format replaces it). */
  fifo: PcmFifo;
  /** Bytes handed to the current session's job. */
  private emitted = 0;
  private session: Session | null = null;
  private opening: Promise<void> | null = null;
  private readonly gate: ReaderGate = { closed: false };
  private pausedFlag = false;
  private idleSince: number | null = null;
  private readonly tick: Timer;
  private readonly reopen: Timer;
  /** Ends what still holds a closing session's outputs (CLOSE_WAIT_US). */
  private readonly closeWait: Timer;
  private readonly retry: OutputRetry;
  private readonly starve: StarveWatch;
  /** The format of the buffer and of the session's stream: options.format, or with follow the current track's. */
  private format: SampleFormat;
  private frameBytes = 1;
  private bytesPerSecond = 1;
  /** The session is being ended for a format change (follow), not for idle. */
  private switching = false;
  /** The last read handed over silence in place of the loading track's audio (idle = "silence"): a stall. */
  private silenceForTrack = false;
  private readonly releasable: boolean;
  private stopped = false;
  private readonly log: Logger;

  constructor(
    readonly options: SpeakerOptions,
    private readonly ctx: SpeakerContext,
  ) {
    this.log = ctx.log;
    this.format = options.format;
    this.fifo = this.makeFifo(options.format, 0);
    this.releasable = options.idle === "nothing" && options.outputs.some((o) => RELEASABLE_SCHEMES.includes(o.slice(0, o.indexOf(":"))));
    this.tick = ctx.scheduler.timer("speaker", (_t, now) => this.onTick(now));
    this.reopen = ctx.scheduler.timer("speaker", () => {
      // What waited may have gone meanwhile (failed to load): then the tries end here.
      this.settleIfEmpty();
      this.ensureSession();
    });
    this.retry = new OutputRetry(this.log);
    this.starve = new StarveWatch(this.log);
    this.closeWait = ctx.scheduler.timer("speaker", () => {
      for (const d of this.session?.job.destinations ?? []) d.backend.abandon?.();
    });
  }

  get paused(): boolean {
    return this.pausedFlag;
  }

  /** A buffer of `buffer_seconds` in `format` (and its frame sizes), its offsets starting at `offset`. */
  private makeFifo(format: SampleFormat, offset: number): PcmFifo {
    this.frameBytes = bytesPerFrame(format);
    this.bytesPerSecond = this.frameBytes * format.rate;
    const bufferBytes = Math.max(MIN_BUFFER_BYTES, Math.ceil(this.options.bufferSeconds * this.bytesPerSecond));
    return new PcmFifo(bufferBytes - (bufferBytes % this.frameBytes), offset);
  }

  // -------------------------------------------------------------------------------------------
  // Requests

  /** Queues a track; returns its id and its place among the waiting tracks (0: next). Throws SpeakerError. */
  enqueue(request: QueueRequest): { id: string; position: number } {
    if (this.stopped) throw new SpeakerError("bad_request", "the speaker is stopping");
    const id = request.id ?? `t-${randomBytes(6).toString("hex")}`;
    if (this.find(id)) throw new SpeakerError("bad_request", `track id "${id}" is already in the queue; give another --id`);
    let position = this.queue.length;
    if (request.first) position = 0;
    else if (request.after !== undefined) {
      const at = this.queue.findIndex((t) => t.id === request.after);
      if (at >= 0) position = at + 1;
      else if (this.inFlight.some((t) => t.id === request.after && t.end === null)) position = 0;
      else throw new SpeakerError("not_found", `no track "${request.after}" is queued or playing`);
    }
    const track = new Track(id, request.name, request.path, request.open, request.owner);
    this.queue.splice(position, 0, track);
    // Tracks already handed to the outputs' buffer play first, whatever is asked: its place is after them.
    position += this.handedOverWaiting().length;
    this.idleSince = null;
    this.log.info("speaker: queued", { track: id, media: loggedName(request.name), position });
    this.reconcile();
    this.pump();
    this.ensureSession();
    return { id, position };
  }

  /** Cancels a queued or playing track; throws SpeakerError for an unknown id. */
  cancel(id: string): { id: string; was: "queued" | "playing" } {
    const at = this.queue.findIndex((t) => t.id === id);
    if (at >= 0) {
      const [track] = this.queue.splice(at, 1);
      this.unqueue([track!]);
      this.reconcile();
      this.pump();
      this.finish(track!, "cancelled");
      this.settleIfEmpty();
      return { id, was: "queued" };
    }
    const playing = this.inFlight.find((t) => t.id === id && t.end === null && !t.cancelled);
    if (!playing) throw new SpeakerError("not_found", `no track "${id}" is queued or playing`);
    playing.cancelled = true;
    if (playing === this.emitting) {
      // The rest of it is skipped in the buffer; what the job already read (SESSION_CHUNK_US) plays out.
      if (this.loading?.track === playing) this.abortLoading();
      // ...but the job reads any number of bytes, so it may have stopped inside a frame: the rest
      // of that frame goes too. Cut there, the next track's first frame played shifted by a byte
      // or three (noise, to the end of the session) and left a stray byte no output could take.
      const rest = (this.frameBytes - ((this.fifo.readOffset - playing.segStart!) % this.frameBytes)) % this.frameBytes;
      const cut = this.fifo.readOffset + rest;
      if (playing.segEnd === null) {
        this.fifo.truncate(cut);
        playing.segEnd = cut;
      } else if (rest === 0) {
        this.fifo.skip(playing.segEnd);
      } else {
        // Tracks loaded behind it load again, from the end of that frame.
        this.dropFrom(cut);
        playing.segEnd = cut;
      }
      // A frame's rest still to go: its emission ends once the job has read it (read).
      if (rest === 0) this.endEmission(playing, this.emitted);
      this.loading?.roomFreed();
      this.pump();
    }
    // Paused, what it had handed to the outputs does not play out, so its end (status, on_finish, a
    // free id) would wait for `resume`: it ends now. Never heard, it never starts.
    if (this.pausedFlag) {
      playing.started = true;
      this.finish(playing, "cancelled");
    }
    this.onReadable?.();
    this.log.info("speaker: cancelled", { track: id });
    return { id, was: "playing" };
  }

  /** Removes every waiting track (the playing one plays on); returns how many. */
  clear(): { cleared: number } {
    // Handed to the outputs' buffer but not begun: still waiting, to whoever asks.
    const handedOver = this.handedOverWaiting();
    for (const track of handedOver) this.cancel(track.id);
    const waiting = this.queue.splice(0);
    this.unqueue(waiting);
    for (const track of waiting) this.finish(track, "cancelled");
    this.pump();
    const cleared = handedOver.length + waiting.length;
    if (cleared) this.log.info("speaker: queue cleared", { tracks: cleared });
    this.settleIfEmpty();
    return { cleared };
  }

  /**
   * Tracks taken out of the queue: a load of one of them stops (left going, it wrote into the
   * buffer ahead of the next track, which then never began), and their audio leaves the buffer.
   */
  private unqueue(tracks: readonly Track[]): void {
    if (this.loading && tracks.includes(this.loading.track)) this.abortLoading();
    let from = Infinity;
    for (const t of tracks) if (t.loaded) from = Math.min(from, t.segStart!);
    if (from !== Infinity) this.dropFrom(from);
  }

  /** The track playing (or about to: handed over first, not begun at the playhead yet); null when none. */
  private current(): Track | null {
    return this.inFlight.find((t) => t.end === null && !t.cancelled) ?? null;
  }

  /** Tracks handed to the session's job behind the current one, not begun yet: waiting, to whoever asks. */
  private handedOverWaiting(): Track[] {
    const current = this.current();
    return this.inFlight.filter((t) => t !== current && !t.started && !t.cancelled && t.end === null);
  }

  pause(): { paused: true } {
    if (!this.pausedFlag) this.log.info("speaker: paused");
    this.pausedFlag = true;
    // A session that is ending plays out; with none, the next one opens paused (openSession).
    if (this.session && !this.session.ending) this.session.job.pause(true);
    return { paused: true };
  }

  resume(): { paused: false } {
    if (this.pausedFlag) this.log.info("speaker: resumed");
    this.pausedFlag = false;
    this.gate.closed = false;
    this.session?.job.pause(false);
    // What was held back while paused may be read now.
    this.onReadable?.();
    return { paused: false };
  }

  /** How many tracks wait: those handed to the outputs' buffer but not begun, and the queue. */
  get queueLength(): number {
    return this.handedOverWaiting().length + this.queue.length;
  }

  /** How many of the waiting tracks (queueLength) `owner` queued. */
  waitingBy(owner: string): number {
    let n = 0;
    for (const t of this.queue) if (t.owner === owner) n++;
    for (const t of this.handedOverWaiting()) if (t.owner === owner) n++;
    return n;
  }

  /** The waiting tracks, in order: those already handed to the outputs' buffer first. */
  queued(): readonly TrackView[] {
    return [...this.handedOverWaiting(), ...this.queue].map((t) => ({ id: t.id, path: t.name }));
  }

  status(): SpeakerStatus {
    // Open until the session has ended: its outputs drain and close only then.
    const open = this.session !== null;
    const current = this.current();
    let playing: SpeakerStatus["playing"] = null;
    if (current) {
      const head = this.playhead();
      const position = Math.max(0, head - current.emitStart!) / this.bytesPerSecond;
      playing = {
        id: current.id,
        path: current.name,
        position: Math.round(position * 1000) / 1000,
        duration: current.durationUs === null ? null : Math.round(current.durationUs / 1000) / 1000,
        ...starvedView(this.starve.starvedUs(current)),
      };
    }
    const busy = this.inFlight.length > 0 || this.queue.length > 0;
    return {
      state: !open ? (busy ? (this.pausedFlag ? "paused" : "playing") : "released") : this.pausedFlag && busy ? "paused" : busy ? "playing" : "idle",
      paused: this.pausedFlag,
      output: open ? "open" : "released",
      playing,
      queue_length: this.queueLength,
      finished: this.history.map((t) => ({ id: t.id, path: t.name, status: t.end!, ...(t.error && { error: t.error }), ...(t.lostS !== null && { lost_s: t.lostS }), ...starvedView(t.starvedUs) })),
      ...(this.retry.error !== null && { output_error: this.retry.error }),
    };
  }

  /** Stops playing at once: the loader, the session and its outputs. Queued tracks are forgotten. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.abortLoading();
    this.ctx.scheduler.cancel(this.tick);
    this.ctx.scheduler.cancel(this.reopen);
    await this.opening;
    const session = this.session;
    if (session) {
      this.waitForClose();
      await session.job.stop();
    }
  }

  /** The session's outputs are closing: what still holds them after CLOSE_WAIT_US is ended. */
  private waitForClose(): void {
    const scheduler = this.ctx.scheduler;
    if (!this.closeWait.scheduled) scheduler.schedule(this.closeWait, scheduler.now() + this.options.bufferSeconds * US_PER_S + CLOSE_WAIT_US);
  }

  // -------------------------------------------------------------------------------------------
  // Source: the session's job reads the stream here

  read(target: Buffer, position: number, length: number): number {
    const session = this.session;
    if (session?.ending) return SOURCE_END;
    let n = 0;
    while (n < length) {
      let track = this.emitting;
      if (!track) {
        const next = this.queue[0];
        // The next track's audio starts where the buffer's unread part starts, or it is not loaded
        // yet. Paused, none begins: what is queued meanwhile stays in the queue (seen, cleared,
        // put after a `first`), not in the outputs' buffer.
        if (!next || next.segStart !== this.fifo.readOffset || this.pausedFlag) break;
        this.queue.shift();
        track = this.emitting = next;
        next.emitStart = this.emitted + n;
        // Straight after audio still to play: a wait for its first bytes is a gap heard (StarveWatch).
        next.seamless = this.inFlight.length > 0;
        this.inFlight.push(next);
      }
      const k = this.fifo.read(target, position + n, length - n, track.segEnd ?? Infinity);
      n += k;
      if (k > 0) this.silenceForTrack = false;
      if (track.segEnd !== null && this.fifo.readOffset >= track.segEnd) {
        this.endEmission(track, this.emitted + n);
        continue;
      }
      if (k === 0) break;
    }
    if (n === 0 && session && !this.pausedFlag) {
      if (this.options.idle === "silence") {
        n = this.silence(target, position, length);
        if (n > 0 && this.emitting !== null) this.silenceForTrack = true;
      } else if (!this.releasable && this.isDry()) n = this.padToUnit(target, position, length);
    }
    this.emitted += n;
    if (n > 0) this.loading?.roomFreed();
    return n;
  }

  rewind(): boolean {
    return false;
  }

  /** The job closes its source when it ends; the speaker lives on for the next session. */
  close(): void {}

  // -------------------------------------------------------------------------------------------
  // Loading ahead

  /** Tracks loaded into the buffer must follow each other there in queue order; from the first that does not, unload. */
  private reconcile(): void {
    let expected: number | null = this.emitting ? this.emitting.segEnd : this.fifo.readOffset;
    for (const track of this.queue) {
      if (!track.loaded) {
        expected = null;
        continue;
      }
      if (expected === null || track.segStart !== expected) {
        this.dropFrom(track.segStart!);
        return;
      }
      expected = track.segEnd;
    }
  }

  /** Takes back the buffer from `offset` on; the waiting tracks there are loaded again when their turn comes. */
  private dropFrom(offset: number): void {
    this.fifo.truncate(offset);
    for (const track of this.queue) {
      if (track.loaded && track.segStart! >= offset) {
        if (this.loading?.track === track) this.abortLoading();
        track.unload();
      }
    }
  }

  private abortLoading(): void {
    this.loading?.abort();
    this.loading = null;
  }

  /** Starts loading the first waiting track not loaded yet, once nothing else loads. */
  private pump(): void {
    if (this.loading || this.stopped) return;
    const track = this.queue.find((t) => !t.loaded);
    if (!track) return;
    // With follow, the buffer cannot take a track in another format until the outputs are reopened in it.
    if (track.awaitingFormat && !sameFormat(track.awaitingFormat, this.format) && !this.canSwitchFor(track)) return;
    const task = new LoadTask(track, this, this.options, this.log, {
      target: (format) => this.targetFor(track, format),
      written: () => this.onReadable?.(),
      done: () => {
        if (this.loading !== task) return;
        this.loading = null;
        this.onReadable?.();
        this.pump();
        if (this.options.follow) this.ensureSession();
      },
    });
    this.loading = task;
    task.start();
  }

  /** What a track in `format` is converted to: the speaker's format, or with follow its own (null: not yet). */
  private targetFor(track: Track, format: SampleFormat): SampleFormat | null {
    if (!this.options.follow) return this.format;
    // A session held back until this track's format was known may open now (after this call).
    queueMicrotask(() => this.ensureSession());
    if (sameFormat(format, this.format)) return this.format;
    if (!this.canSwitchFor(track)) return null;
    this.switchFormat(format, track);
    return format;
  }

  /** Nothing is open or playing, and `track` is next: the buffer may change format for it. */
  private canSwitchFor(track: Track): boolean {
    return !this.session && !this.opening && this.emitting === null && this.inFlight.length === 0 && this.fifo.held === 0 && this.queue[0] === track;
  }

  private switchFormat(format: SampleFormat, track: Track): void {
    this.log.info(`speaker: opening the outputs in ${formatToString(format)}, the format of the next track (follow=1)`, { track: track.id, media: loggedName(track.name) });
    this.format = format;
    this.fifo = this.makeFifo(format, this.fifo.writeOffset);
  }

  // -------------------------------------------------------------------------------------------
  // Sessions: one job from the first track to idle_close (or, with follow, to a format change)

  private ensureSession(): void {
    // While the outputs are down, they are tried when the back-off says (a queue request does not hurry it).
    if (this.session || this.opening || this.stopped || this.reopen.scheduled) return;
    const head = this.queue[0];
    if (!head) return;
    // With follow, a session opens in the next track's format, so its load must have decided it.
    const decided = head.loaded && (head.segEnd !== null || (head.format !== null && head.awaitingFormat === null && sameFormat(head.format, this.format)));
    if (this.options.follow && !decided) {
      if (!this.loading) this.pump();
      return;
    }
    this.opening = this.openSession().finally(() => (this.opening = null));
  }

  private async openSession(): Promise<void> {
    const { scheduler } = this.ctx;
    const { outputs } = this.options;
    const format = this.format;
    const chunkBytes = Math.max(this.frameBytes, Math.round((this.bytesPerSecond * SESSION_CHUNK_US) / US_PER_S / this.frameBytes) * this.frameBytes);
    let job: Job;
    try {
      job = await Job.create({
        input: { label: "speaker", kind: "pcm", format },
        source: this,
        outputs: [...outputs],
        scheduler,
        log: this.log.child({ speaker: formatToString(format) }),
        outFormat: format,
        chunkBytes,
        gate: this.gate,
      });
    } catch (error) {
      this.outputDown(`cannot open the output: ${(error as Error).message}`, true);
      return;
    }
    if (this.stopped) {
      await job.stop();
      return;
    }
    this.emitted = 0;
    this.silenceForTrack = false;
    this.session = { job, openedAt: scheduler.now(), ending: false, watch: new OutputWatch(job.destinations, scheduler.now()), failure: null };
    this.gate.closed = this.pausedFlag;
    this.idleSince = null;
    job.start();
    scheduler.schedule(this.tick, scheduler.now() + TICK_US);
    this.log.info("speaker: outputs open", { to: outputs.join(" ") });
    this.retry.opened();
    void job.done.then((result) => this.sessionEnded(job, result));
  }

  private sessionEnded(job: Job, result: JobResult): void {
    const session = this.session;
    if (!session || session.job !== job) return;
    this.session = null;
    this.onReadable = null;
    this.starve.close(this.ctx.scheduler.now());
    this.ctx.scheduler.cancel(this.tick);
    this.ctx.scheduler.cancel(this.closeWait);
    if (session.ending) {
      // The job drained its outputs before it ended: what was handed over has played. What an
      // output lost as it closed (left unread in a command's pipe) is of the stream's end.
      session.watch.chargeLoss(this.inFlight.at(-1) ?? null);
      for (const track of this.inFlight.splice(0)) {
        if (!track.started && track.emitEnd !== track.emitStart) this.started(track);
        this.finish(track, this.outcome(track));
      }
      this.log.info(this.switching ? "speaker: outputs closed for the next track's format" : "speaker: idle; outputs released");
      this.switching = false;
      this.retry.settled();
    } else if (!this.stopped) {
      const why = session.failure ?? (result.failures.map((f) => `${f.label}: ${f.error.message}`).join("; ") || "the outputs ended");
      // What was playing is lost with the output; the rest of the queue waits for the next session.
      const atHead = this.current();
      const lost = this.emitting;
      if (lost) {
        if (this.loading?.track === lost) this.abortLoading();
        if (lost.segEnd === null) this.fifo.truncate(this.fifo.readOffset);
        else this.fifo.skip(lost.segEnd);
        this.emitting = null;
      }
      // Tracks handed over behind it never began: they wait for the next session, loaded again.
      const waiting = this.inFlight.splice(0).filter((track) => {
        if (track.cancelled) this.finish(track, "cancelled");
        else if (track.started || track === atHead) {
          track.error ??= `output failed: ${why}`;
          this.finish(track, "failed");
        } else return true;
        return false;
      });
      for (const track of waiting) track.requeue();
      this.queue.unshift(...waiting);
      this.reconcile();
      this.pump();
      this.outputDown(`output failed (${why})`, this.ctx.scheduler.now() - session.openedAt < PLAYED_A_WHILE_US);
      return;
    }
    this.ensureSession();
  }

  /**
   * The outputs could not be opened, or failed (`soon`: at once): the queue is kept and they are
   * opened again, at once after they played a while, else with back-off; logged once an episode.
   */
  private outputDown(message: string, soon: boolean): void {
    const waiting = this.queue.length > 0;
    const delayUs = this.retry.failed(message, soon && waiting);
    if (!waiting) return this.retry.settled();
    this.ctx.scheduler.schedule(this.reopen, this.ctx.scheduler.now() + delayUs);
  }

  /** With nothing left to play and no outputs open, the tries to open them stop (and status no longer shows why they failed). */
  private settleIfEmpty(): void {
    if (this.queue.length > 0 || this.session || this.opening) return;
    this.ctx.scheduler.cancel(this.reopen);
    this.retry.settled();
  }

  // -------------------------------------------------------------------------------------------
  // The playhead

  /** The label of the output at the playhead (the slowest). */
  private slowestOutput(): string {
    let slowest: Destination | null = null;
    for (const d of this.session?.job.destinations ?? []) if (d.active && (slowest === null || d.reader.position < slowest.reader.position)) slowest = d;
    return slowest?.label ?? "the output";
  }

  /** Bytes of the session's stream the slowest destination has taken. */
  private playhead(): number {
    let lowest = Infinity;
    for (const d of this.session?.job.destinations ?? []) if (d.active && d.reader.position < lowest) lowest = d.reader.position;
    return lowest === Infinity ? this.emitted : lowest;
  }

  private onTick(now: number): void {
    const session = this.session;
    // A session being ended as failed has stopped its outputs: the playhead says nothing more.
    if (!session || session.failure !== null) return;
    const head = this.playhead();
    // A destination sends whole units only, so with nothing more to come the last part of a unit
    // waits in its reader (until the next track, or the session's end flushes it): count it as played.
    const dry = this.isDry();
    const tail = dry ? this.largestUnitInput() : 0;
    this.watchOutput(session, now, head, tail);
    session.watch.chargeLoss(this.inFlight[0] ?? null);
    while (this.inFlight.length > 0) {
      const track = this.inFlight[0]!;
      const ended = track.emitEnd !== null && (head >= track.emitEnd || (track.emitEnd === this.emitted && this.emitted - head < tail));
      if (!track.started && (head > track.emitStart! || ended)) {
        track.started = true;
        if (track.emitEnd !== track.emitStart) this.started(track);
      }
      if (!ended) break;
      this.inFlight.shift();
      this.finish(track, this.outcome(track));
    }
    this.starve.look(now, this.starvedBy(this.silenceForTrack));
    this.endForFormat(session);
    const idle = dry && this.inFlight.length === 0;
    if (!idle) this.idleSince = null;
    else if (this.idleSince === null) this.idleSince = now;
    else if (this.releasable && !session.ending && now - this.idleSince >= this.options.idleCloseS * US_PER_S) {
      session.ending = true;
      this.waitForClose();
      this.gate.closed = false;
      session.job.requestLoad();
      this.log.info("speaker: releasing the outputs", { idle_close: this.options.idleCloseS });
    }
    this.ctx.scheduler.schedule(this.tick, now + TICK_US);
  }

  /**
   * An output stuck (the playhead still while audio waits for it, not paused) is ended as a failed
   * one, its command or device closed after a short grace: sessionEnded then fails what played,
   * keeps the queue, and opens a new session. Without this a command that never reads its stdin
   * held the speaker for good, cancel and clear included.
   */
  private watchOutput(session: Session, now: number, head: number, tail: number): void {
    const waiting = !this.pausedFlag && !session.ending && this.emitted - head > tail;
    const still = session.watch.stillFor(now, head, waiting);
    // Only cancelled tracks in it: the 1 s bound. Silence alone (idle = "silence") gets the full one.
    const bound = this.current() || this.inFlight.length === 0 ? OUTPUT_STALL_US : CANCELLED_STALL_US;
    if (still < bound || session.failure !== null) return;
    session.failure = `${this.slowestOutput()} took nothing for ${(still / US_PER_S).toFixed(1)} s while playing; ended it`;
    void session.job.stop(STUCK_CLOSE_GRACE_US);
  }

  /**
   * With follow: the next track is in another format and everything before it has been handed
   * over, so the session ends (its outputs drain and close); the next opens in the new format.
   * Not while paused: ending lets the job's last audio play out.
   */
  private endForFormat(session: Session): void {
    if (!this.options.follow || session.ending || this.pausedFlag) return;
    const next = this.queue[0];
    if (!next?.awaitingFormat || next.loaded || sameFormat(next.awaitingFormat, this.format)) return;
    if (this.emitting !== null || this.fifo.held > 0) return;
    session.ending = true;
    this.waitForClose();
    this.switching = true;
    this.gate.closed = false;
    session.job.requestLoad();
    this.log.info(`speaker: the next track is ${formatToString(next.awaitingFormat)}; closing the outputs to reopen them in it (follow=1)`, { track: next.id });
  }

  /**
   * The track whose load an output waits for now, or null: it has taken all that was handed over
   * (less than a unit left), and the track is still loading with nothing more in the buffer; or
   * silence went out in its place (`silenced`, idle = "silence"). Its first audio awaited after a
   * silence (the queue was empty) is a start, not a gap.
   */
  private starvedBy(silenced: boolean): Track | null {
    const track = this.emitting;
    if (track === null || track.segEnd !== null || track.cancelled || this.pausedFlag || this.session?.ending || this.fifo.held > 0) return null;
    if (!track.seamless && this.fifo.readOffset === track.segStart) return null;
    if (silenced) return track;
    // The output furthest ahead: it falls silent first (one behind the others still has some).
    let furthest = 0;
    for (const d of this.session?.job.destinations ?? []) if (d.active) furthest = Math.max(furthest, d.reader.position);
    return this.emitted - furthest < Math.max(this.frameBytes, this.largestUnitInput()) ? track : null;
  }

  /** Nothing more to hand over: no track being handed over, none waiting, none loading. */
  private isDry(): boolean {
    return this.emitting === null && this.queue.length === 0 && !this.loading;
  }

  /** The most input bytes any destination waits for before it sends a unit. */
  private largestUnitInput(): number {
    let largest = 0;
    for (const d of this.session?.job.destinations ?? []) largest = Math.max(largest, d.reader.inputBytesPerUnit);
    return largest;
  }

  private endEmission(track: Track, at: number): void {
    track.emitEnd = at;
    if (this.emitting === track) this.emitting = null;
    if (track.durationUs === null && track.emitStart !== null && !track.cancelled) {
      track.durationUs = Math.round(((at - track.emitStart) * US_PER_S) / this.bytesPerSecond);
    }
  }

  /**
   * How a track that went out ended: cancelled, failed (its own error, or no output got any of it:
   * a command that exits at once drops the stream), or played (`lostS` says what an output lost).
   */
  private outcome(track: Track): TrackEnd {
    if (track.cancelled) return "cancelled";
    if (track.error) return "failed";
    const lost = track.lostUs;
    const duration = track.durationUs;
    if (lost === null || duration === null) return "played";
    let least = Infinity;
    let most = 0;
    for (const us of lost) {
      least = Math.min(least, us);
      most = Math.max(most, us);
    }
    if (duration - least < Math.min(LOST_ALL_SLACK_US, duration / 2)) {
      track.error = `${this.options.outputs.length === 1 ? "the output" : "every output"} lost all of it (${this.options.outputs.join(", ")})`;
      return "failed";
    }
    if (most >= US_PER_MS) track.lostS = Math.round(Math.min(most, duration) / US_PER_MS) / 1000;
    return "played";
  }

  private started(track: Track): void {
    this.log.info("speaker: playing", { track: track.id, media: loggedName(track.name) });
    if (this.options.onStart) track.startHook = runTrackHook(this.options.onStart, { id: track.id, path: track.name, status: "playing" }, this.log);
  }

  private finish(track: Track, end: TrackEnd): void {
    if (track.end !== null) return;
    track.end = end;
    this.starve.close(this.ctx.scheduler.now(), track);
    this.history.unshift(track);
    if (this.history.length > HISTORY_LENGTH) this.history.pop();
    if (end !== "cancelled") this.log.info(`speaker: ${end}`, { track: track.id, media: loggedName(track.name), ...(track.lostS !== null && { lost_s: track.lostS }), ...starvedView(track.starvedUs) });
    const onFinish = this.options.onFinish;
    // After its on_start, if that still runs: a short track's two hooks had run finish first.
    if (onFinish) void track.startHook.then(() => runTrackHook(onFinish, { id: track.id, path: track.name, status: end }, this.log));
  }

  /** The queued or playing track of this id; one cancelled while it played is gone, whatever of it still plays out. */
  private find(id: string): Track | undefined {
    return this.queue.find((t) => t.id === id) ?? this.inFlight.find((t) => t.id === id && t.end === null && !t.cancelled);
  }

  /**
   * A session that is never released (network outputs) would hold the queue's last part-unit in
   * its readers until the next track; silence up to a whole unit sends it now.
   */
  private padToUnit(target: Buffer, position: number, length: number): number {
    const unit = this.largestUnitInput();
    if (unit === 0) return 0;
    let n = Math.min(length, (unit - (this.emitted % unit)) % unit);
    n -= n % this.frameBytes;
    if (n <= 0) return 0;
    target.fill(this.format.encoding === "u8" ? 0x80 : 0, position, position + n);
    return n;
  }

  /** Silence for an idle "silence" speaker, at most SILENCE_LEAD_US ahead of the playhead, in whole frames. */
  private silence(target: Buffer, position: number, length: number): number {
    const lead = Math.round((SILENCE_LEAD_US * this.bytesPerSecond) / US_PER_S);
    let n = Math.min(length, this.playhead() + lead - this.emitted);
    n -= n % this.frameBytes;
    if (n <= 0) return 0;
    // Silence is the zero sample, but unsigned 8-bit centres on 0x80.
    target.fill(this.format.encoding === "u8" ? 0x80 : 0, position, position + n);
    return n;
  }
}
