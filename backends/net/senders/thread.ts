/**
 * A sender thread (a Worker started by pool.ts). It owns its destinations' sockets and puts each
 * datagram on the wire at the time it is due: the main thread hands datagrams over through the
 * ring (ring.ts) a lead ahead, so a busy main thread (loads, control, GC) no longer makes them
 * late. A stream's bytes are read in place from its job's read-ahead buffer, shared memory the
 * thread is given once, before the job starts ("media"): only a header and a reference cross
 * over. The thread runs a scheduler of its own, so it paces as the main thread does (precise
 * sleeps, the batch window) and sends through the same batched sender (send_batcher.ts).
 *
 * What it tells the main thread: errors and losses by destination (every REPORT_US), and the
 * lateness of each datagram against its due time (every LATENESS_US), as the kind "wire".
 */
import { silentLogger } from "../../../foundation/log.ts";
import { SharedBytes } from "../../../foundation/shared_bytes.ts";
import { LatenessHistogram } from "../../../scheduler/lateness.ts";
import { RealClock } from "../../../scheduler/clock.ts";
import { preciseSleeper } from "../../../scheduler/precise_sleep.ts";
import { batchedWakeAt, Scheduler } from "../../../scheduler/scheduler.ts";
import { type BackendCounters, newCounters } from "../../backend.ts";
import { SendPacing } from "../../../scheduler/send_pacing.ts";
import { BATCH_WINDOW_US, BEHIND, type BatchedSender, flushBatches, openBatchedSender } from "../send_batcher.ts";
import type { UdpSenderOptions } from "../udp_sender.ts";
import { DueQueue } from "./due_queue.ts";
import { progressView } from "./hand_overs.ts";
import { CLOSE_SLOT, readSenderRing, type SenderRingReader } from "./ring.ts";

/**
 * New hand-overs are looked for at least this often. Datagrams come a lead (20 ms) before they
 * are due, so this is far in time; only one due at once (a start, the first after a gap, an
 * RTCP packet) may wait this long. Each look is a wake-up, which one quiet stream pays for.
 */
const POLL_US = 4_000;
/** ...and this often while the thread has no destination (an idle server's thread mostly sleeps). */
const IDLE_POLL_US = 50_000;
/** A next datagram due this soon is slept for in the send event (see `due`). */
const INLINE_US = 1_000;
/** ...but the event loop turns at least this often. */
const SLICE_US = 2_000;
/** Errors and losses go to the main thread this often (when there are any). */
const REPORT_US = 100_000;
/** The lateness histogram goes to the main thread this often. */
const LATENESS_US = 1_000_000;

export type ToThread =
  | { type: "start"; ring: SharedArrayBuffer; slots: number }
  | { type: "open"; id: number; dest: { address: string; family: 4 | 6; port: number }; options: UdpSenderOptions; pacing: SharedArrayBuffer }
  /** A read-ahead buffer that in-place datagrams lie in, by id: answered "media-ready". */
  | { type: "media"; mediaId: number; media: SharedArrayBuffer }
  /** No destination uses it any more (the last one's datagrams are all sent). */
  | { type: "forget"; mediaId: number };

export interface DestinationReport {
  id: number;
  lostBytes: number;
  /** Errors by kind: how many, and the message of the first. */
  errors: Record<string, [number, string]>;
}

export type FromThread =
  | { type: "opened"; id: number; localPort: number }
  | { type: "media-ready"; mediaId: number }
  | { type: "refused"; id: number; message: string }
  | { type: "closed"; id: number }
  | { type: "report"; reports: DestinationReport[] }
  | { type: "lateness"; data: ReturnType<LatenessHistogram["export"]> };

interface Open {
  sender: BatchedSender;
  /** Its pacing on the wire, in memory the main thread reads. */
  pacing: SendPacing;
  /** The due time of its last datagram sent (or dropped), where the main thread reads it (hand_overs.ts). */
  progress: Float64Array;
  /** Where the current stretch of its schedule began: what was sent at once before it is not pacing. */
  stretchFromUs: number;
  counters: BackendCounters;
  reported: number;
  pending: Record<string, [number, string]> | null;
  report(kind: string, text: string): void;
}

declare const self: Worker;
const post = (message: FromThread) => self.postMessage(message);

// Due times are on the main thread's clock (this thread's own starts at its start): aligned
// before the scheduler is made, since its precise sleeper reads the clock's offset then.
const clock = new RealClock();
clock.alignTo(Number(process.env.PACER_MAIN_TIME_ORIGIN_MS ?? performance.timeOrigin));
const scheduler = new Scheduler(clock);
const sleeper = preciseSleeper(clock);
const ctx = { scheduler, log: silentLogger };
const destinations: (Open | undefined)[] = [];
/** Read-ahead buffers that in-place datagrams lie in, by the id the main thread gave them. */
const media: (SharedBytes | undefined)[] = [];
const wire = new LatenessHistogram();
let openCount = 0;
let ring: ReturnType<typeof readSenderRing> | null = null;

/** Slots taken from the ring and not yet sent, by due time. */
let queue: DueQueue | null = null;
const take = (slot: number) => queue!.add(slot);

/**
 * The send event: every slot due within the batch window goes out, one sendmmsg per socket. A
 * next slot due within INLINE_US is slept for here (precisely) rather than through another turn
 * of the event loop, which costs more than the sleep at thousands of datagrams a second; the
 * loop still turns every SLICE_US, for messages and reports.
 */
