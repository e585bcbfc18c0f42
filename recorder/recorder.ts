/**
 * A recording: bytes from a source to files named by a pattern, as they come. TS is written in
 * whole packets (188 bytes, or the 204- or 192-byte units it comes in) and cut only before a PAT (or, with no PAT within a second, on a packet
 * boundary, or where the bytes are when there are no packets); WAV in whole frames under a header kept valid at every sync; anything else as it
 * comes. Files rotate on the clock (aligned, offset by the stagger) or by size, are synced every
 * `syncEveryMs`, and the oldest beyond `keep` are deleted. No byte is inserted or dropped: the
 * files concatenate to the stream. The wall clock names files and places cuts and `--until`;
 * lengths (the sync's cadence, `--duration`, `--wait`, a cut's wait for a PAT, the seconds
 * recorded) run on the monotonic one, so a wall clock stepped meanwhile stretches none of them.
 *
 * @example
 * ```ts
 * const recorder = new Recorder(source, { pattern: "rec/%H%M%S.ts", kind: "ts", syncEveryMs: 1000, log });
 * process.once("SIGTERM", () => recorder.stop());
 * const summary = await recorder.done;
 * ```
 */
import { PacerError, UsageError } from "../foundation/errors.ts";
import type { Logger } from "../foundation/log.ts";
import { DETECT_HEAD_BYTES, tsPackingOf } from "../protocol/mpeg_probe.ts";
import { TS_PACKING, TS_SIZE, TS_SYNC, type TsPacking, tsFindSync } from "../protocol/mpegts.ts";
import { bytesPerFrame, formatToString, type SampleFormat, sameFormat } from "../protocol/sample_format.ts";
import { WALL_CLOCK_STEP_MS } from "../scheduler/clock.ts";
import { describeDropped, type DroppedCounts, formatChanges, type InputGap, type LiveSource, newLiveStats } from "../sources/live_input.ts";
import { SOURCE_END, type Source } from "../sources/source.ts";
import { clockBoundaryAfter } from "./clock_boundary.ts";
import { FileNames } from "./file_names.ts";
import type { GapLog } from "./gap_log.ts";
import { inputWavHeader } from "./input_wav_header.ts";
import { KeepNewest } from "./keep.ts";
import { TakenAgain } from "./taken_again.ts";
import { RecordingFile } from "./output_file.ts";
import { RecordedFiles } from "./recorded_files.ts";
import { formatPattern } from "./pattern.ts";
import { toWavSamples, wavFormatOf } from "./pcm_to_wav.ts";
import { atPacket, isPatStart, notTsNote, TsWatch } from "./ts_watch.ts";

/** Bytes read from the source per call: one buffer for the whole recording. */
const READ_BYTES = 1 << 20;
/** How often time is checked (rotation, sync, the end) when no data comes. */
const TICK_MS = 100;
/** A rotation that finds no PAT for this long cuts on the next packet boundary. */
export const PAT_WAIT_MS = 1_000;
/** Gap-log lines for continuity errors, at most, per file (a broken feed would fill the disk). */
const CC_LOG_LINES_PER_FILE = 100;

export type RecordKind = "ts" | "wav" | "raw";

export interface RecorderOptions {
  pattern: string;
  /** A server recording's root, which no file may leave (RecordingFileOptions.root). */
  root?: string;
  kind: RecordKind;
  /** The format of PCM as it arrives (wav), asked at the first byte; null when it is not known. */
  pcmFormat?: () => SampleFormat | null;
  /** Unix ms at which the recording ends (`--until`: a time on the wall clock). */
  endAtMs?: number;
  /**
   * performance.now() ms at which it ends (`--duration`, from when it was asked): on the
   * monotonic clock, so a wall clock stepped meanwhile (NTP at a VM's resume) neither cuts it
   * short nor stretches it.
   */
  endAtMonotonicMs?: number;
  /** Unix ms by which something must have arrived (`--until`), or the recording gives up. */
  waitUntilMs?: number;
  /** performance.now() ms by which something must have arrived (`--wait`), or the recording gives up. */
  waitUntilMonotonicMs?: number;
  /** The wall clock, Unix ms (default Date.now): a test steps it. */
  wallClock?: () => number;
  /** Rotate on the clock, every this many ms (aligned to local midnight, plus the stagger). */
  rotateEveryMs?: number;
  /** Rotate when a file reaches this many bytes. */
  rotateBytes?: number;
  staggerMs?: number;
  syncEveryMs: number;
  keep?: number;
  part?: boolean;
  /** A line per gap (record --gap-log); its opener closes it. */
  gapLog?: GapLog;
  log: Logger;
  /** Draw a status line on stderr every second. */
  progress?: boolean;
}

