/**
 * Sender threads: udp:// and rtp:// destinations spread over Workers (thread.ts) that own their
 * sockets and put each datagram on the wire when it is due. The main thread keeps the job's
 * loads, pacing decisions, control and logging; its send events hand each datagram over through
 * a shared ring a lead (LEAD_US) ahead. So the cost of the system calls moves off the main
 * thread, and a main thread held up by a load, a burst of control requests or a collection
 * no longer makes datagrams late, up to the lead.
 *
 * A destination goes to the thread with the fewest, and threads start as destinations need them,
 * up to the configured count (`--senders N`; setSenderThreads): one destination uses one thread.
 * Errors and losses come back by destination and are counted and logged against it there, as
 * for a sender on the main thread; `status` and `/metrics` show each thread's send lateness
 * summed as the kind "wire".
 *
 * @example
 * ```ts
 * setSenderThreads(2);
 * const sender = await openThreadedSender(dest, options, counters, scheduler, report); // null: send on this thread
 * sender?.send(datagram, dueUs);
 * await sender?.close();
 * ```
 */
import { availableParallelism } from "node:os";
import { PacerError, UsageError } from "../../../foundation/errors.ts";
import { wholeNumberOrNull } from "../../../foundation/units.ts";
import { LatenessHistogram, type LatenessData } from "../../../scheduler/lateness.ts";
import { RealClock } from "../../../scheduler/clock.ts";
import type { Scheduler, Timer } from "../../../scheduler/scheduler.ts";
import { SendPacing } from "../../../scheduler/send_pacing.ts";
import type { BackendCounters } from "../../backend.ts";
import type { UdpSender, UdpSenderOptions } from "../udp_sender.ts";
import { lostStreamBytes } from "../send_batcher.ts";
import type { SharedBytes } from "../../../foundation/shared_bytes.ts";
import { threadEntry } from "../../../foundation/thread_entry.ts";
import { HandOvers, PROGRESS_BYTES, progressView } from "./hand_overs.ts";
import { CLOSE_SLOT, HEADER_ROOM, INLINE_BYTES, INLINE_MAX, makeSenderRing, type SenderRing } from "./ring.ts";
import type { FromThread, ToThread } from "./thread.ts";

/**
 * How early a datagram is handed to its thread, µs. 20 ms: longer than the main thread's
 * measured hold-ups at 1000 destinations (5 to 14 ms at p99), short enough that a `stop` ends a
 * stream within it. PACER_SENDER_LEAD_US overrides it, for the bench.
 */
export const LEAD_US = wholeNumberOrNull(process.env.PACER_SENDER_LEAD_US, 1_000_000) ?? 20_000;
/**
 * Slots in each thread's ring: 16384 of 64 bytes (1 MiB of shared memory, touched when the thread
 * starts; datagrams read in place need no more). At 1500 streams of 1.5 Mbit/s (213,000
 * datagrams/s) that is 77 ms of hand-overs, well beyond the lead. PACER_SENDER_RING_SLOTS (a
 * power of two) overrides it, so a test can fill one.
 */
const RING_SLOTS = wholeNumberOrNull(process.env.PACER_SENDER_RING_SLOTS, 1 << 20) ?? 16_384;
/**
 * A thread that has not caught up (sent all that was due) for this long takes no more (`full`):
 * its destinations wait and go late, as they would on the main thread, rather than lose
 * datagrams. 50 ms: well inside the 0.1 s a job keeps behind its readers for the thread
 * (pipeline/job.ts), so the bytes of what it holds are never reused before it sends them; well
 * past the 4 ms a thread that keeps up goes between passes. The thread counts its catch-ups and
 * this thread times them on its own clock: no clock of the thread's is compared (a wall-clock
 * step between their starts would skew one), and not the age of its oldest datagram (one offered
 * again after a wait keeps its old due time, and would look like a thread behind).
 */
const BEHIND_LIMIT_US = 50_000;
/**
 * What a full thread keeps for what does not wait, per destination on it: three slots (an RTCP
 * report riding on a datagram, its BYE, its close), up to half the ring, with this many arena
 * bytes each (an RTCP compound is at most a few hundred).
 */
