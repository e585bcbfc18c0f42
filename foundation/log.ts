/**
 * The logger: one line per event on stderr, plain or JSON (`--log-json`),
 * filtered by level (`--quiet` shows errors only, `--verbose` adds debug).
 * Small enough to own: a library logger would add a worker thread or a
 * transport layer that a single static binary does not need.
 *
 * @example
 * ```ts
 * const log = createLogger({ level: "info" });
 * log.warn("destination unreachable", { dest: "rtp://10.0.0.1:5004" });
 * ```
 */
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
}

export interface LoggerOptions {
  level: LogLevel;
  json?: boolean;
  /** Where lines go; stderr by default. Tests pass an array pusher. */
  write?: (line: string) => void;
}

function formatValue(v: string | number | boolean | null): string {
  return typeof v === "string" && /[\s="]/.test(v) ? JSON.stringify(v) : String(v);
}

export function createLogger(options: LoggerOptions, bound: LogFields = {}): Logger {
  const threshold = RANK[options.level];
  const write = options.write ?? ((line: string) => process.stderr.write(line + "\n"));
  const emit = (level: LogLevel, message: string, fields?: LogFields) => {
    if (RANK[level] < threshold) return;
    const all = { ...bound, ...fields };
    if (options.json) {
      write(JSON.stringify({ time: new Date().toISOString(), level, msg: message, ...all }));
      return;
    }
    let line = `pacer: ${level === "info" ? "" : level + ": "}${message}`;
    for (const [k, v] of Object.entries(all)) if (v !== undefined) line += ` ${k}=${formatValue(v)}`;
    write(line);
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    child: (fields) => createLogger(options, { ...bound, ...fields }),
    debugEnabled: threshold <= RANK.debug,
  };
}

/** A logger that drops everything (library defaults, benchmarks). */
export const silentLogger: Logger = createLogger({ level: "error", write: () => {} });
