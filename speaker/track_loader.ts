/**
 * Loads one track into the speaker's buffer: opens it (track_input.ts),
 * converts every block to the output format, and writes the result after
 * whatever the buffer already holds, waiting for room as the stream reads.
 * At the end the converter's tail (the resampler's delay) is flushed, so the
 * track's converted length is exact and the next track starts right after it.
 *
 * The speaker decides, once the track's own format is known, what it is
 * converted to; or that it must wait (the outputs play another format and
 * follow each track's): then nothing is written and the track stays unloaded.
 *
 * A failure (missing, unreadable, undecodable, a decoder that dies) ends the
 * track where it failed: it is logged once and recorded on the track, and
 * what was written plays. A track the server is short of descriptors or
 * processes to open or decode waits instead, tried again each second. An
 * aborted task (the track was cancelled or moved) stops writing at once and
 * closes its input (a decoder is killed).
 *
 * @example
 * ```ts
 * const task = new LoadTask(track, { fifo }, options, log, { written: () => wake(), done: () => next(), target: () => out });
 * task.start();
 * fifo.read(...); task.roomFreed();   // the stream made room
 * ```
 */
import { closeSync } from "node:fs";
import type { Logger } from "../foundation/log.ts";
import { createConverter, type PcmConverter } from "../convert/converter.ts";
import { bytesPerFrame, type SampleFormat } from "../protocol/sample_format.ts";
import type { PcmFifo } from "./pcm_fifo.ts";
import type { SpeakerOptions } from "./speaker_options.ts";
import type { Track } from "./track.ts";
import { openTrackInput, TrackError, type TrackInput } from "./track_input.ts";

/**
 * One conversion makes at most about this many frames (0.4 s at 44.1 kHz), then the server's
 * other work runs: a block of a WAV at a few Hz (legal, tiny on disk) upsamples to thousands of
 * times its frames, and converted whole, a 16 KB file at 4 Hz held the only thread for 7 s (at
 * 1 Hz: 26 s and 2 GB) while the track before it played.
 */
const MAX_CONVERTED_FRAMES = 1 << 14;

/** A track the server was short of descriptors or processes to open is tried again this often. */
const SHORTAGE_RETRY_MS = 1_000;

/** Lets timers and I/O run between two slices of one block. */
const yieldToOthers = () => new Promise<void>((resolve) => setImmediate(resolve));

export interface LoadEvents {
  /** Audio was written to the buffer. */
  written(): void;
  /** The task is over (loaded, failed, aborted, or waiting for its format). */
  done(): void;
  /** The format to convert a track in `format` to, or null: not yet (nothing is written). */
  target(format: SampleFormat): SampleFormat | null;
}

export class LoadTask {
  private aborted = false;
  private input: TrackInput | null = null;
  private waitingForRoom: (() => void) | null = null;
  /** Ends the wait before the next try to load the track (run). */
  private wakeRetry: (() => void) | null = null;
  private frameBytes = 1;

  constructor(
    readonly track: Track,
    /** The speaker's buffer, looked up at each use: a change of format (follow) replaces it. */
    private readonly buffer: { readonly fifo: PcmFifo },
    private readonly options: SpeakerOptions,
    private readonly log: Logger,
    private readonly events: LoadEvents,
  ) {}

  start(): void {
    this.track.segStart = this.buffer.fifo.writeOffset;
    void this.run();
  }

  abort(): void {
    this.aborted = true;
    this.input?.close();
    this.roomFreed();
    this.wakeRetry?.();
  }

  /** The stream read from the buffer: a write waiting for room tries again. */
  roomFreed(): void {
    const wake = this.waitingForRoom;
    this.waitingForRoom = null;
    wake?.();
  }

  /** The track's input, through its file opened beneath the media root when it was queued with an opener. */
  private async openInput(track: Track): Promise<TrackInput> {
    if (!track.open) return openTrackInput(track.path, track.name, this.options.decoders);
    const held = await track.open();
    if (!held.ok) throw new TrackError(held.message, held.shortage);
    try {
      return await openTrackInput(track.path, track.name, this.options.decoders, held.fd);
    } finally {
      // The input has its own descriptor now (or failed): this one is done with.
      closeSync(held.fd);
    }
  }