const RESERVE_SLOTS = 3;
const RESERVE_BYTES_PER_SLOT = 512;
/** How often a full thread is looked at, µs, while destinations wait for it: one timer, not one per destination. */
const ROOM_CHECK_US = 1_000;

/** The thread module, beside this one; the compiled binary embeds it as an entry point (npm run build). */
const THREAD = threadEntry("backends/net/senders/thread.ts");

/** `auto`: every core but the main thread's, at least one. */
export function defaultSenderThreads(): number {
  return Math.max(1, availableParallelism() - 1);
}

let configured: number | null = null;

/** The most sender threads one process may ask for. */
export const MAX_SENDER_THREADS = 64;

/**
 * `--senders N`: a whole number of threads, 0 to MAX_SENDER_THREADS, or `auto` (every core but
 * the main thread's, at least one); `option` names it in the error.
 */
export function parseSenderThreads(text: string, option: string): number {
  if (text === "auto") return defaultSenderThreads();
  if (!/^\d+$/.test(text) || Number(text) > MAX_SENDER_THREADS) {
    throw new UsageError(`${option} ${text}: give a whole number of sender threads from 0 (send on the main thread) to ${MAX_SENDER_THREADS}, or auto`);
  }
  return Number(text);
}

/** How many sender threads destinations may use; 0 sends on the main thread (`--senders`). */
export function setSenderThreads(count: number): void {
  configured = count;
}

/**
 * The default is 0, the main thread: on these 2-core hosts threads cost as much CPU or more, were
 * no more even in two sittings of the scale bench, and lost datagrams at 1500 streams where the
 * main thread lost none (README, "Sender threads"). PACER_SENDERS sets it for the bench and tests.
 */
export function senderThreads(): number {
  if (configured !== null) return configured;
  const fromEnv = process.env.PACER_SENDERS;
  if (fromEnv === "auto") return defaultSenderThreads();
  return wholeNumberOrNull(fromEnv, MAX_SENDER_THREADS) ?? 0;
}

interface Waiting {
  resolve(localPort: number): void;
  reject(error: Error): void;
}

interface ThreadDestination {
  counters: BackendCounters;
  report(kind: string, message: string): void;
  closed: (() => void) | null;
  /** The read-ahead buffer its in-place datagrams lie in, once the thread has it (shareMedia). */
  media: SharedMedia | null;
}

/** A read-ahead buffer a thread has been given: its id there, and how many of the thread's destinations use it. */
interface SharedMedia {
  readonly id: number;
  readonly bytes: SharedBytes;
  users: number;
  /** Resolves once the thread has it. */
  readonly ready: Promise<void>;
  isReady: boolean;
}

/** One sender thread, from the main thread's side. */
class SenderThread {
  readonly ring: SenderRing = makeSenderRing(RING_SLOTS);
  // The thread reads the main thread's time origin before anything else (its clock's alignment).
  readonly worker = new Worker(THREAD, { env: { ...process.env, PACER_MAIN_TIME_ORIGIN_MS: String(performance.timeOrigin) } });
  readonly destinations = new Map<number, ThreadDestination>();
  private readonly opening = new Map<number, Waiting>();
  /** Read-ahead buffers given to the thread, by buffer; their ids are reused once forgotten. */
  private readonly media = new Map<SharedArrayBuffer, SharedMedia>();
  private readonly mediaReady = new Map<number, () => void>();
  private readonly freeMediaIds: number[] = [];
  private nextMediaId = 0;
  private nextId = 0;
  /**
   * Ids of closed destinations, reused: the thread keeps its destinations in an array by id, so
   * a server that runs many short jobs keeps it as long as its most destinations at once.
   * Safe, since the thread's last word on an id ("closed") comes before the id is given again.
   */
  private readonly freeIds: number[] = [];
  lateness: LatenessData | null = null;
  failure: Error | null = null;
  /** Destinations that found the thread full, told (ready) when it has room again; each once. */
  private readonly waiting = new Set<() => void>();
  private readonly roomCheck: Timer;
  /** The thread's catch-up count when it last changed, and when (this thread's clock). */
  private catchUps = 0;
  private caughtUpAt: number;

