/** What every bench section gets: mode, the binary, a scratch directory and a logger for progress. */
export interface BenchContext {
  quick: boolean;
  /** Stream counts for section 3's many-streams runs (`--streams 500`), instead of the mode's default; section 5 always runs 500. */
  streams?: number[];
  /** Absolute path of dist/pacer. */
  pacer: string;
  /** Scratch directory for fixtures (deleted at the end). */
  dir: string;
  /** Progress notes, on stderr. */
  note(message: string): void;
}

/** A section's output: its tables (already formatted), target rows, and raw figures for --json. */
export interface SectionResult {
  tables: string[];
  rows: import("./stats.ts").BenchRow[];
  figures: Record<string, unknown>;
}
