/**
 * What every network input shares: the queue of received bytes, the poll that fills it, and the
 * account of what went wrong on the way in (lost and late packets, stalls, a full queue, the
 * kernel's drops), each reported as an InputGap at the stream offset where it happened. A live
 * input has no end of its own: when it stops it is waited for (a stall), until it is closed.
 * Stalls are lengths, timed on the monotonic clock; the wall clock only dates the gaps.
 *
 * @example
 * ```ts
 * const input = liveInput("udp://@:5000", { poll: (push, _now, room) => (rx.drain(push, room), room < MAX_DATAGRAM), close: () => rx.close() });
 * input.onGap = (gap) => log.warn(gap.what);
 * ```
 */
import { MAX_DATAGRAM } from "../foundation/net/udp_receive.ts";
import { LiveQueue } from "./live_queue.ts";
import { SOURCE_END } from "./source.ts";
import type { StreamSource } from "./stream_source.ts";

/** How often the socket is drained: with a 16 MiB socket buffer, far inside what it can hold. */
export const POLL_MS = 2;
/** No data for this long, after data came, is a stall (reported when data comes back). */
export const STALL_MS = 1_000;
/** Received bytes queued at most, unread (0.67 s of 100 Mbit/s). */
export const QUEUE_BYTES = 8 << 20;

export type GapKind = "lost" | "late" | "stall" | "overflow" | "kernel" | "overrun" | "dropped" | "format";

/** One piece of damage on the way in. */
export interface InputGap {
  kind: GapKind;
  /** Packets (lost, late, kernel, dropped), milliseconds (stall) or bytes (overflow). */
  count: number;
  /** Stream offset (bytes received and kept before it) where the damage falls. */
  streamOffset: number;
  /** Wall-clock time (Unix ms) it was noticed; for a stall, when the input stopped. */
  wallMs: number;
  /** In words, for a log line: "3 RTP packets lost (seq 1201-1203)". */
  what: string;
}

export interface LiveStats {
  datagrams: number;
  /** Bytes kept (after RTP headers are stripped). */
  bytes: number;
  /** Packets lost (RTP sequence gaps), late or duplicate (dropped). */
  lost: number;
  late: number;
  duplicates: number;
  /** Datagrams that were not RTP. */
  malformed: number;
  /** Datagrams longer than MAX_DATAGRAM: cut by the kernel, so left out. */
  tooLong: number;
  /** RTP packets far out of sequence that no packet followed (a stray, not a restart). */
  strays: number;
  /** RTP packets from a second sender (another SSRC) that its own next packet did not follow: no hole in the stream followed, so no gap. */
  otherSource: number;
  stalls: number;
  /** Ms without a byte before the input was finished (STALL_MS or more, after data came; else 0): a source gone before the recording's end. */
  silentAtEndMs: number;
  overflowBytes: number;
  /** The kernel's drops on a full socket buffer, or null where it does not say. */
  kernelDrops: number | null;
  /** Gap events: RTP loss runs, stalls, overflows, kernel drop bursts, datagrams dropped as too long, not RTP or strays. */
  gaps: number;
  /** Times an RTP input's payload type changed (the sender's format): not a gap, but what follows is taken as it came. */
  formatChanges: number;
}

export interface LiveSource extends StreamSource {
  readonly live: true;
  readonly stats: LiveStats;
  /** Called for each gap as it is found. */
  onGap: ((gap: InputGap) => void) | null;
  /** Unix ms of the first byte, or null before any. */
  readonly firstArrivalMs: number | null;
  /** Ends the input as if it had finished (what is queued is still read); for --duration. */
  finish(): void;
}

export interface LiveFeed {
  /**
   * Moves what has arrived into the queue through `push`; `now` is performance.now() ms (a feed
   * times lengths by it: how long RTP's reorder holds a hole). A feed that can
   * leave the rest where it waits (a socket's buffer) pushes no more than `room` bytes: the queue
   * would refuse them, and the kernel's buffer behind it would have held them. Returns true when
   * `room` was too small for it to take anything: then the reader is behind, not the input.
   */
  poll(push: (bytes: Uint8Array) => void, now: number, room: number): boolean;
  /** The kernel's drop count so far, where known. */
  kernelDrops?(): number | null;
  /** A capture device's overruns so far (its buffer filled before it was read: samples lost). */
  overruns?(): number;
  /** Called after the last poll. */
  close(): void;
}

