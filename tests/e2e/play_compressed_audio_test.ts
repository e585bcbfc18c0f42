/**
 * The compressed files of a music library, played as a user points pacer at them (a hostile
 * try): FLAC, MP3, Ogg and the like are named for what they are, with the way to play them.
 * Before, `pacer play song.flac` said "give --format for raw PCM", and with --format the FLAC's
 * bytes played as noise; a FLAC named .wav was only "not a WAV file".
 *
 * Real files (ffmpeg's, where it is installed; else the formats' first bytes) and real pacer runs.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { havePeer, runPacer } from "../helpers/pacer.ts";

const dir = mkdtempSync(join(tmpdir(), "pacer-compressed-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const DECODE = "decode it first (ffmpeg -i IN -f wav - | pacer play - …)";

/** A short `ext` file: ffmpeg's encoding of a tone, or the format's magic number and padding. */
function song(ext: "flac" | "mp3", magic: string): string {
  const path = join(dir, `song.${ext}`);
  const made = havePeer("ffmpeg") && spawnSync("ffmpeg", ["-v", "error", "-f", "lavfi", "-i", "sine=d=0.2", "-y", path]).status === 0;
  if (!made) writeFileSync(path, Buffer.concat([Buffer.from(magic), Buffer.alloc(400, 0x55)]));
  return path;
}

describe("compressed audio is named, not taken for raw PCM or data", () => {
  test("a FLAC or MP3: exit 2, what it is and how to play it; --format does not play it as noise", async () => {
    for (const [path, name] of [[song("flac", "fLaC\0\0\0\x22"), "FLAC"], [song("mp3", "ID3\x04\0\0"), "MP3 (ID3-tagged)"]] as const) {
      const line = `pacer: error: ${path}: ${name}, which pacer does not decode; ${DECODE}, or give --bitrate to send it as data\n`;
      const out = join(dir, "noise.raw");
      const run = await runPacer(["play", path, "--to", `file:${out}`]);
      expect({ stderr: run.stderr, code: run.code }).toEqual({ stderr: line, code: 2 });
      const formatted = await runPacer(["play", path, "--format", "s16le:44100:2", "--to", `file:${out}`]);
      expect({ stderr: formatted.stderr, code: formatted.code }).toEqual({ stderr: line, code: 2 });
      expect(existsSync(out)).toBe(false);
      const piped = await runPacer(["play", "-", "--to", `file:${out}`], { stdin: readFileSync(path) });
      expect(piped.stderr).toBe(line.replace(path, "stdin"));
    }
  });

  test("a FLAC named .wav says what it is; --bitrate still sends a compressed file as data", async () => {
    const flac = song("flac", "fLaC\0\0\0\x22");
    const named = join(dir, "song.wav");
    copyFileSync(flac, named);
    const run = await runPacer(["play", named, "--to", `file:${join(dir, "named.raw")}`]);
    expect({ stderr: run.stderr, code: run.code }).toEqual({
      stderr: `pacer: error: ${named}: not a WAV file (no RIFF/WAVE header): it is FLAC, which pacer does not decode\n`,
      code: 1,
    });
    const out = join(dir, "data.raw");
    const data = await runPacer(["play", flac, "--bitrate", "2M", "--to", `file:${out}`]);
    expect({ stderr: data.stderr, code: data.code }).toEqual({ stderr: "", code: 0 });
    expect(readFileSync(out).equals(readFileSync(flac))).toBe(true);
  });
});
