/**
 * One output of a job, with its own send events. Each send event takes the
 * next unit from this destination's reader (converted PCM, whole packets:
 * see unit_reader.ts), hands it to the backend, and schedules the next event
 * at `anchor + mediaTime(next unit)` minus the backend's lead, so
 * destinations never drift and never wait on each other. The destination
 * paces, waits out starvation, and offers a stream backend the rest of a
 * unit it could not take yet; it knows nothing of the stream's format.
 *
 * It also keeps the account of what its output lost: media its reader
 * dropped (skipped ahead when it fell too far behind the job's other
 * outputs, or given up on at the end of the stream) and what the backend
 * itself dropped (`counters.lostBytes`), against the stream's span.
 */
import type { Backend, UnitTiming } from "../backends/backend.ts";
import { PacedSchedule } from "../scheduler/paced_schedule.ts";
import type { Scheduler, Timer } from "../scheduler/scheduler.ts";
import { takeSendPacing } from "../scheduler/pacing_blocks.ts";
import type { SendPacing } from "../scheduler/send_pacing.ts";
import type { ReadAheadBuffer } from "./read_ahead.ts";
import type { UnitReader } from "./unit_reader.ts";

/**
 * A starving destination looks for data again this often for STARVE_FAST_US, then twice as long
 * each time up to STARVE_RETRY_MAX_US; data arriving wakes it at once (wake). The first second
 * keeps a live input's stalls as they were (an empty read past the latency is what makes the
 * latency hold buffer again: latency_hold.ts). Every 2 ms for ever, an idle speaker's rtp://
 * output (its session stays open) kept the loop in precise sleeps, which starved the server's
 * file system work: `list` of 2000 files took 0.4 s before a track and never ended after.
 */
const STARVE_RETRY_US = 2_000;
const STARVE_FAST_US = 1_000_000;
const STARVE_RETRY_MAX_US = 50_000;
/**
 * A destination starved this long with part of a unit in hand sends that part: a live input has
 * stalled (or ended without saying so), and what was received must not wait for the rest.
 */
const PARTIAL_AFTER_US = 50_000;
/** A stream backend that took only part of a unit is offered the rest this much later. */
const BACKPRESSURE_RETRY_US = 2_000;
/**
 * A full backend (a sender thread behind) says when it has room again (ready); this is only the
 * latest the unit is offered again. A thousand destinations looking every few ms would take the
 * CPU the thread needs to catch up.
 */
const FULL_RETRY_US = 100_000;
/** Hand-overs to a backend with a lead (a sender thread) fall on this grid, µs: see onSend. */
const HANDOVER_GRID_US = 1_000;
/** How many units late a sender may be and still catch up in a burst before re-anchoring. */
const MAX_BURST_UNITS = 16;
/** ...but never re-anchor over less than this, so scheduler hiccups don't cost timing. */
const MIN_CATCH_UP_US = 20_000;

/** What a destination needs from its job. */
export interface DestinationHost {
  readonly scheduler: Scheduler;
  /** The job's read-ahead buffer, where a unit sent in place lies (read it each time: see SharedInput.ring). */
  readonly ring: ReadAheadBuffer;
  destinationDone(destination: Destination): void;
}

export type DestinationState = "running" | "done" | "failed" | "stopped";

