/**
 * What one output of a job lost, as the one line the user reads at the end:
 * how much of the stream never reached it, out of how much, and why, in the
 * words of the mechanisms that dropped it (a command restarted, an output
 * that fell too far behind the others and skipped ahead, one given up on
 * after the end of the stream, datagrams that found no room to send). Outputs that lost nothing say nothing.
 *
 * @example
 * ```ts
 * describeLoss(destination, "end")?.line;
 * // "cmd:true: lost 5.0 s of 5.0 s (restarted 6 times)"
 * ```
 */
import { US_PER_S } from "../scheduler/clock.ts";
import type { Destination } from "./destination.ts";

export interface OutputLoss {
  label: string;
  /** Media time that never reached the output, µs. */
  lostUs: number;
  /** Media time of the stream the output covered, µs. */
  spanUs: number;
  /** `LABEL: lost X s of Y s (why)`, for the log. */
  line: string;
}

/** Bounds the reasons name; set by the job (pipeline/job.ts). */
export interface LossBounds {
  lagBoundS: number;
  graceS: number;
}

/** Null when the output lost nothing. `closedBy`: the end of the stream, or the job being stopped. */
export function describeLoss(d: Destination, closedBy: "end" | "stop", bounds: LossBounds): OutputLoss | null {
  const lostUs = d.lostUs();
  if (!(lostUs > 0)) return null;
  const spanUs = Math.max(d.spanUs(), lostUs);
  const why: string[] = [];
  const restarts = d.backend.counters.errors.restart ?? 0;
  if (restarts > 0) why.push(`restarted ${times(restarts)}`);
  const noRoom = d.backend.counters.errors.nobufs ?? 0;
  if (noRoom > 0) why.push(`${noRoom === 1 ? "1 datagram" : `${noRoom} datagrams`} found no room to send`);
  const behind = d.backend.counters.errors.behind ?? 0;
  if (behind > 0) why.push(`${behind === 1 ? "1 datagram" : `${behind} datagrams`} dropped by a sender thread that fell behind`);
  if (d.skipsAhead > 0) why.push(`fell more than ${bounds.lagBoundS} s behind the other outputs and skipped ahead ${times(d.skipsAhead)}`);
  if (d.givenUp || d.backend.counters.errors.ended) {
    why.push(`cut off ${bounds.graceS} s after ${closedBy === "end" ? "the end of the stream" : "being stopped"}`);
  }
  const reasons = why.length > 0 ? ` (${why.join("; ")})` : "";
  return { label: d.label, lostUs, spanUs, line: `${d.label}: lost ${mediaTime(lostUs)} of ${mediaTime(spanUs)}${reasons}` };
}

function times(n: number): string {
  return n === 1 ? "once" : `${n} times`;
}

/** "4.9 s", or "40 ms" below a tenth of a second, so a small loss never reads as "0.0 s". */
function mediaTime(us: number): string {
  return us < US_PER_S / 10 ? `${Math.max(1, Math.round(us / 1000))} ms` : `${(us / US_PER_S).toFixed(1)} s`;
}