  constructor(
    private readonly onLateness: () => void,
    private readonly scheduler: Scheduler,
  ) {
    this.roomCheck = scheduler.timer("retry", (_, now) => this.checkRoom(now));
    this.caughtUpAt = scheduler.now(); // a thread that never starts is behind after the limit
    this.worker.unref();
    this.worker.onmessage = (event: MessageEvent<FromThread>) => this.receive(event.data);
    this.worker.onerror = (event) => this.fail(new Error(`a sender thread failed: ${event.message}`));
    this.post({ type: "start", ring: this.ring.buffer, slots: this.ring.slots });
  }

  /**
   * True while the thread cannot take a datagram: its ring or its arena is full but for a reserve,
   * it has not caught up for BEHIND_LIMIT_US, or destinations already wait (they go first).
   * `ready` is then called once it has room again.
   */
  full(ready: () => void): boolean {
    const now = this.scheduler.now();
    const reserve = Math.min(this.ring.slots >> 1, RESERVE_SLOTS * this.destinations.size);
    if (this.waiting.size === 0 && this.hasRoom(now, reserve, reserve * RESERVE_BYTES_PER_SLOT + INLINE_MAX, BEHIND_LIMIT_US)) return false;
    if (this.waiting.size === 0) this.scheduler.schedule(this.roomCheck, now + ROOM_CHECK_US);
    this.waiting.add(ready);
    return true;
  }

  /** More than `slots` slots and `bytes` of arena free, and caught up within `withinUs`. */
  private hasRoom(now: number, slots: number, bytes: number, withinUs: number): boolean {
    const ring = this.ring;
    const catchUps = ring.catchUps();
    if (catchUps !== this.catchUps) {
      this.catchUps = catchUps;
      this.caughtUpAt = now;
    }
    return ring.free() > slots && ring.inlineFree() > bytes && now - this.caughtUpAt <= withinUs;
  }

  /** Room again, with a margin (a quarter of the ring and arena, half the limit), so that they do not stop again at once. */
  private checkRoom(now: number): void {
    if (this.failure === null && !this.hasRoom(now, this.ring.slots / 4, INLINE_BYTES / 4, BEHIND_LIMIT_US / 2)) {
      return this.scheduler.schedule(this.roomCheck, now + ROOM_CHECK_US);
    }
    // ready() only schedules its destination's send event: nothing is added meanwhile.
    for (const ready of this.waiting) ready();
    this.waiting.clear();
  }

  post(message: ToThread): void {
    this.worker.postMessage(message);
  }