export interface RecordSummary {
  /** The files written: how many, the first name and the last few (not every name). */
  files: RecordedFiles;
  bytes: number;
  /** Seconds from the first byte to the last, on the monotonic clock (0 when nothing came). */
  seconds: number;
  gaps: number;
  lost: number;
  stalls: number;
  /** Times an RTP input's payload type changed (LiveStats.formatChanges). */
  formatChanges: number;
  ccErrors: number;
  /** A TS recording that was not TS (notTsNote), or null. */
  notTs: string | null;
  kernelDrops: number | null;
  /** Bytes the input's queue refused because the recording fell behind it. */
  overflowBytes: number;
  /** Gap-log lines that could not be written (a full disk, a FIFO's reader gone). */
  gapLinesNotWritten: number;
  /** Ms the input had been silent when the recording ended (LiveStats.silentAtEndMs). */
  silentAtEndMs: number;
  /** Datagrams that arrived and were dropped, by why. */
  dropped: DroppedCounts;
  /** The write error that ended it, or the reason nothing was recorded. */
  error: string | null;
  /** Nothing at all arrived. */
  nothing: boolean;
  /** How the input ended, where that is worth a warning (Source.endNote), or null. */
  endNote: string | null;
}

/**
 * What a recording lost on the way in, as `pacer record`'s summary line and a server's log of a
 * recording's end both say it: `gaps G (lost packets L, stalls T), cc errors C, kernel drops K`,
 * the last where the kernel says, then the bytes the input's queue refused and the datagrams
 * dropped (describeDropped) and the gap-log lines not written, each only where there were any; a TS recording that was not TS
 * starts with what it was (notTsNote: `no MPEG-TS packets found, gaps 0 …`).
 */
export function describeDamage(summary: RecordSummary): string {
  // First: a file that is not what its name says is worth more than its continuity counts.
  const notTs = summary.notTs ? `${summary.notTs}, ` : "";
  const drops = summary.kernelDrops === null ? "" : `, kernel drops ${summary.kernelDrops}`;
  // Rare (the socket's buffer waits while the queue is full), so named only when it happened.
  const behind = summary.overflowBytes === 0 ? "" : `, ${summary.overflowBytes} bytes dropped (the recording fell behind)`;
  const dropped = describeDropped(summary.dropped);
  const changes = formatChanges(summary.formatChanges);
  // A source gone before the end (and not back) left the run's tail empty: it had been unsaid.
  const unlogged = summary.gapLinesNotWritten === 0 ? "" : `, ${summary.gapLinesNotWritten} gap-log line${summary.gapLinesNotWritten === 1 ? "" : "s"} not written`;
  const silent = summary.silentAtEndMs === 0 ? "" : `, input silent for the last ${(summary.silentAtEndMs / 1000).toFixed(1)} s`;
  return `${notTs}gaps ${summary.gaps} (lost packets ${summary.lost}, stalls ${summary.stalls}), cc errors ${summary.ccErrors}${drops}${behind}${dropped ? `, ${dropped}` : ""}${changes ? `, ${changes}` : ""}${unlogged}${silent}`;
}