export class Destination {
  state: DestinationState = "running";
  error: Error | null = null;
  gaps = 0;
  startedAt = 0;
  /** Times this destination skipped ahead because it fell too far behind the others. */
  skipsAhead = 0;
  /** Set when the job gave up on it at the end of the stream (it was still behind). */
  givenUp = false;
  /** Media time its reader dropped (skips ahead, given up), µs. */
  private droppedUs = 0;
  private startMediaUs = 0;
  readonly pace: PacedSchedule;
  /**
   * Its units go to the backend where they lie in the job's read-ahead buffer, not copied out
   * first: the reader can leave them there, and the backend's sender reads them from there.
   */
  readonly inPlace: boolean;
  private readonly timer: Timer;
  private readonly unit: Buffer;
  private starving = false;
  private starvedAt = 0;
  private starveRetryUs = STARVE_RETRY_US;
  /**
   * The backend took part of the last unit, or none of a partial one: the rest goes at the retry
   * whatever else has come, not after another PARTIAL_AFTER_US of starving (a second gap).
   */
  private restPending = false;
  /** Its backend was full at its last send event: `ready` offers the unit again. */
  private waitingForRoom = false;
  private readonly ready = () => {
    if (this.waitingForRoom && this.state === "running") this.host.scheduler.schedule(this.timer, this.host.scheduler.now());
  };
  private marker = true;
  /** Its backend has taken a unit: the stream's lead (aheadUs) was sent. */
  private began = false;
  private readonly timing: UnitTiming = { sendUs: 0, frame: 0, marker: true, dueUs: 0 };
  /** When the next unit is due (scheduler time); its send event fires the backend's `leadUs` earlier. */
  private dueUs = 0;
  /** Gaps between sends and the largest burst, from the send events' own `now` (send_pacing.ts). */
  private readonly ownPacing = takeSendPacing();
  /** Where the current stretch of the timeline began: the lead sent at once before it is not pacing. */
  private segmentStartUs = 0;
  /** When the last unit its backend took is due: one with a lead (a sender thread) may hold it yet. */
  private takenDueUs = -Infinity;

  constructor(
    private readonly host: DestinationHost,
    readonly backend: Backend,
    /** Where this destination's units come from, and its place in the job's read-ahead buffer. */
    readonly reader: UnitReader,
  ) {
    this.unit = Buffer.alloc(backend.unitBytes);
    this.inPlace = reader.nextInPlace !== undefined && backend.sendInPlace !== undefined;
    this.pace = new PacedSchedule(Math.max(MIN_CATCH_UP_US, MAX_BURST_UNITS * reader.unitUs) + backend.aheadUs);
    this.timer = host.scheduler.timer("send", Destination.fire, this);
  }

  /** Its pacing: as a sender thread measured it on the wire, or from its own send events. */
  get pacing(): SendPacing {
    return this.backend.pacing ?? this.ownPacing;
  }

  get label(): string {
    return this.backend.label;
  }

  get active(): boolean {
    return this.state === "running";
  }

  /** Its output would not take all it was offered at the last send event (a stream backend full): it waits on the output, not on its input. */
  get pushedBack(): boolean {
    return (this.restPending || this.waitingForRoom) && !this.starving;
  }

  /**
   * Starts sending: the first unit goes now, and every unit is due `aheadUs` before its media
   * time, so the backend's lead (an RTP jitter allowance, ALSA's queued periods) is sent at once.
   */
  start(now: number): void {
    this.startedAt = now;
    this.segmentStartUs = now;
    this.startMediaUs = this.reader.mediaUs();
    this.pace.start(now, this.startMediaUs);
    this.sendAt(now, now);
  }

  /**
   * The process was stopped for `us` (SIGTSTP, then SIGCONT) and goes on at `now`: the schedule
   * moves on by the stop, the unit overdue since goes at once, and the stretch from here is
   * measured afresh. Left to the late send event, the stop was a re-anchor, and `play` said the
   * output "ran 1.5 s behind real time (this host could not keep up …)" after a Ctrl-Z and `fg`.
   */
  suspended(us: number, now: number): void {
    if (this.state !== "running") return;
    this.pace.shift(us);
    this.newStretch(now);
  }

  /** New data arrived: a starving destination tries again now. */
  wake(): void {
    if (this.starving && this.state === "running") this.host.scheduler.schedule(this.timer, this.host.scheduler.now());
  }

  stop(): void {
    if (this.state !== "running") return;
    this.state = "stopped";
    this.host.scheduler.cancel(this.timer);
  }

