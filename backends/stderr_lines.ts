/**
 * A command's stderr cut into lines for the log, at most LINES_PER_SECOND of
 * them a second. Past that, the rest of the second's output is read and
 * dropped unlooked-at (the command never blocks on its stderr), and one line
 * then says how much was dropped. A command that floods its stderr (`yes >&2`)
 * was logged at some 60,000 lines a second: the server stopped answering its
 * control port and put off SIGTERM for as long as the flood lasted.
 *
 * A "line" longer than LINE_MAX characters is logged in pieces, so a
 * child that never writes a newline cannot grow a buffer.
 *
 * @example
 * ```ts
 * const lines = stderrLines({ line: (l) => log.info(`[cmd] ${l}`), dropped: (bytes) => log.info(`[cmd] … ${bytes} bytes not logged`) }, () => scheduler.now());
 * child.stderr.on("data", (chunk: Buffer) => lines.push(chunk));
 * child.on("close", () => lines.end());
 * ```
 */
import { StringDecoder } from "node:string_decoder";
import { US_PER_S } from "../scheduler/clock.ts";

/** Lines logged in any one second; a chatty encoder's progress lines stay well within it. */
export const LINES_PER_SECOND = 20;
/** A stderr "line" longer than this is logged in pieces. */
const LINE_MAX = 1000;
const NEWLINE = 0x0a;

export interface StderrLines {
  /** A chunk of the command's stderr, as read. */
  push(chunk: Buffer): void;
  /** The command's stderr ended: its last part-line, and what was dropped, are logged. */
  end(): void;
}

export interface StderrSink {
  /** A line, without its newline. */
  line(text: string): void;
  /** This many bytes were dropped since the last call (more than LINES_PER_SECOND lines a second). */
  dropped(bytes: number): void;
}

/** Lines of a command's stderr for `sink`, limited as above; `now` is in µs. */
export function stderrLines(sink: StderrSink, now: () => number): StderrLines {
  const decoder = new StringDecoder("utf8");
  let pending = "";
  let windowStart = -Infinity;
  let logged = 0;
  let droppedBytes = 0;
  /** Dropping stopped mid-line: the rest of that line is dropped too, not logged as a line of its own. */
  let midLine = false;

  const line = (text: string) => {
    const trimmed = text.endsWith("\r") ? text.slice(0, -1) : text;
    if (trimmed === "") return;
    logged++;
    sink.line(trimmed);
  };
  const sayDropped = () => {
    if (droppedBytes === 0) return;
    sink.dropped(droppedBytes);
    droppedBytes = 0;
  };

  return {
    push(chunk) {
      const at = now();
      if (at - windowStart >= US_PER_S) {
        windowStart = at;
        logged = 0;
        sayDropped();
      }
      if (logged >= LINES_PER_SECOND) {
        // Not decoded nor split: a flood costs only its reading.
        droppedBytes += chunk.length;
        midLine = chunk[chunk.length - 1] !== NEWLINE;
        return;
      }
      pending += decoder.write(chunk);
      if (midLine) {
        const newline = pending.indexOf("\n");
        const rest = newline < 0 ? pending : pending.slice(0, newline + 1);
        droppedBytes += Buffer.byteLength(rest);
        pending = pending.slice(rest.length);
        midLine = newline < 0;
      }
      let newline: number;
      while (logged < LINES_PER_SECOND && (newline = pending.indexOf("\n")) >= 0) {
        line(pending.slice(0, newline));
        pending = pending.slice(newline + 1);
      }
      while (logged < LINES_PER_SECOND && pending.length > LINE_MAX) {
        line(pending.slice(0, LINE_MAX));
        pending = pending.slice(LINE_MAX);
      }
      if (logged >= LINES_PER_SECOND && pending !== "") {
        droppedBytes += Buffer.byteLength(pending);
        midLine = !pending.endsWith("\n");
        pending = "";
      }
    },
    end() {
      line(pending + decoder.end());
      pending = "";
      sayDropped();
    },
  };
}