  open(dest: { address: string; family: 4 | 6; port: number }, options: UdpSenderOptions, pacing: SharedArrayBuffer, destination: ThreadDestination): Promise<{ id: number; localPort: number }> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.freeIds.pop() ?? this.nextId++;
    return new Promise((resolve, reject) => {
      this.opening.set(id, {
        resolve: (localPort) => {
          this.destinations.set(id, destination);
          // A thread with destinations keeps the process alive until they are closed.
          if (this.destinations.size === 1) this.worker.ref();
          resolve({ id, localPort });
        },
        reject,
      });
      this.post({ type: "open", id, dest, options, pacing });
    });
  }

  private receive(message: FromThread): void {
    switch (message.type) {
      case "opened":
        this.opening.get(message.id)?.resolve(message.localPort);
        this.opening.delete(message.id);
        break;
      case "refused":
        this.opening.get(message.id)?.reject(new Error(message.message));
        this.opening.delete(message.id);
        this.freeIds.push(message.id);
        break;
      case "media-ready":
        this.mediaReady.get(message.mediaId)?.();
        this.mediaReady.delete(message.mediaId);
        break;
      case "closed": {
        const destination = this.destinations.get(message.id);
        if (destination?.media) this.release(destination.media);
        this.destinations.delete(message.id);
        this.freeIds.push(message.id);
        if (this.destinations.size === 0) this.worker.unref();
        destination?.closed?.();
        break;
      }
      case "report":
        for (const r of message.reports) {
          const destination = this.destinations.get(r.id);
          if (!destination) continue;
          destination.counters.lostBytes += r.lostBytes;
          for (const [kind, [count, text]] of Object.entries(r.errors)) {
            destination.report(kind, text); // counts one, and logs the first of its kind
            destination.counters.errors[kind]! += count - 1;
          }
        }
        break;
      case "lateness":
        this.lateness = message.data;
        this.onLateness();
        break;
    }
  }

  /**
   * Gives the thread `bytes` (once; later destinations share it) for `destination`'s in-place
   * datagrams; resolves once the thread has it, or at once if the thread has failed.
   */
  shareMedia(destination: ThreadDestination, bytes: SharedBytes): Promise<void> {
    if (destination.media !== null) return destination.media.ready;
    if (this.failure) return Promise.resolve();
    let media = this.media.get(bytes.buffer);
    if (!media) {
      const id = this.freeMediaIds.pop() ?? this.nextMediaId++;
      const { promise, resolve } = Promise.withResolvers<void>();
      const made: SharedMedia = { id, bytes, users: 0, ready: promise, isReady: false };
      this.mediaReady.set(id, () => {
        made.isReady = true;
        resolve();
      });
      this.media.set(bytes.buffer, (media = made));
      this.post({ type: "media", mediaId: id, media: bytes.buffer });
    }
    media.users++;
    destination.media = media;
    return media.ready;
  }

  /** A destination that used `media` has closed (all its datagrams sent): the last one's close lets the thread forget it. */
  private release(media: SharedMedia): void {
    if (--media.users > 0) return;
    this.media.delete(media.bytes.buffer);
    this.post({ type: "forget", mediaId: media.id });
    this.freeMediaIds.push(media.id);
  }

  /** The thread died: its destinations send nothing more, and each says so once. */
  private fail(error: Error): void {
    this.failure = error;
    for (const w of this.opening.values()) w.reject(error);
    this.opening.clear();
    for (const ready of this.mediaReady.values()) ready();
    this.mediaReady.clear();
    for (const d of this.destinations.values()) {
      d.report("thread", `${error.message}; this destination sends nothing more`);
      d.closed?.();
    }
    this.destinations.clear();
    this.worker.unref();
  }
}

/** The threads of one scheduler (one process, in practice). */
class SenderPool {
  private readonly threads: SenderThread[] = [];
  private readonly wire: LatenessHistogram;

  constructor(private readonly scheduler: Scheduler) {
    this.wire = scheduler.lateness("wire");
  }

  /** The thread with the fewest destinations, or a new one while fewer than `limit` run. */
  pick(limit: number): SenderThread {
    const live = this.threads.filter((t) => t.failure === null);
    let best: SenderThread | null = null;
    for (const t of live) if (best === null || t.destinations.size < best.destinations.size) best = t;
    if (best !== null && (best.destinations.size === 0 || live.length >= limit)) return best;
    const thread = new SenderThread(() => this.sumLateness(), this.scheduler);
    this.threads.push(thread);
    return thread;
  }

  /** "wire" lateness is every thread's, summed (each reports its whole histogram). */
  private sumLateness(): void {
    this.wire.reset();
    for (const t of this.threads) if (t.lateness) this.wire.add(t.lateness);
  }
}

const pools = new Map<Scheduler, SenderPool>();

/** Datagrams handed to sender threads by this process: read in place, and copied into the ring (for the bench and tests). */
const handOverCounts = { inPlace: 0, inline: 0 };

export function handOverTotals(): { inPlace: number; inline: number } {
  return { ...handOverCounts };
}

/**
 * Opens `dest` on a sender thread, or returns null where it is to be sent from this thread:
 * threads are off (0), the scheduler's clock is a manual one (tests), or its datagrams do not
 * fit a ring slot. A refusal from the thread (a source address that cannot be bound) throws.
 */