  fail(error: Error): void {
    if (this.state !== "running") return;
    this.state = "failed";
    this.error = error;
    this.host.scheduler.cancel(this.timer);
    this.host.destinationDone(this);
  }

  /**
   * The job needs the buffer below `offset`, and this destination's output (a stream backend that
   * pushes back) is still there: it moves on to `offset`, the skipped media counted lost, and
   * sends from there at once (a new timeline segment, like a gap). Also a listener's skip to the
   * next input (`lost` false).
   */
  skipTo(offset: number, now: number, lost = true): void {
    if (this.state !== "running") return;
    const skippedUs = this.reader.skipTo(offset, lost);
    // A listener's skip (Job.nextInput) is no loss.
    if (lost) {
      this.droppedUs += skippedUs;
      this.skipsAhead++;
    }
    this.marker = true;
    this.restPending = false;
    // A listener's skip on an output placed by its timestamps: its clock held (no time passed),
    // so its schedule goes on, and the next input's first unit goes when the one it replaces was due.
    if (!lost && this.began && !this.backend.pushesBack) return this.newStretch(now);
    const at = this.resumeAt(now);
    this.restart(at);
    this.sendAt(at, now);
  }

  /** The end of the stream passed long ago and this output is still behind: what it has not taken is lost. */
  giveUp(): void {
    if (this.state !== "running") return;
    this.stop();
    this.givenUp = true;
    this.droppedUs += this.reader.dropRest();
  }

  /** Media time this output lost, µs: what its reader dropped and what its backend took but never delivered. */
  lostUs(): number {
    return this.droppedUs + this.reader.outputUs(this.backend.counters.lostBytes);
  }

  /** Media time of the stream this output covered, from its first unit to where it ended, µs (gaps included). */
  spanUs(): number {
    return this.reader.mediaUs() - this.startMediaUs;
  }

  /** Every destination's send event, one function (Timer.owner). */
  private static readonly fire = (timer: Timer, now: number): void => (timer.owner as Destination).onSend(now);

