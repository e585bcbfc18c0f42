/**
 * One track of the speaker's queue, from `queue` to how it ended. Offsets
 * place it twice: in the decoded-ahead buffer (`segStart`..`segEnd`, where
 * its converted audio was written) and in the output stream of the current
 * session (`emitStart`..`emitEnd`, where that audio went out), so the
 * playhead tells when it starts and ends playing.
 */
import { cutText } from "../foundation/cut_text.ts";
import type { SampleFormat } from "../protocol/sample_format.ts";
import type { HeldFile } from "./track_input.ts";

/** A media name in a log line is cut to this (loggedName). */
const LOGGED_NAME_CHARS = 120;

/** A media name as a log line carries it: a queue request chose its length (up to 1024), not the log. */
export function loggedName(name: string): string {
  return cutText(name, LOGGED_NAME_CHARS);
}

/** How a track ended, as `status` and the hooks' PACER_TRACK_STATUS say it. */
export type TrackEnd = "played" | "cancelled" | "failed";

export class Track {
  /** Where its audio lies in the decoded-ahead buffer; null until loading starts, segEnd null while it loads. */
  segStart: number | null = null;
  segEnd: number | null = null;
  /** Where its audio lies in the session's output stream; null until it is handed over. */
  emitStart: number | null = null;
  emitEnd: number | null = null;
  /** The playhead has reached it (on_start has run). */
  started = false;
  /** Resolves once its on_start hook has run (track_hooks.ts): its on_finish waits for that. */
  startHook: Promise<void> = Promise.resolve();
  /** Set once; the end is reported when the playhead passes emitEnd (or at once if it never played). */
  end: TrackEnd | null = null;
  /** Why it failed, one line. */
  error: string | null = null;
  cancelled = false;
  format: SampleFormat | null = null;
  /**
   * With an output that follows each track's format (alsa:…?follow=1): the format this track is
   * in, while the outputs still play another. It loads once they have been reopened in it.
   */
  awaitingFormat: SampleFormat | null = null;
  /** Known for WAV at open; for decoded tracks once fully decoded. */
  durationUs: number | null = null;
  /** Media time each of the session's outputs lost of it, µs; null while none lost any. */
  lostUs: Float64Array | null = null;
  /** Played, but the most any output lost of it, s (status's lost_s); null: nothing, or not ended. */
  lostS: number | null = null;
  /** Handed over straight after audio still playing, so a wait for its first bytes is a gap heard. */
  seamless = false;
  /** How long the outputs waited for its audio while it loaded, µs (StarveWatch; status's starved_s). */
  starvedUs = 0;
  /** Its load waited for the server's descriptors or processes (track_loader.ts): a wait for its audio is theirs, not its decoder's. */
  heldByShortage = false;

  constructor(
    readonly id: string,
    /** The media name as the client gave it; logs and replies use this, never the real path. */
    readonly name: string,
    /** The resolved path under the media root. */
    readonly path: string,
    /** Opens it beneath the media root when it loads (QueueRequest.open). */
    readonly open?: () => Promise<HeldFile>,
    /** Who queued it (QueueRequest.owner), for a client's share of the queue. */
    readonly owner?: string,
  ) {}

  /** Whether its audio is (being) written to the buffer. */
  get loaded(): boolean {
    return this.segStart !== null;
  }

  /** Back in the queue after its outputs failed before it began: loaded and handed over again. */
  requeue(): void {
    this.unload();
    this.emitStart = this.emitEnd = null;
    this.lostUs = null;
    this.starvedUs = 0;
    this.heldByShortage = false;
  }

  /** `us` of it never reached output `output` (of `outputs`). */
  addLoss(output: number, outputs: number, us: number): void {
    (this.lostUs ??= new Float64Array(outputs))[output]! += us;
  }

  /** Forgets its place in the buffer: it is loaded again from the start when its turn comes. */
  unload(): void {
    this.segStart = this.segEnd = null;
    this.error = null;
  }
}