/** `wallClock` (Unix ms, default Date.now) dates the gaps; a test steps it. */
export function liveInput(label: string, feed: LiveFeed, stats: LiveStats = newLiveStats(), wallClock: () => number = Date.now): LiveSource {
  const queue = new LiveQueue(QUEUE_BYTES);
  let ended = false;
  let closed = false;
  /** When the last bytes came: on the wall clock, to date a stall; on the monotonic one, to time it. */
  let lastArrivalMs = 0;
  let lastArrivalMono = 0;
  let firstArrivalMs: number | null = null;
  let stalledSince: number | null = null;
  let reportedOverflow = 0;
  let reportedKernel = 0;
  let reportedOverruns = 0;
  const tooLong = new DropEpisodes(`longer than ${MAX_DATAGRAM} bytes`);
  const malformed = new DropEpisodes("not RTP");
  const strays = new DropEpisodes("RTP far out of sequence, and none followed");
  /** One gap per episode, once a poll adds none (or at the end): a flood of junk is one gap, not one a poll. */
  const droppedEpisode = (e: DropEpisodes, count: number, now: number, ended = false) => {
    if (count > e.seen && !ended) {
      e.seen = count;
      return;
    }
    e.seen = count;
    if (e.seen > e.reported) gap("dropped", e.seen - e.reported, now, `${datagrams(e.seen - e.reported)} dropped: ${e.why}`);
    e.reported = e.seen;
  };

  /** `at`: where in the stream it is; by default after what has arrived so far. */
  const gap = (kind: GapKind, count: number, wallMs: number, what: string, at = queue.received) => {
    stats.gaps++;
    source.onGap?.({ kind, count, streamOffset: at, wallMs, what });
  };
  const push = (bytes: Uint8Array) => {
    if (!queue.push(bytes)) return;
    stats.bytes += bytes.length;
  };
  const tick = () => {
    const now = wallClock();
    // A wall clock stepped on an hour between two polls was a stall of an hour (in the gap log, and
    // `stalls 1` for a stream that lost nothing); stepped back, a real one went unseen for the hour.
    const mono = performance.now();
    const before = queue.received;
    const refusedBefore = queue.overflowBytes;
    const full = feed.poll(push, mono, queue.room);
    const drops = feed.kernelDrops?.() ?? null;
    stats.kernelDrops = drops;
    if (drops !== null && drops > reportedKernel) {
      gap("kernel", drops - reportedKernel, now, `${drops - reportedKernel} datagrams dropped by the kernel (socket buffer full)`);
      reportedKernel = drops;
    }
    const overruns = feed.overruns?.() ?? 0;
    if (overruns > reportedOverruns) {
      gap("overrun", overruns - reportedOverruns, now, `${overruns - reportedOverruns} capture overruns (samples lost: the device's buffer filled)`);
      reportedOverruns = overruns;
    }
    // Datagrams that came but carried nothing kept: their bytes are missing here as lost ones are.
    droppedEpisode(tooLong, stats.tooLong, now);
    droppedEpisode(malformed, stats.malformed, now);
    droppedEpisode(strays, stats.strays, now);
    stats.overflowBytes = queue.overflowBytes;
    if (queue.overflowBytes > reportedOverflow && queue.overflowBytes === refusedBefore) {
      // One event per overflow episode, when it is over.
      gap("overflow", queue.overflowBytes - reportedOverflow, now, `${queue.overflowBytes - reportedOverflow} bytes dropped: the reader fell behind`);
      reportedOverflow = queue.overflowBytes;
    }
    if (queue.received > before) {
      firstArrivalMs ??= now;
      if (stalledSince !== null) {
        stats.stalls++;
        // Between the bytes before it and those that ended it (this poll's, already queued).
        gap("stall", mono - lastArrivalMono, lastArrivalMs, `input stalled for ${((mono - lastArrivalMono) / 1000).toFixed(1)} s`, before);
        stalledSince = null;
      }
      lastArrivalMs = now;
      lastArrivalMono = mono;
      queue.wake();
      source.onReadable?.();
    } else if (full) {
      // Nothing taken because the queue is full: the reader is behind, not the input (what comes
      // meanwhile waits in the socket's buffer).
      if (lastArrivalMs) {
        lastArrivalMs = now;
        lastArrivalMono = mono;
      }
    } else if (lastArrivalMs && stalledSince === null && mono - lastArrivalMono >= STALL_MS) {
      stalledSince = mono; // counted when data returns: a stream that has simply ended is no stall
    }
  };
  const timer = setInterval(tick, POLL_MS);

  const source: LiveSource = {
    label,
    live: true,
    stats,
    onGap: null,
    onReadable: null,
    get firstArrivalMs() {
      return firstArrivalMs;
    },
    get ended() {
      return ended;
    },
    get available() {
      return queue.length;
    },
    read(target, at, length) {
      const n = queue.read(target, at, length);
      if (n > 0) return n;
      return ended ? SOURCE_END : 0;
    },
    async peek(n, signal) {
      while (queue.length < n && !ended && !signal?.aborted) {
        const more = queue.waitForMore();
        if (signal) {
          await Promise.race([more, new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }))]);
        } else {
          await more;
        }
      }
      return queue.copyHead(n);
    },
    rewind: () => false,
    finish() {
      if (closed) return;
      tick();
      const now = wallClock();
      // Not a stall (nothing came after it: the stream may have ended), but the run's tail is empty.
      if (stalledSince !== null) stats.silentAtEndMs = performance.now() - lastArrivalMono;
      droppedEpisode(tooLong, stats.tooLong, now, true);
      droppedEpisode(malformed, stats.malformed, now, true);
      droppedEpisode(strays, stats.strays, now, true);
      source.close();
      source.onReadable?.();
    },
    close() {
      if (closed) return;
      closed = true;
      ended = true;
      clearInterval(timer);
      feed.close();
      queue.wake();
    },
  };
  return source;
}