  private onSend(now: number): void {
    if (this.state !== "running") return;
    const reader = this.reader;
    const backend = this.backend;
    // A full backend takes nothing: the unit stays unread and due when it was, so a sender thread
    // (earliest due first) never puts the next one before it; ready() offers it again.
    this.waitingForRoom = backend.full?.(this.ready) ?? false;
    if (this.waitingForRoom) return this.sendAt(this.dueUs, now + FULL_RETRY_US);
    const inPlace = this.inPlace ? reader.nextInPlace!(this.unit.length) : -1;
    let length = inPlace >= 0 ? inPlace : reader.next(this.unit);
    const stalled = this.starving && now - this.starvedAt >= PARTIAL_AFTER_US;
    if (length === 0 && reader.nextPartial && (this.restPending || stalled)) {
      length = reader.nextPartial(this.unit, stalled);
    }
    if (length === 0) {
      if (reader.ended()) {
        this.state = "done";
        this.host.destinationDone(this);
        return;
      }
      // Starving: the reader has asked for input; look again soon, or when it arrives (wake).
      if (!this.starving) {
        this.starving = true;
        this.starvedAt = now;
        this.starveRetryUs = STARVE_RETRY_US;
      } else if (now - this.starvedAt >= STARVE_FAST_US) {
        this.starveRetryUs = Math.min(STARVE_RETRY_MAX_US, 2 * this.starveRetryUs);
      }
      // ...and no later than when part of a unit in hand is due to go (PARTIAL_AFTER_US).
      const partialAt = this.starvedAt + PARTIAL_AFTER_US;
      const retry = now < partialAt ? Math.min(now + this.starveRetryUs, partialAt) : now + this.starveRetryUs;
      this.sendAt(retry, retry);
      return;
    }
    if (this.starving) this.resumeAfterGap(now);
    const deadline = this.dueUs;
    const timing = this.timing;
    timing.dueUs = deadline;
    timing.sendUs = Math.max(0, deadline - this.startedAt);
    timing.frame = reader.frame;
    timing.marker = this.marker;
    let taken: number;
    try {
      if (inPlace > 0) {
        const ring = this.host.ring;
        taken = backend.sendInPlace!(ring.shared, reader.position, ring.positionOf(reader.position), length, timing);
      } else {
        taken = backend.send(length === this.unit.length ? this.unit : this.unit.subarray(0, length), timing);
      }
    } catch (error) {
      this.fail(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    // A backend may also fail this destination from inside send (ctx.fail): then nothing more is due.
    if (this.state !== "running") return;
    if (taken > 0) {
      this.marker = false;
      this.began = true;
      this.takenDueUs = deadline;
      // A backend that measures its own (a sender thread, on the wire) needs no second count here.
      if (deadline >= this.segmentStartUs && this.backend.pacing === undefined) this.ownPacing.record(now, deadline);
    }
    reader.advance(taken);
    this.restPending = taken < length;
    if (taken < length) {
      this.sendAt(now + BACKPRESSURE_RETRY_US, now + BACKPRESSURE_RETRY_US);
      return;
    }
    // Never due before the unit just sent: a backend's lead of media (ahead) puts the first
    // units' media time before the start, and a sender thread sends earliest due first.
    const due = Math.max(deadline, this.pace.deadline(reader.mediaUs() - this.backend.aheadUs, now));
    const lead = this.backend.leadUs ?? 0;
    if (lead === 0) return this.sendAt(due, due);
    // Handed over on a grid, so that many destinations' hand-overs share one wake-up of this
    // thread (one each cost a precise sleep: at 1000 streams, a core of system time); and one
    // already within the lead at once, which is on time, not late.
    this.sendAt(due, Math.max(Math.floor((due - lead) / HANDOVER_GRID_US) * HANDOVER_GRID_US, Math.min(due, now)));
  }

  /**
   * The next unit is due at `due`; its send event fires at `handOver`: the backend's lead earlier
   * (a sender thread sends it at `due` itself), or at once for a retry or a new start.
   */
  private sendAt(due: number, handOver: number): void {
    this.dueUs = due;
    this.host.scheduler.schedule(this.timer, handOver);
  }

  /** After a gap the timeline moves on by the time lost: RTP timestamps advance across it (RFC 3551 marker rule). */
  private resumeAfterGap(now: number): void {
    this.starving = false;
    this.gaps++;
    this.reader.skipGap(now - this.starvedAt);
    this.marker = true;
    const at = this.resumeAt(now);
    this.restart(at);
    this.dueUs = at;
  }

  /**
   * When a new stretch of the schedule may begin: now, but never before a unit the backend already
   * took is due. A sender thread holds what it was handed over (up to its lead) and sends earliest
   * due first: a unit due before those would leave before them, out of order.
   */
  private resumeAt(now: number): number {
    return Math.max(now, this.takenDueUs);
  }

  /**
   * A new stretch of the schedule from `now`, with the reader's next unit. An output that pushes
   * back (a sound card, a pipe) is sent its lead (aheadUs) again at once, as far as it has room:
   * what it held has played out. Datagrams are not pushed back, and their receivers place them by
   * their timestamps, which moved on with the time passed: so once sent, their lead goes on as it
   * was. Sent again, it added up: an RTP stream 20, 40, 60 ms ahead of its timestamps after each gap.
   */
  private restart(now: number): void {
    const lead = this.backend.pushesBack || !this.began ? 0 : this.backend.aheadUs;
    this.pace.start(now + lead, this.reader.mediaUs());
    this.newStretch(now);
  }

  /** What is sent from `now` on is a new stretch of the timeline: its pacing is measured afresh. */
  private newStretch(now: number): void {
    this.segmentStartUs = now;
    this.ownPacing.restart();
  }
}
