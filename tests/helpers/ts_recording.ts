/**
 * A `.ts` Recorder run in a temp folder on an input a test writes: its summary and the files it
 * wrote, oldest first (`x.ts`, `x-1.ts`, …).
 *
 * @example
 * ```ts
 * const { summary, files } = await recordTs((input) => input.end(bytes), { rotateBytes: 30_000 });
 * ```
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { silentLogger } from "../../foundation/log.ts";
import { Recorder, type RecorderOptions, type RecordSummary } from "../../recorder/recorder.ts";
import { streamSource } from "../../sources/stream_source.ts";
import { makeTempDir } from "./mpeg_fixtures.ts";

/** The files a recording wrote in `dir`, oldest first (hidden ones, the lock, left out). */
export function recordedFiles(dir: string): Buffer[] {
  const names = readdirSync(dir).filter((n) => !n.startsWith(".")).sort((a, b) => a.length - b.length || a.localeCompare(b));
  return names.map((n) => readFileSync(join(dir, n)));
}

export async function recordTs(feed: (input: PassThrough) => unknown, options: Partial<RecorderOptions> = {}): Promise<{ summary: RecordSummary; files: Buffer[] }> {
  const { dir, cleanup } = makeTempDir();
  try {
    const input = new PassThrough();
    const recorder = new Recorder(streamSource("test input", input), { pattern: join(dir, "x.ts"), kind: "ts", syncEveryMs: 1000, log: silentLogger, ...options });
    await feed(input);
    const summary = await recorder.done;
    return { summary, files: recordedFiles(dir) };
  } finally {
    cleanup();
  }
}
