/**
 * The one output interface. Every destination (rtp, udp, alsa, cmd, file)
 * is a Backend created by a factory registered under its URL scheme
 * (backends/registry.ts). Jobs and the scheduler know this interface only.
 *
 * A job calls `send` from the destination's send events with one unit of
 * media in the backend's own format (`format` for PCM, converted by the job)
 * and `unitBytes` long, except at the end of the stream. Packet backends
 * take every unit whole; stream backends (a pipe, a sound card) may take
 * less when full, and the job offers the rest again shortly.
 */
import type { Logger } from "../foundation/log.ts";
import type { SharedBytes } from "../foundation/shared_bytes.ts";
import type { MediaKind } from "../protocol/media_kind.ts";
import type { SdpMedia } from "../protocol/sdp.ts";
import type { SampleFormat } from "../protocol/sample_format.ts";
import type { Scheduler } from "../scheduler/scheduler.ts";
import type { SendPacing } from "../scheduler/send_pacing.ts";

export interface StreamInfo {
  kind: MediaKind;
  /** The job's PCM format (kind "pcm" only). */
  format?: SampleFormat;
  /** The requested format for cmd:, file: and alsa: outputs (`--out-format`). */
  outFormat?: SampleFormat;
  /** How long a busy sound device may keep the stream waiting, s (`--device-wait`); an output's own `wait=` wins. */
  deviceWaitS?: number;
}

/** Where a unit sits in time, on the destination's own continuous timeline. */
export interface UnitTiming {
  /** Scheduled send time of the unit's first byte, µs since the destination started; only ever increases. */
  sendUs: number;
  /** PCM: index of the unit's first frame since the destination started, counting gaps. */
  frame: number;
  /** Set on the first unit and the first unit after a gap (RFC 3551 marker semantics). */
  marker: boolean;
  /** When the unit is due on the scheduler's clock, µs: `sendUs` after the start, or later after a hold-up. */
  dueUs: number;
}

/** Counters every backend keeps; a destination's status is read from these. */
export interface BackendCounters {
  units: number;
  bytes: number;
  /**
   * Bytes of the stream (in the backend's format) taken but never delivered: dropped while a
   * command was down, or left unread in its pipe when it died or was ended. The job reports them.
   */
  lostBytes: number;
  /** Non-fatal errors by kind: "refused" (ICMP unreachable), "nobufs", "underrun", "restart"... */
  errors: Record<string, number>;
}

export interface Backend {
  /** The destination as the user wrote it, for logs. */
  readonly label: string;
  /** The PCM format this backend takes (PCM streams); the job converts to it. */
  readonly format?: SampleFormat;
  /** Bytes per send event, in the backend's format: whole frames or whole TS packets. */
  readonly unitBytes: number;
  /** How far ahead of real time units are sent, µs. */
  readonly aheadUs: number;
  /**
   * How long before its due time (UnitTiming.dueUs) a unit is handed over, µs: a backend that
   * sends from a thread of its own, on time there, takes units this early so that a busy main
   * thread does not make them late (backends/net/senders/). 0 when absent.
   */
  readonly leadUs?: number;
  /** The pacing measured where its datagrams leave, when that is another thread (a sender thread). */
  readonly pacing?: SendPacing;
  readonly counters: BackendCounters;
  /**
   * A stream backend (a pipe, a sound card) that may take less than a unit when full, and so can
   * fall behind the job's other outputs: the job keeps room for it to lag (pipeline/job.ts, LAG_BOUND_S).
   */
  readonly pushesBack?: boolean;
  /** True while what it was given sits unread by its consumer (a command that has not read its stdin): see pipeline/stuck_outputs.ts. */
  readNothing?(): boolean;
  /** Delivers a unit; returns the bytes taken (stream backends may take fewer). The view is only valid during the call. */
  send(unit: Uint8Array, timing: UnitTiming): number;
  /**
   * Delivers a unit that lies in the job's read-ahead buffer, `length` bytes from stream offset
   * `offset` (at `position` in `media.data`), without copying it first: a batched sender copies
   * it straight into its batch, a sender thread reads it there later (a backend with a lead).
   * Present only where the backend's sender can; takes the whole unit (or drops it, counted).
   */
  sendInPlace?(media: SharedBytes, offset: number, position: number, length: number, timing: UnitTiming): number;
  /** Readies `media`, the job's read-ahead buffer, for sendInPlace before the job starts (a sender thread is given it). */
  shareMedia?(media: SharedBytes): Promise<void>;
  /**
   * The lowest stream offset of what sendInPlace was given and has not yet read (a sender thread
   * reads it when due); Infinity when nothing. The job keeps those bytes (pipeline/job.ts).
   */
  heldFrom?(): number;
  /**
   * True while it cannot take a unit without dropping it (a sender thread that has fallen
   * behind); `ready` is then called once it can. Asked before each unit is read.
   */
  full?(ready: () => void): boolean;
  /** A pause of the stream (nothing is sent meanwhile): a sound card holds its place rather than run dry. */
  pause?(paused: boolean): void;
  /** The m= section for `--sdp`, for RTP outputs. */
  sdp?(): SdpMedia;
  /**
   * Ends the stream: flush, let a child exit, close sockets. `deadlineUs` (scheduler time) is when
   * the output must have taken what it was given: a command still holding unread input then is
   * ended. Without it, close waits as long as it takes.
   */
  close(deadlineUs?: number): Promise<void>;
  /**
   * While `close` waits for a command that has taken its whole stream to exit: end it now
   * (SIGTERM, then SIGKILL), and `close` resolves once it has. For a daemon that cannot wait
   * for good (the speaker). Absent, or nothing to end: nothing happens.
   */
  abandon?(): void;
  /**
   * Closes an output whose job never started (another output of it was bad), leaving no trace
   * where it can: a `file:` keeps what was there. Absent: `close`.
   */
  discard?(): Promise<void>;
}

export interface BackendContext {
  log: Logger;
  scheduler: Scheduler;
  /** A backend that can no longer work calls this; the job stops this destination with the error. */
  fail(error: Error): void;
  /** An RTP output's SSRC, chosen by whoever opens it (the server names it in its play reply); absent: a random one. */
  ssrc?: number;
}

export interface BackendFactory {
  /** URL scheme without the colon: "rtp", "udp", "alsa", "cmd", "file". */
  readonly scheme: string;
  /** One line for `--help`. */
  readonly summary: string;
  /** Null when usable on this host, else why not (e.g. no libasound). */
  unavailable?(): string | null;
  /**
   * Refuses a malformed target (a UsageError) without opening anything: a job checks every output
   * so before it opens the first, where create would only find out after others had opened.
   */
  check?(target: string): void;
  /**
   * Opens the destination. Throws UsageError for a malformed URL and
   * PacerError for one that cannot work (unresolvable host), before
   * anything is sent.
   */
  create(target: string, stream: StreamInfo, ctx: BackendContext): Promise<Backend>;
}

export function newCounters(): BackendCounters {
  return { units: 0, bytes: 0, lostBytes: 0, errors: {} };
}

/** Counts one non-fatal error of `kind`; returns true the first time, so callers log it once. */
export function countError(counters: BackendCounters, kind: string): boolean {
  const n = (counters.errors[kind] ?? 0) + 1;
  counters.errors[kind] = n;
  return n === 1;
}
