/**
 * The logger: one line per event on stderr, plain or JSON (`--log-json`),
 * filtered by level (`--quiet` shows errors only, `--verbose` adds debug).
 * Under journald (`journal: underJournald()`) each line starts with its
 * sd-daemon priority, `<3>` to `<7>`, which journald strips and stores, so
 * `journalctl -p warning` works; the "pacer: " tag is left off there, since
 * the journal already names the unit.
 * Small enough to own: a library logger would add a worker thread or a
 * transport layer that a single static binary does not need.
 *
 * @example
 * ```ts
 * const log = createLogger({ level: "info", journal: underJournald() });
 * log.warn("destination unreachable", { dest: "rtp://10.0.0.1:5004" });
 * // on a terminal: pacer: warn: destination unreachable dest=rtp://10.0.0.1:5004
 * // to journald:   <4>warn: destination unreachable dest=rtp://10.0.0.1:5004
 * ```
 */
import { fstatSync } from "node:fs";

export type LogLevel = "debug" | "info" | "warn" | "error";
const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Record<string, string | number | boolean | null | undefined>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line. */
  child(fields: LogFields): Logger;
  /** Whether debug lines are wanted (to skip building expensive messages). */
  readonly debugEnabled: boolean;
  /** The same logger (level, format, fields) writing its lines through `write` instead. */
  to(write: LineSink): Logger;
}

/** Takes one line (without its newline); returns false when it could not (the line dropped, and counted), anything else when it did. */
export type LineSink = (line: string) => unknown;

export interface LoggerOptions {
  level: LogLevel;
  json?: boolean;
  /**
   * Where lines go; stderr by default. Tests pass an array pusher. A sink that returns false
   * dropped the line: the logger counts it, and says how many before its next line that goes.
   */
  write?: LineSink;
  /**
   * Prefix every line, plain or JSON, with its sd-daemon priority (`<3>` err, `<4>` warning,
   * `<6>` info, `<7>` debug; sd-daemon(3)). Default false; pass `underJournald()`.
   */
  journal?: boolean;
}

/** sd-daemon(3) priorities, the syslog numbers journald reads from a `<N>` line prefix. */
const JOURNAL_PRIORITY: Record<LogLevel, number> = { debug: 7, info: 6, warn: 4, error: 3 };

/**
 * Whether stderr is the journald stream systemd connected: systemd sets JOURNAL_STREAM to that
 * stream's "DEVICE:INODE", and comparing it with stderr's own keeps a redirected stderr (a pipe
 * to jq, a file) free of prefixes even when the variable was inherited.
 */
export function underJournald(env: Record<string, string | undefined> = process.env, fd = 2): boolean {
  const match = /^(\d+):(\d+)$/.exec(env.JOURNAL_STREAM ?? "");
  if (!match) return false;
  try {
    const stat = fstatSync(fd, { bigint: true });
    return stat.dev === BigInt(match[1]!) && stat.ino === BigInt(match[2]!);
  } catch {
    return false;
  }
}

function formatValue(v: string | number | boolean | null): string {
  return typeof v === "string" && /[\s="]/.test(v) ? JSON.stringify(v) : String(v);
}

/**
 * Messages carry text from the network (a media name, a URL in a request): a newline or another
 * control character in it must not start a line of its own and forge a log entry. Escaped as JSON does.
 */
function oneLine(message: string): string {
  return /[\x00-\x1f\x7f]/.test(message) ? message.replace(/[\x00-\x1f\x7f]/g, (c) => JSON.stringify(c).slice(1, -1)) : message;
}

/** Lines a logger and its children could not write, not yet reported. */
interface Dropped {
  lines: number;
}

export function createLogger(options: LoggerOptions, bound: LogFields = {}, dropped: Dropped = { lines: 0 }): Logger {
  const threshold = RANK[options.level];
  const write = options.write ?? ((line: string) => void process.stderr.write(line + "\n"));
  const format = (level: LogLevel, message: string, fields?: LogFields): string => {
    const all = { ...bound, ...fields };
    const priority = options.journal ? `<${JOURNAL_PRIORITY[level]}>` : "";
    if (options.json) return priority + JSON.stringify({ time: new Date().toISOString(), level, msg: message, ...all });
    let line = `${priority || "pacer: "}${level === "info" ? "" : level + ": "}${oneLine(message)}`;
    for (const [k, v] of Object.entries(all)) if (v !== undefined) line += ` ${k}=${formatValue(v)}`;
    return line;
  };
  const emit = (level: LogLevel, message: string, fields?: LogFields) => {
    if (RANK[level] < threshold) return;
    // The count goes first, or the line waits with the rest: no gap goes unsaid.
    if (dropped.lines > 0 && write(format("warn", `${dropped.lines} log lines dropped: stderr was not taking them`)) !== false) dropped.lines = 0;
    if (dropped.lines > 0 || write(format(level, message, fields)) === false) dropped.lines++;
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    child: (fields) => createLogger(options, { ...bound, ...fields }, dropped),
    debugEnabled: threshold <= RANK.debug,
    to: (sink) => createLogger({ ...options, write: sink }, bound),
  };
}

/** A logger that drops everything (library defaults, benchmarks). */
export const silentLogger: Logger = createLogger({ level: "error", write: () => {} });