export class Recorder {
  readonly done: Promise<RecordSummary>;
  private resolveDone!: (s: RecordSummary) => void;
  private readonly buf = Buffer.alloc(READ_BYTES);
  /** Bytes at the front of `buf` kept from the last read: an unfinished packet or frame. */
  private carry = 0;
  /**
   * The last bytes looked at were a packet: a sync byte where the next one is due is taken as a
   * packet without the one after it confirming (that is only to find the sync). Confirmed, the
   * last packet before a stretch of garbage (a keep-alive datagram in a UDP stream) was counted
   * garbage too, and its PID's next packet a CC error.
   */
  private tsInSync = false;
  /** The units a TS comes in (findPacking): 188-byte packets, or larger ones that hold them. */
  private packing: TsPacking = TS_PACKING;
  /** Stream offset of buf[0]. */
  private bufBase = 0;
  private file: RecordingFile | null = null;
  private fileStreamStart = 0;
  private readonly files = new RecordedFiles();
  private readonly names: FileNames;
  private readonly keep: KeepNewest | null;
  /** The `-N` names this pattern's recordings made, for --keep (this run's or a later one's). */
  private readonly takenAgain: TakenAgain;
  private takenAgainWarned = false;
  /** Media bytes in the files already closed; the open file counts its own (after a failed write, what it kept). */
  private closedBytes = 0;
  /** performance.now() ms of the first and last byte, or null before any came. */
  private firstByteMono: number | null = null;
  private lastByteMono: number | null = null;
  private readonly wallNow: () => number;
  /** Wall minus monotonic at the last pump: a drop of WALL_CLOCK_STEP_MS or more is a step back. */
  private wallOffsetMs = -Infinity;
  private readonly watch = new TsWatch();
  private ccLogged = 0;
  private nextBoundaryMs = Infinity;
  /** When the pending rotation fell due, or 0 when none is due. */
  private dueSinceMs = 0;
  /** The same on the monotonic clock: how long a TS cut has waited for a PAT. */
  private dueSinceMono = 0;
  /** performance.now() ms of the next sync. */
  private nextSyncMono = 0;
  /** The format the input's own WAV header states (a WAV file, acquire's stream), once read off. */
  private inputHeaderFormat: SampleFormat | null = null;
  private wavIn: SampleFormat | null = null;
  private wavOut: SampleFormat | null = null;
  private unit = 1;
  private finished = false;
  private stopping = false;
  private inputStopped = false;
  private error: string | null = null;
  private readonly timer: ReturnType<typeof setInterval>;
  private readonly progressTimer: ReturnType<typeof setInterval> | null = null;

  constructor(
    private readonly source: Source | LiveSource,
    private readonly options: RecorderOptions,
  ) {
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    this.wallNow = options.wallClock ?? Date.now;
    this.names = new FileNames({ part: options.part ?? false });
    this.takenAgain = new TakenAgain(options.pattern);
    this.keep = options.keep === undefined ? null : new KeepNewest(options.pattern, options.keep, this.takenAgain, options.log);
    if (options.kind === "ts") this.unit = TS_SIZE;
    if ("live" in source) source.onGap = (gap) => this.onGap(gap);
    source.onReadable = () => this.pump();
    this.timer = setInterval(() => this.pump(), TICK_MS);
    if (options.progress) this.progressTimer = setInterval(() => this.drawProgress(), 1000);
    queueMicrotask(() => this.pump());
  }

  /** Bytes written so far (for a server's status while it runs). */
  get bytesWritten(): number {
    return this.closedBytes + (this.file?.bytes ?? 0);
  }

  /** SIGINT/SIGTERM: what has arrived is written, the file synced and closed. */
  stop(): void {
    if (this.stopping || this.finished) return;
    this.stopping = true;
    this.endInput();
    this.pump();
  }

  /** Stops the input: what it has queued is still read, then the recording finishes. */
  private endInput(): void {
    this.inputStopped = true;
    if ("live" in this.source) this.source.finish();
  }

  private pump(): void {
    if (this.finished) return;
    const now = this.wallNow();
    const mono = performance.now();
    this.followClockStepBack(now, mono);
    try {
      for (;;) {
        const n = this.source.read(this.buf, this.carry, this.buf.length - this.carry);
        if (n === SOURCE_END) return this.finish(null);
        if (n === 0) {
          if (this.inputStopped) return this.finish(null);
          break;
        }
        this.firstByteMono ??= mono;
        this.lastByteMono = mono;
        this.process(this.carry + n, now, mono);
      }
      if (this.file && mono >= this.nextSyncMono) {
        this.file.sync();
        this.nextSyncMono = mono + this.options.syncEveryMs;
      }
      if (this.stopping) return;
      if (this.firstByteMono === null && (now >= (this.options.waitUntilMs ?? Infinity) || mono >= (this.options.waitUntilMonotonicMs ?? Infinity))) {
        this.stopping = true;
        this.endInput();
        return this.pump();
      }
      if (now >= (this.options.endAtMs ?? Infinity) || mono >= (this.options.endAtMonotonicMs ?? Infinity)) {
        this.stopping = true;
        this.endInput();
        return this.pump();
      }
    } catch (error) {
      // A write error, a read error, a format not known: each ends the recording with one line.
      return this.finish(error instanceof Error ? error : new PacerError(String(error)));
    }
  }

