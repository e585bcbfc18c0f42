/**
 * The error kinds that decide pacer's exit code (DESIGN.md "Exit codes"):
 * a UsageError exits 2, a TemporaryError 75, anything else 1.
 */
import { constants } from "node:os";

/** Bad command line: unknown option, unknown URL scheme, malformed format spec. Exit 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** A condition that may clear by itself: lock held, device busy past its wait. Exit 75. */
export class TemporaryError extends Error {
  override name = "TemporaryError";
}

/** Input, network or runtime failure with a one-line message. Exit 1. */
export class PacerError extends Error {
  override name = "PacerError";
}

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
export const EXIT_TEMPFAIL = 75;
/** Exit status after a signal: 128 + its number (SIGINT 130, SIGTERM 143), the shells' convention. */
export const EXIT_SIGNAL_BASE = 128;

/** The exit status after stopping cleanly on `signal`, as a shell reports a process it killed (SIGHUP 129, SIGINT 130, SIGTERM 143). */
export function exitCodeAfter(signal: NodeJS.Signals): number {
  return EXIT_SIGNAL_BASE + constants.signals[signal];
}

/** The errno code of a Node error ("ENOENT"), or the error as text when it has none. */
export function errnoOf(e: unknown): string {
  return typeof e === "object" && e !== null && "code" in e ? String(e.code) : String(e);
}