const datagrams = (n: number) => `${n} datagram${n === 1 ? "" : "s"}`;

/** Datagrams a live input dropped, by why: the part of its stats record's summary words. */
export type DroppedCounts = Pick<LiveStats, "late" | "duplicates" | "strays" | "otherSource" | "malformed" | "tooLong">;

/** `dropped D datagrams (late L, duplicate U, stray S, another source O, malformed M, too long T (over 9216 bytes))`, naming only the nonzero; "" when none. */
export function describeDropped(dropped: DroppedCounts): string {
  const { late, duplicates, strays, otherSource, malformed, tooLong } = dropped;
  const total = late + duplicates + strays + otherSource + malformed + tooLong;
  if (total === 0) return "";
  const parts = [["late", late], ["duplicate", duplicates], ["stray", strays], ["another source", otherSource], ["malformed", malformed]]
    .filter(([, n]) => n !== 0)
    .map(([why, n]) => `${why} ${n}`);
  if (tooLong !== 0) parts.push(`too long ${tooLong} (over ${MAX_DATAGRAM} bytes)`);
  return `dropped ${datagrams(total)} (${parts.join(", ")})`;
}

/**
 * What a live input lost on the way in, for a command's last lines (`pacer play` as a gateway,
 * `pacer acquire`), in the words of record's summary: gaps, the kernel's drops, bytes the queue
 * refused and datagrams dropped, each named only when there were any; null when nothing was lost.
 */
export function inputDamage(stats: LiveStats): string | null {
  const parts: string[] = [];
  if (stats.gaps > 0) parts.push(`gaps ${stats.gaps} (lost packets ${stats.lost}, stalls ${stats.stalls})`);
  if (stats.kernelDrops) parts.push(`kernel drops ${stats.kernelDrops}`);
  if (stats.overflowBytes > 0) parts.push(`${stats.overflowBytes} bytes dropped (the reader fell behind)`);
  const dropped = describeDropped(stats);
  if (dropped) parts.push(dropped);
  const changes = formatChanges(stats.formatChanges);
  if (changes) parts.push(changes);
  return parts.length === 0 ? null : parts.join(", ");
}

/** "format changed 2 times (…)", or null: the words of record's and play's last lines. */
export function formatChanges(n: number): string | null {
  return n === 0 ? null : `format changed ${n === 1 ? "once" : `${n} times`} (an RTP payload type, a new source's WAV header: what followed was taken as it came)`;
}

/** Datagrams dropped for one reason: counted so far (seen), and reported as gaps (reported). */
class DropEpisodes {
  reported = 0;
  seen = 0;
  constructor(readonly why: string) {}
}

export function newLiveStats(): LiveStats {
  return { datagrams: 0, bytes: 0, lost: 0, late: 0, duplicates: 0, malformed: 0, tooLong: 0, strays: 0, otherSource: 0, stalls: 0, silentAtEndMs: 0, overflowBytes: 0, kernelDrops: null, gaps: 0, formatChanges: 0 };
}