export async function openThreadedSender(
  dest: { address: string; family: 4 | 6; port: number },
  options: UdpSenderOptions,
  counters: BackendCounters,
  scheduler: Scheduler,
  report: (kind: string, message: string) => void,
): Promise<UdpSender | null> {
  const limit = senderThreads();
  const datagramBytes = options.datagramBytes ?? Infinity;
  if (limit === 0 || datagramBytes > INLINE_MAX || !(scheduler.clock instanceof RealClock)) return null;
  let pool = pools.get(scheduler);
  if (!pool) pools.set(scheduler, (pool = new SenderPool(scheduler)));
  const thread = pool.pick(limit);
  const destination: ThreadDestination = { counters, report, closed: null, media: null };
  // The thread records its pacing here, where status reads it, and after it how far it has sent.
  const pacingMemory = new SharedArrayBuffer(SendPacing.BYTES + PROGRESS_BYTES);
  const pacing = new SendPacing(pacingMemory);
  const handOvers = new HandOvers(progressView(pacingMemory, SendPacing.BYTES));
  let opened: { id: number; localPort: number };
  try {
    opened = await thread.open(dest, options, pacingMemory, destination);
  } catch (error) {
    throw new PacerError((error as Error).message);
  }
  const { id, localPort } = opened;
  const ring = thread.ring;
  const bytes = ring.bytes;
  const headerBytes = options.headerBytes ?? 0;
  /** The latest due time handed over: a restart after a gap may hand over one due earlier than those before it. */
  let lastDueUs = 0;
  let closing: Promise<void> | null = null;
  const dropped = (length: number, where: string, media = true): false => {
    // The thread is that far behind: this datagram is dropped, as a full send buffer drops one.
    counters.lostBytes += lostStreamBytes(length, headerBytes, media);
    report("nobufs", `the sender thread's ${where} is full; datagram dropped`);
    return false;
  };
  const RING = "hand-over ring";
  const ARENA = "hand-over ring's byte arena";
  return {
    localPort,
    leadUs: LEAD_US,
    pacing,
    // One without a due time (an RTCP packet on the stream's port) goes after what was handed over before it.
    send(datagram, dueUs = Math.max(scheduler.now(), lastDueUs), marker = false, media = true) {
      if (closing || thread.failure) return false;
      const slot = ring.claim();
      if (slot < 0) return dropped(datagram.length, RING, media);
      const at = ring.inlineRoom(slot, datagram.length);
      if (at < 0) return dropped(datagram.length, ARENA, media);
      bytes.set(datagram, at);
      ring.publishInline(slot, id, at, datagram.length, dueUs, marker, media);
      handOverCounts.inline++;
      lastDueUs = Math.max(lastDueUs, dueUs);
      return true;
    },
    // A thread that failed or a closing sender is not full: what is offered is dropped and counted.
    full: (ready) => !closing && !thread.failure && thread.full(ready),
    shareMedia: (media) => thread.shareMedia(destination, media),
    // A thread that failed holds nothing: it sends nothing more.
    heldFrom: () => (thread.failure ? Infinity : handOvers.heldFrom()),
    sendInPlace(head, headLength, media, offset, position, length, dueUs, marker) {
      if (closing || thread.failure) return false;
      const slot = ring.claim();
      if (slot < 0) return dropped(headLength + length, RING);
      const shared = destination.media;
      if (shared !== null && shared.isReady && shared.bytes.buffer === media.buffer && headLength <= HEADER_ROOM) {
        ring.publishInPlace(slot, id, head, headLength, shared.id, offset, position, length, dueUs, marker);
        handOvers.add(offset, dueUs);
        handOverCounts.inPlace++;
      } else {
        // A buffer the thread was not given (not shared before the job started): copied over.
        const at = ring.inlineRoom(slot, headLength + length);
        if (at < 0) return dropped(headLength + length, ARENA);
        for (let i = 0; i < headLength; i++) bytes[at + i] = head![i]!;
        media.copyOut(position, length, bytes, at + headLength);
        ring.publishInline(slot, id, at, headLength + length, dueUs, marker);
        handOverCounts.inline++;
      }
      lastDueUs = Math.max(lastDueUs, dueUs);
      return true;
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        const closed = () => {
          handOvers.clear();
          resolve();
        };
        if (thread.failure || !thread.destinations.has(id)) return closed();
        destination.closed = closed;
        // Behind its last datagram, so that goes out first; a full ring is waited out.
        const handOver = () => {
          const slot = ring.claim();
          if (slot < 0) return void setTimeout(handOver, 1);
          ring.publishInline(slot, id, 0, CLOSE_SLOT, lastDueUs);
        };
        handOver();
      });
      return closing;
    },
  };
}