  /** Writes `buf[0..total)` but for an unfinished unit at its end, cutting files where due. */
  private process(total: number, now: number, mono: number): void {
    if (!this.file) {
      const samplesAt = this.options.kind === "wav" ? this.inputHeaderEnd(total) : 0;
      if (samplesAt === null) {
        this.carry = total; // the input's WAV header is still arriving
        return;
      }
      if (samplesAt > 0) {
        this.buf.copyWithin(0, samplesAt, total);
        total -= samplesAt;
        this.bufBase += samplesAt;
      }
      this.openFirst(now);
    }
    let at = 0;
    let segment = 0;
    if (this.options.kind === "ts") {
      if (this.watch.packets === 0 && this.packing === TS_PACKING) this.findPacking(total);
      const { size, syncAt } = this.packing;
      while (at + size <= total) {
        if (!this.packetAt(at, total)) {
          this.tsInSync = false;
          // Garbage is kept as it came; cuts wait for the packets to line up again.
          const next = tsFindSync(this.buf, at + 1, total, this.packing);
          // The stream's head, too short yet to tell the units by (a 204-byte unit a datagram): held.
          if (next < 0 && this.watch.packets === 0 && this.bufBase + total < DETECT_HEAD_BYTES) break;
          const from = at;
          at = next < 0 ? total - (size - 1) : next;
          this.watch.strayBytes += at - from;
          // A stream with no packets (not TS) has no boundary to wait for: a due cut falls where the garbage starts once the PAT's wait is over. It waited for
          // ever, and `--rotate 1h --keep 24` wrote one file until the disk was full.
          if (this.rotationDue(now, mono, from - segment) && mono - this.dueSinceMono >= PAT_WAIT_MS) {
            this.file!.write(this.buf, segment, from);
            this.rotate(now, this.bufBase + from);
            segment = from;
          }
          continue;
        }
        this.tsInSync = true;
        if (this.watch.check(this.buf, at + syncAt)) this.ccError(at - segment);
        if (this.rotationDue(now, mono, at - segment) && (isPatStart(this.buf, at + syncAt) || mono - this.dueSinceMono >= PAT_WAIT_MS)) {
          this.file!.write(this.buf, segment, at);
          this.rotate(now, this.bufBase + at);
          segment = at;
        }
        at += size;
      }
    } else {
      at = total - (total % this.unit);
      if (this.wavIn) toWavSamples(this.wavIn.encoding, this.buf, 0, at);
      // Cut where a file reaches --rotate SIZE, within the read: a fast input's 256 KiB reads made
      // `--rotate 64KiB` WAV files of 256 KiB.
      while (segment < at) {
        if (this.rotationDue(now, mono, 0)) this.rotate(now, this.bufBase + segment);
        const end = Math.min(at, segment + this.roomInFile());
        this.file!.write(this.buf, segment, end);
        segment = end;
      }
    }
    this.file!.write(this.buf, segment, at);
    this.carry = total - at;
    if (this.carry > 0) this.buf.copyWithin(0, at, total);
    this.bufBase += at;
  }

  /**
   * Whether a packet starts at `at` in `buf[0..total)`. Out of sync, a sync byte with another one
   * a packet on; in sync, a sync byte where the next packet is due, unless the next sync byte is
   * missing and a packet confirmed starts inside this one: then it is garbage that starts with a
   * sync byte (one 0x47 between two packets), and was counted a packet, the real one it swallowed
   * lost, and that PID's next packet a CC error.
   */
  private packetAt(at: number, total: number): boolean {
    const { size, syncAt } = this.packing;
    if (!this.tsInSync) return atPacket(this.buf, at, total, this.packing);
    if (this.buf[at + syncAt] !== TS_SYNC) return false;
    const next = at + size;
    if (next + syncAt >= total || this.buf[next + syncAt] === TS_SYNC) return true;
    // Rare (garbage follows): a look over this packet and the two after, as the resync confirms.
    const inside = tsFindSync(this.buf, at + 1, Math.min(total, at + 3 * size), this.packing);
    return inside < 0 || inside >= next;
  }

  /**
   * Until a packet is seen, the units the TS comes in, as `play` finds them (tsPackingOf): 204
   * bytes (16 of Reed-Solomon parity), M2TS's 192 (a 4-byte arrival stamp first), 188 with a
   * 4-byte trailer. Recorded as they came, cut on their boundaries; read as 188-byte packets
   * there were none, and a good recording was `no MPEG-TS packets found`.
   */
  private findPacking(total: number): void {
    this.packing = tsPackingOf(this.buf.subarray(0, total));
    if (this.packing === TS_PACKING) return;
    this.unit = this.packing.size;
    this.file?.setUnit(this.unit);
  }

