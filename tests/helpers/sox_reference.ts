/** sox as the independent reference for what pacer's resampler makes of a WAV. */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * The RMS level, dB, of `ours` (44.1 kHz stereo s16be, as RTP L16 carries it) minus sox's own
 * resampling of `wav` to that format, undithered; scratch files go in `dir`. Throws if sox fails.
 */
export function differenceFromSoxDb(wav: string, ours: Uint8Array, dir: string): number {
  const oursPath = join(dir, "ours.raw");
  const reference = join(dir, "sox.raw");
  writeFileSync(oursPath, ours);
  const made = spawnSync("sox", [wav, "-D", "-r", "44100", "-b", "16", "-e", "signed", "-B", reference], { encoding: "utf8" });
  if (made.status !== 0) throw new Error(`sox could not resample ${wav}: ${made.stderr}`);
  const raw = ["-t", "raw", "-e", "signed", "-b", "16", "-B", "-r", "44100", "-c", "2"];
  const diff = spawnSync("sox", ["-m", "-v", "1", ...raw, oursPath, "-v", "-1", ...raw, reference, "-n", "stats"], { encoding: "utf8" });
  const rmsDb = Number(/RMS lev dB\s+(-?[\d.]+)/.exec(diff.stderr)?.[1]);
  if (Number.isNaN(rmsDb)) throw new Error(`sox stats gave no RMS level: ${diff.stderr}`);
  return rmsDb;
}