const due = scheduler.timer("send", (_timer, firedAt) => {
  const r = ring!;
  const q = queue!;
  const sliceEnd = firedAt + SLICE_US;
  let now = firedAt;
  for (;;) {
    r.take(take);
    sendDue(r, q, now);
    r.caughtUp();
    flushBatches(scheduler);
    scheduler.notePass(now);
    // At most a pass a window, as the main thread's (scheduler.ts batchedWakeAt).
    const wake = batchedWakeAt(q.nextDue(), BATCH_WINDOW_US, now);
    if (sleeper === null || wake > now + INLINE_US || wake > sliceEnd) break;
    if (wake > now) sleeper.sleepUntil(wake);
    now = clock.now();
  }
  const poll = now + (openCount > 0 ? POLL_US : IDLE_POLL_US);
  scheduler.schedule(due, Math.min(q.nextDue(), poll));
});

/** Stages every slot due by `now` plus the batch window. */
function sendDue(r: SenderRingReader, q: DueQueue, now: number): void {
  const until = now + BATCH_WINDOW_US;
  while (q.size > 0 && q.nextDue() <= until) {
    const slot = q.take();
    const id = r.destination(slot);
    const length = r.length(slot);
    const open = destinations[id];
    if (length === CLOSE_SLOT) {
      r.release(slot);
      if (open) close(id, open);
      continue;
    }
    if (open) {
      const dueUs = r.due(slot);
      const late = now - dueUs;
      wire.record(late > 0 ? late : 0);
      if (r.marker(slot)) {
        open.pacing.restart();
        open.stretchFromUs = dueUs;
      }
      const sent = r.inPlace(slot) ? sendInPlace(r, slot, open, length) : open.sender.sendCopy(r.bytes, r.position(slot), length, !r.control(slot));
      if (sent && dueUs >= open.stretchFromUs) open.pacing.record(now, dueUs);
      // Its bytes are in the batch now (or were gone): the job may reuse them.
      open.progress[0] = dueUs;
    }
    r.release(slot);
  }
}

/** An in-place slot: its header and its stream's bytes, read where they lie. */
function sendInPlace(r: SenderRingReader, slot: number, open: Open, length: number): boolean {
  const bytes = media[r.media(slot)];
  const headerLength = r.headerLength(slot);
  if (bytes === undefined) {
    // Never meant to happen (the buffer is forgotten only after its last destination's close): counted, not thrown.
    open.counters.lostBytes += length - headerLength;
    open.report("behind", BEHIND);
    return false;
  }
  return open.sender.sendGathered(r.bytes, r.headerAt(slot), headerLength, bytes, r.offset(slot), r.position(slot), length - headerLength);
}

function close(id: number, open: Open): void {
  open.sender.close(); // what it still held is counted now
  // Its last report goes before "closed": the main thread forgets the destination then.
  reportOne(id, open);
  if (pendingReports.length > 0) post({ type: "report", reports: pendingReports.splice(0) });
  destinations[id] = undefined;
  openCount--;
  post({ type: "closed", id });
}

const pendingReports: DestinationReport[] = [];

function reportOne(id: number, open: Open): void {
  const lost = open.counters.lostBytes - open.reported;
  if (lost === 0 && open.pending === null) return;
  open.reported = open.counters.lostBytes;
  pendingReports.push({ id, lostBytes: lost, errors: open.pending ?? {} });
  open.pending = null;
}

const reporter = scheduler.timer("report", (_timer, now) => {
  destinations.forEach((open, id) => open && reportOne(id, open));
  if (pendingReports.length > 0) post({ type: "report", reports: pendingReports.splice(0) });
  scheduler.schedule(reporter, now + REPORT_US);
});

const lateness = scheduler.timer("report", (_timer, now) => {
  post({ type: "lateness", data: wire.export() });
  scheduler.schedule(lateness, now + LATENESS_US);
});

self.onmessage = (event: MessageEvent<ToThread>) => {
  const message = event.data;
  if (message.type === "media") {
    media[message.mediaId] = new SharedBytes(message.media);
    post({ type: "media-ready", mediaId: message.mediaId });
    return;
  }
  if (message.type === "forget") {
    media[message.mediaId] = undefined;
    return;
  }
  if (message.type === "start") {
    ring = readSenderRing(message.ring, message.slots);
    queue = new DueQueue(ring.slots, ring.due);
    const now = scheduler.now();
    scheduler.schedule(due, now);
    scheduler.schedule(reporter, now + REPORT_US);
    scheduler.schedule(lateness, now + LATENESS_US);
    return;
  }
  const { id, dest, options } = message;
  const counters = newCounters();
  // Counted here, reported to the main thread, which counts and logs them against the destination.
  const report = (kind: string, text: string) => {
    const pending = (open.pending ??= {});
    const entry = pending[kind];
    if (entry) entry[0]++;
    else pending[kind] = [1, text];
  };
  const open: Open = { sender: null as unknown as BatchedSender, pacing: new SendPacing(message.pacing), progress: progressView(message.pacing, SendPacing.BYTES), stretchFromUs: 0, counters, reported: 0, pending: null, report };
  try {
    open.sender = openBatchedSender(dest, options, counters, ctx, report);
  } catch (error) {
    post({ type: "refused", id, message: (error as Error).message });
    return;
  }
  destinations[id] = open;
  openCount++;
  scheduler.schedule(due, scheduler.now()); // its first datagrams may be due at once
  post({ type: "opened", id, localPort: open.sender.localPort });
};
