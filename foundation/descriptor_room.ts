/**
 * How many more files this process may open: its soft descriptor limit (RLIMIT_NOFILE, which
 * prlimit may change while it runs) less the descriptors it holds below that limit. Read from
 * /proc, which costs a descriptor itself: where even that fails (EMFILE), there is no room.
 * Without /proc, `free` is Infinity: unknown.
 *
 * @example
 * ```ts
 * const { free, limit } = descriptorRoom();
 * if (free < 8) pauseListeners();
 * ```
 */
import { readdirSync, readFileSync } from "node:fs";

export interface DescriptorRoom {
  /** Descriptors that may still be opened. */
  readonly free: number;
  /** The soft limit; the last one read where /proc could not be. */
  readonly limit: number;
}

let lastLimit = Number.POSITIVE_INFINITY;

export function descriptorRoom(): DescriptorRoom {
  try {
    const limits = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync("/proc/self/limits", "latin1"));
    lastLimit = limits && limits[1] !== "unlimited" ? Number(limits[1]) : Number.POSITIVE_INFINITY;
    // Descriptors at or past the limit (held from before it was lowered) take no room below it.
    let held = 0;
    for (const name of readdirSync("/proc/self/fd")) if (Number(name) < lastLimit) held++;
    // One of those was the listing's own, closed by now.
    return { free: Math.max(0, lastLimit - (held - 1)), limit: lastLimit };
  } catch (error) {
    const code = (error as { code?: string }).code;
    // Without /proc (or its view of this process) the room is unknown: taken as plenty, never as none.
    return { free: code === "EMFILE" || code === "ENFILE" ? 0 : Number.POSITIVE_INFINITY, limit: lastLimit };
  }
}