  /**
   * Where the samples start in `buf[0..total)`, the input's first bytes: past its WAV header, if
   * it opens with one (whose format it takes), else 0; null while the header is still arriving.
   */
  private inputHeaderEnd(total: number): number | null {
    const header = inputWavHeader(this.buf.subarray(0, total), this.source.label, this.buf.length);
    if (header === "wait") return null;
    if (header === null) return 0;
    this.inputHeaderFormat = header.format;
    return header.dataOffset;
  }

  private openFirst(now: number): void {
    if (this.options.kind === "wav") {
      const given = this.options.pcmFormat?.() ?? null;
      const stated = this.inputHeaderFormat;
      // The header is the stream's own word on its samples; --format can only be wrong about them.
      if (stated && given && !sameFormat(stated, given)) {
        this.options.log.warn(`${this.source.label}: its WAV header says ${formatToString(stated)}, not ${formatToString(given)}; recorded as its header says`);
      }
      this.wavIn = stated ?? given;
      if (!this.wavIn) throw new UsageError(`${this.source.label}: the sample format is not known; give --format to record it as WAV`);
      this.wavOut = wavFormatOf(this.wavIn);
      this.unit = bytesPerFrame(this.wavIn);
    }
    this.nextBoundaryMs = this.boundaryAfter(now);
    this.openFile(now, 0);
  }

  /**
   * The last boundary at or before `now`, from the one due: where the clock passed several at once
   * (it was stepped on, the host slept), the file is named after the last, not the first (a file of
   * 15:10 named 1100).
   */
  private lastBoundaryBy(now: number): number {
    let last = this.nextBoundaryMs;
    // Two periods back always holds a boundary: none is further than a period and an hour apart.
    const from = Math.max(last, now - 2 * this.options.rotateEveryMs!);
    for (let next = this.boundaryAfter(from); next <= now; next = this.boundaryAfter(next)) last = next;
    return last;
  }

  /**
   * A wall clock stepped back: the next cut is where the clock will read a boundary next, not the
   * one planned before the step (an hour back, and the file of 10:00 had run two hours). A step of
   * seconds is let be: just after a cut, it made a file of those seconds.
   */
  private followClockStepBack(now: number, mono: number): void {
    const offset = now - mono;
    const steppedBack = offset <= this.wallOffsetMs - WALL_CLOCK_STEP_MS;
    if (steppedBack && this.file && !this.dueSinceMs && this.options.rotateEveryMs) this.nextBoundaryMs = this.boundaryAfter(now);
    this.wallOffsetMs = offset;
  }

  private secondsRecorded(): number {
    return this.firstByteMono === null ? 0 : ((this.lastByteMono ?? this.firstByteMono) - this.firstByteMono) / 1000;
  }

  private boundaryAfter(now: number): number {
    const every = this.options.rotateEveryMs;
    return every ? clockBoundaryAfter(now, every, this.options.staggerMs ?? 0) : Infinity;
  }

  /** Whether a cut is due, with `pending` bytes not yet written to the current file. */
  private rotationDue(now: number, mono: number, pending: number): boolean {
    if (this.dueSinceMs) return true;
    if (now >= this.nextBoundaryMs) this.dueSinceMs = this.nextBoundaryMs;
    else if (this.options.rotateBytes && this.file!.bytes + pending >= this.options.rotateBytes) this.dueSinceMs = now;
    else return false;
    this.dueSinceMono = mono;
    return true;
  }

  /** Bytes, in whole units, the current file takes before --rotate SIZE is due (all there are without one). */
  private roomInFile(): number {
    const size = this.options.rotateBytes;
    if (!size) return Infinity;
    return Math.max(this.unit, Math.ceil((size - this.file!.bytes) / this.unit) * this.unit);
  }

  private rotate(now: number, streamOffset: number): void {
    const onTheClock = this.dueSinceMs === this.nextBoundaryMs;
    // A file cut on the clock is named after its boundary (06:15, not 06:15:00.3).
    const named = onTheClock ? this.lastBoundaryBy(now) : now;
    const closed = this.file!;
    closed.close();
    this.dueSinceMs = 0;
    if (onTheClock) this.nextBoundaryMs = this.boundaryAfter(named);
    // Counted once the next file is open: if it cannot be, the closed one is still this.file.
    this.openFile(named, streamOffset);
    this.closedBytes += closed.bytes;
  }

  private openFile(at: number, streamOffset: number): void {
    const named = formatPattern(this.options.pattern, new Date(at));
    this.file = RecordingFile.create(this.names.next(named), {
      wav: this.wavOut ?? undefined,
      part: this.options.part,
      unitBytes: this.unit,
      root: this.options.root,
    });
    this.files.add(this.file.path);
    if (this.file.path !== named) this.noteTakenAgain(this.file.path);
    this.fileStreamStart = streamOffset;
    this.ccLogged = 0;
    this.nextSyncMono = performance.now() + this.options.syncEveryMs;
    this.keep?.prune(this.file.path);
  }

