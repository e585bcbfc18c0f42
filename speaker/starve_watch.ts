/**
 * The speaker's look, from its tick, at outputs starved by a track's load: they have taken every
 * byte handed over while the track's decoder (or a slow read of its file) has not given the rest
 * yet, so what is heard is silence or an underrun. A stall is charged to the track as it ends
 * (`starvedUs`, status's `starved_s`; `starvedUs()` adds one going on), and logged once, naming the track and
 * how long the outputs waited: waits with less than MERGE_US of audio between them are one stall,
 * so a decoder slower than real time (a wait per block it gives) is one line, not one a block.
 *
 * @example
 * ```ts
 * const watch = new StarveWatch(log);
 * watch.look(now, outputsCaughtUp ? loadingTrack : null); // each tick
 * watch.close(now, track);                                  // the track ended
 * ```
 */
import type { Logger } from "../foundation/log.ts";
import { US_PER_S } from "../scheduler/clock.ts";
import { loggedName, type Track } from "./track.ts";

/** Waits this close together (audio flowing between them) are one stall, logged once. */
const MERGE_US = 1 * US_PER_S;
/**
 * A stall shorter than this is neither logged nor counted: a wait is seen a tick at a time, and
 * the next track's file opening as the outputs caught up showed as "waited 0.0 s".
 */
const MIN_STALL_US = 50_000;

export class StarveWatch {
  /** The track of the stall being watched, or null. */
  private track: Track | null = null;
  /** Whether its outputs wait now (at the last look). */
  private waiting = false;
  private lastLookUs = 0;
  /** When audio last began to flow again in this stall. */
  private flowingSinceUs = 0;
  /** This stall's waits: their count and their total, µs. */
  private waits = 0;
  private waitedUs = 0;

  constructor(private readonly log: Logger) {}

  /** Each tick: `starving` is the track whose audio the outputs wait for now, or null. */
  look(now: number, starving: Track | null): void {
    const track = this.track;
    if (track !== null && this.waiting) this.waitedUs += now - this.lastLookUs;
    this.lastLookUs = now;
    if (track !== null && starving === track) {
      if (!this.waiting) this.waits++;
      this.waiting = true;
      return;
    }
    if (this.waiting) this.flowingSinceUs = now;
    this.waiting = false;
    if (track !== null && (starving !== null || now - this.flowingSinceUs >= MERGE_US)) this.report();
    if (starving !== null) {
      this.track = starving;
      this.waiting = true;
      this.waits = 1;
      this.waitedUs = 0;
    }
  }

  /** How long the outputs have waited for `track`'s audio, µs, a stall going on included. */
  starvedUs(track: Track): number {
    return track.starvedUs + (this.track === track ? this.waitedUs : 0);
  }

  /** The stall on `track` (any track, without one) is over: the track or the session ended. */
  close(now: number, track: Track | null = this.track): void {
    if (this.track === null || this.track !== track) return;
    if (this.waiting) this.waitedUs += now - this.lastLookUs;
    this.waiting = false;
    this.report();
  }

  private report(): void {
    const track = this.track!;
    this.track = null;
    if (this.waitedUs < MIN_STALL_US) return;
    track.starvedUs += this.waitedUs;
    const waited = (this.waitedUs / US_PER_S).toFixed(1);
    const stalls = this.waits > 1 ? ` (${this.waits} waits less than ${MERGE_US / US_PER_S} s apart)` : "";
    // A track held back by the server's shortage (said when it began) was blamed on its decoder.
    const why = track.heldByShortage ? "the server was short of descriptors or processes to load it" : "its decoder or its file gives it slower than real time";
    this.log.warn(`speaker: the output waited ${waited} s for this track's audio${stalls}: ${why}`, {
      track: track.id,
      media: loggedName(track.name),
    });
  }
}
