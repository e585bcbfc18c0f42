/**
 * Inputs made at bench time (nothing binary is committed): tone WAVs and
 * constant-bit-rate transport streams, with multicat's `.aux` index when
 * multicat's `ingests` is installed.
 *
 * @example
 * ```ts
 * const wav = toneWav(dir, "tone.wav", 10);
 * const ts = cbrTs(dir, 1_500_000, 20);
 * ```
 */
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { wavHeader } from "../protocol/wav.ts";
import { parseSampleFormat } from "../protocol/sample_format.ts";
import { makeCbrTs } from "../tests/helpers/mpeg_fixtures.ts";

export const TONE_FORMAT = "s16le:44100:2";
const TONE_HZ = 997;
/** makeCbrTs's PCR PID. */
export const CBR_PCR_PID = 0x100;

/** A 44.1 kHz stereo 16-bit sine, `seconds` long. */
export function toneWav(dir: string, name: string, seconds: number): string {
  const format = parseSampleFormat(TONE_FORMAT);
  const frames = Math.round(seconds * format.rate);
  const samples = Buffer.alloc(frames * 4);
  for (let i = 0; i < frames; i++) {
    const v = Math.round(Math.sin((2 * Math.PI * TONE_HZ * i) / format.rate) * 16000);
    samples.writeInt16LE(v, i * 4);
    samples.writeInt16LE(v, i * 4 + 2);
  }
  const path = join(dir, name);
  writeFileSync(path, Buffer.concat([wavHeader(format, samples.length), samples]));
  return path;
}

/** A PCR-timed CBR transport stream at `bitrate` bits/s; also its multicat `.aux` if possible. */
export function cbrTs(dir: string, bitrate: number, seconds: number): { path: string; aux: boolean } {
  const path = join(dir, `cbr_${bitrate}.ts`);
  writeFileSync(path, makeCbrTs({ bitrate, duration: seconds }));
  let aux = false;
  if (Bun.which("ingests")) {
    const r = Bun.spawnSync(["ingests", "-p", String(CBR_PCR_PID), path], { stdout: "ignore", stderr: "ignore" });
    aux = r.exitCode === 0;
  }
  return { path, aux };
}

interface ServeMediaDir {
  dir: string;
  media: string;
  clipPath: string;
  clipName: string;
}

/**
 * A scratch directory for a `pacer serve` bench, with a media root holding one CBR TS clip. All
 * world-readable: started as root, the server reads media as "nobody".
 */
export function serveMediaDir(prefix: string, bitrate: number, seconds: number): ServeMediaDir {
  return mediaRoot(prefix, (media) => cbrTs(media, bitrate, seconds).path);
}

/** The same, holding a copy of `clip`. */
export function serveMediaDirWith(prefix: string, clip: string): ServeMediaDir {
  return mediaRoot(prefix, (media) => {
    const path = join(media, basename(clip));
    copyFileSync(clip, path);
    return path;
  });
}

/** A world-readable scratch directory with a media root, and the clip `place` puts there. */
function mediaRoot(prefix: string, place: (media: string) => string): ServeMediaDir {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o755);
  const media = join(dir, "media");
  mkdirSync(media, { mode: 0o755 });
  const clipPath = place(media);
  chmodSync(clipPath, 0o644);
  return { dir, media, clipPath, clipName: clipPath.slice(media.length + 1) };
}
