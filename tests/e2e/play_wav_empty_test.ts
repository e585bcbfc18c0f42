/**
 * A WAV with a header and no data (sox writes one for an empty recording, GStreamer's wavenc for a
 * stream that ended before its first buffer): it played nothing and exited 0, where an empty file
 * given --format and an empty stdin are an input that failed (exit 1). It is now one line, `FILE:
 * no audio in it (a WAV header and no data): nothing to play`, exit 1: a file before any output
 * opens, so among several inputs it refuses the run before anything plays, as a missing file
 * does; stdin when it ends, so what played before it has gone out.
 *
 * Real subprocesses (sox, gst-launch-1.0 where installed) and real files.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { wavHeader } from "../../protocol/wav.ts";
import { rampS16, writeWav } from "../helpers/audio.ts";
import { havePeer, runPacer } from "../helpers/pacer.ts";

const dir = mkdtempSync(join(tmpdir(), "pacer-wav-empty-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const CD = { encoding: "s16le", rate: 44_100, channels: 2 } as const;
const samples = rampS16(4410);
const full = join(dir, "full.wav");
writeWav(full, CD, samples);

/** A header and no data: sox's own where installed, else the one pacer writes. */
function headerOnly(): string {
  const path = join(dir, "empty.wav");
  if (havePeer("sox")) spawnSync("sox", ["-n", "-r", "44100", "-c", "2", "-b", "16", path, "trim", "0", "0"]);
  if (!existsSync(path)) writeFileSync(path, wavHeader(CD, 0));
  expect(readFileSync(path).length).toBe(44);
  return path;
}

const noAudio = (label: string) => `pacer: error: ${label}: no audio in it (a WAV header and no data): nothing to play\n`;

describe("a WAV with a header and no data", () => {
  test("a file is one line and exit 1, before any output opens", async () => {
    const empty = headerOnly();
    const out = join(dir, "from-file.raw");
    const run = await runPacer(["play", empty, "--to", `file:${out}`]);
    expect({ stderr: run.stderr, code: run.code }).toEqual({ stderr: noAudio(empty), code: 1 });
    expect(existsSync(out)).toBe(false);
  });

  test("on stdin it is one line and exit 1, as sox or GStreamer's wavenc pipe it", async () => {
    const piped = [readFileSync(headerOnly())];
    // No buffer at all: its header alone, its sizes open ("to the end").
    if (havePeer("gst-launch-1.0")) piped.push(spawnSync("sh", ["-c", "gst-launch-1.0 -q audiotestsrc num-buffers=0 ! wavenc ! fdsink fd=1 2>/dev/null | cat"]).stdout);
    for (const stdin of piped) {
      const out = join(dir, "from-stdin.raw");
      const run = await runPacer(["play", "-", "--to", `file:${out}`], { stdin });
      expect({ stderr: run.stderr, code: run.code }).toEqual({ stderr: noAudio("stdin"), code: 1 });
      expect(readFileSync(out).length).toBe(0);
    }
  });

  test("among several inputs: a file refuses the run before anything plays; stdin ends it after what came before", async () => {
    const empty = headerOnly();
    const out = join(dir, "several.raw");
    const run = await runPacer(["play", full, empty, full, "--to", `file:${out}`]);
    expect({ stderr: run.stderr, code: run.code }).toEqual({ stderr: noAudio(empty), code: 1 });
    expect(existsSync(out)).toBe(false);
    const piped = await runPacer(["play", full, "-", full, "--to", `file:${out}`], { stdin: readFileSync(empty) });
    expect({ stderr: piped.stderr, code: piped.code }).toEqual({ stderr: noAudio("stdin"), code: 1 });
    expect(readFileSync(out).equals(samples)).toBe(true);
  });
});