  private async run(): Promise<void> {
    const track = this.track;
    try {
      // While the server is short of descriptors or processes to open or decode the track
      // (TrackError.shortage) and none of it is written yet, the queue waits and it is tried
      // again, said once: such a track failed, and every one whose turn came before some were freed.
      for (let waitedMs = 0; ; waitedMs += SHORTAGE_RETRY_MS) {
        try {
          return await this.load(track, waitedMs);
        } catch (error) {
          const untouched = this.buffer.fifo.writeOffset === track.segStart;
          if (!(error instanceof TrackError && error.shortage && untouched) || this.aborted) throw error;
          this.input?.close();
          this.input = null;
          track.heldByShortage = true;
          if (waitedMs === 0) this.log.warn(`speaker: ${error.message}; the queue waits, trying again every ${SHORTAGE_RETRY_MS / 1000} s`, { track: track.id });
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, SHORTAGE_RETRY_MS);
          this.wakeRetry = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wakeRetry = null;
        if (this.aborted) return;
      }
    } catch (error) {
      if (this.aborted) return;
      const message = (error as Error).message;
      this.log.warn(`speaker: ${message}; skipping to the next track`, { track: track.id });
      track.error = message;
      track.segEnd = this.buffer.fifo.writeOffset;
    } finally {
      this.input?.close();
      this.events.done();
    }
  }

  /** Opens the track and writes it all to the buffer (`waitedMs`: how long the server's shortage held it back). */
  private async load(track: Track, waitedMs: number): Promise<void> {
    const input = await this.openInput(track);
    this.input = input;
    if (this.aborted) return;
    track.format = input.format;
    if (input.durationUs !== undefined) track.durationUs = input.durationUs;
    const target = this.events.target(input.format);
    if (target === null) {
      track.awaitingFormat = input.format;
      track.unload();
      return;
    }
    track.awaitingFormat = null;
    this.frameBytes = bytesPerFrame(target);
    const converter: PcmConverter = await createConverter(input.format, target, { seed: this.options.ditherSeed });
    const sliceBytes = bytesPerFrame(input.format) * Math.max(1, Math.floor((MAX_CONVERTED_FRAMES * input.format.rate) / target.rate));
    for (let blocks = 0; ; blocks++) {
      const block = await input.read();
      if (this.aborted) return;
      if (!block) break;
      // Said at its first audio: a decoder that could not fork opened, and failed at its first read.
      if (blocks === 0 && waitedMs > 0) this.log.info(`speaker: ${track.name} loads after waiting ${waitedMs / 1000} s for the server's resources`, { track: track.id });
      for (let at = 0; at < block.length; at += sliceBytes) {
        if (at > 0) await yieldToOthers();
        // Whole as it came at any usual rate: no view per block.
        const slice = sliceBytes >= block.length ? block : block.subarray(at, at + sliceBytes);
        if (!(await this.write(converter.convert(slice)))) return;
      }
    }
    if (!converter.identity && !(await this.write(converter.flush()))) return;
    track.segEnd = this.buffer.fifo.writeOffset;
  }

  /** Writes `bytes` as room comes, in whole frames; false if aborted meanwhile. */
  private async write(bytes: Uint8Array): Promise<boolean> {
    let at = 0;
    while (at < bytes.length) {
      if (this.aborted) return false;
      const room = this.buffer.fifo.free - (this.buffer.fifo.free % this.frameBytes);
      if (room === 0) {
        await new Promise<void>((resolve) => (this.waitingForRoom = resolve));
        continue;
      }
      const n = Math.min(room, bytes.length - at);
      this.buffer.fifo.write(at === 0 && n === bytes.length ? bytes : bytes.subarray(at, at + n));
      at += n;
      this.events.written();
    }
    return !this.aborted;
  }
}