  /** A file that could not be listed is only never deleted by --keep: a warning, once, not the end of the recording. */
  private noteTakenAgain(path: string): void {
    try {
      this.takenAgain.add(path);
    } catch (error) {
      if (this.takenAgainWarned) return;
      this.takenAgainWarned = true;
      this.options.log.warn(`${(error as Error).message}; --keep will not delete ${path} (nor later names taken again)`);
    }
  }

  private onGap(gap: InputGap): void {
    const position = this.file ? Math.max(0, gap.streamOffset - this.fileStreamStart) : 0;
    this.gapLine(gap.wallMs, position, gap.what);
  }

  private ccError(pendingOffset: number): void {
    if (!this.options.gapLog || !this.file) return;
    if (this.ccLogged++ >= CC_LOG_LINES_PER_FILE) return;
    const position = this.file.bytes + pendingOffset;
    this.gapLine(this.wallNow(), position, this.ccLogged === CC_LOG_LINES_PER_FILE ? "TS continuity error (further ones in this file not logged)" : "TS continuity error");
  }

  private gapLine(wallMs: number, position: number, what: string): void {
    if (!this.options.gapLog) return;
    const file = this.file?.path ?? "-";
    this.options.gapLog.append(`${new Date(wallMs).toISOString()} ${file} ${position} ${what}\n`, this.options.log);
  }

  private drawProgress(): void {
    const seconds = this.secondsRecorded();
    const stats = "live" in this.source ? this.source.stats : null;
    process.stderr.write(`\r${this.file?.currentPath ?? "waiting for input"}  ${(this.bytesWritten / 1e6).toFixed(1)} MB  ${seconds.toFixed(0)} s  gaps ${stats?.gaps ?? 0}\x1b[K`);
  }

  private finish(error: Error | null): void {
    if (this.finished) return;
    this.finished = true;
    clearInterval(this.timer);
    if (this.progressTimer) {
      clearInterval(this.progressTimer);
      this.drawProgress();
      process.stderr.write("\n");
    }
    // Ended (or stopped) with part of a WAV header in hand: there was no sample to record.
    if (!this.file && !error && this.carry > 0 && this.options.kind === "wav") {
      error = new PacerError(`${this.source.label}: ${this.inputStopped ? "stopped while its WAV header was still arriving" : "the input ended inside its WAV header"}`);
    }
    this.error = error?.message ?? null;
    // Out of sync, the bytes in hand are no packet's start but the input's last: kept, as any.
    const unfinishedPacket = this.options.kind === "ts" && this.tsInSync;
    if (this.file && !error && !this.wavOut && !(this.inputStopped && unfinishedPacket)) {
      // The unfinished packet at the very end is the stream's own, where its sender ended it; it is
      // kept (not half a WAV frame). One the recording stopped (--duration, a signal) still had its
      // rest to come: kept, it cut the last file mid-packet.
      if (this.carry > 0) this.file.write(this.buf, 0, this.carry);
    }
    try {
      this.file?.close();
    } catch (closeError) {
      this.error ??= (closeError as Error).message;
    }
    if (this.file?.removed) this.files.dropNewest(); // a full disk took nothing into it: it is gone
    this.source.close();
    const stats = "live" in this.source ? this.source.stats : null;
    this.resolveDone({
      files: this.files,
      bytes: this.bytesWritten,
      seconds: this.secondsRecorded(),
      gaps: stats?.gaps ?? 0,
      lost: stats?.lost ?? 0,
      stalls: stats?.stalls ?? 0,
      formatChanges: stats?.formatChanges ?? 0,
      ccErrors: this.watch.ccErrors,
      notTs: this.options.kind === "ts" ? notTsNote(this.watch.packets, this.watch.strayBytes, this.bytesWritten) : null,
      kernelDrops: stats?.kernelDrops ?? null,
      overflowBytes: stats?.overflowBytes ?? 0,
      gapLinesNotWritten: this.options.gapLog?.notWritten ?? 0,
      silentAtEndMs: stats?.silentAtEndMs ?? 0,
      dropped: stats ?? newLiveStats(),
      error: this.error,
      nothing: this.firstByteMono === null,
      endNote: this.source.endNote ?? null,
    });
  }
}
