/**
 * The test PCM with a real-time clock (alsa_clock_pcm.c): builds the plugin once per source with
 * gcc against libasound2-dev (cached in .cache/), and writes asoundrc entries for it. Unlike the
 * `file` and `null` PCMs, it consumes at a rate, so it can run dry (an underrun) or fill up.
 *
 * @example
 * ```ts
 * const lib = clockPcmLibrary();        // a path, or throws saying what is missing
 * writeFileSync(rc, clockPcmConfig(lib, { fast: { speed: 1.1, file: heard, xruns } }));
 * ```
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync } from "node:fs";
import { join } from "node:path";

// -DPIC: without it alsa-lib's plugin macros build the static-library form, which needs snd_dlsym_start.
const GCC_FLAGS = ["-shared", "-fPIC", "-DPIC", "-O2", "-Wall"];
const SOURCE = join(import.meta.dir, "alsa_clock_pcm.c");
const CACHE = join(import.meta.dir, "..", "..", ".cache", "alsa_clock");

/** Why the plugin cannot be built here, or null. */
export function clockPcmUnavailable(): string | null {
  if (!Bun.which("gcc")) return "gcc is not installed";
  if (!existsSync("/usr/include/alsa/pcm_external.h")) return "the ALSA headers are not installed (libasound2-dev)";
  return null;
}

/** The built plugin's path (`libasound_module_pcm_pacer_clock.so`), building it if needed. */
export function clockPcmLibrary(): string {
  const why = clockPcmUnavailable();
  if (why !== null) throw new Error(`the test clock PCM cannot be built: ${why}`);
  const source = readFileSync(SOURCE);
  const dir = join(CACHE, createHash("sha256").update(source).update(GCC_FLAGS.join(" ")).digest("hex").slice(0, 16));
  const lib = join(dir, "libasound_module_pcm_pacer_clock.so");
  if (existsSync(lib)) return lib;
  mkdirSync(dir, { recursive: true });
  // Built beside and renamed, so test files building at once never load a half-written library.
  const partial = `${lib}.${process.pid}`;
  const built = Bun.spawnSync(["gcc", ...GCC_FLAGS, "-o", partial, SOURCE, "-lasound"], { stderr: "pipe" });
  if (built.exitCode !== 0) throw new Error(`gcc failed on ${SOURCE}: ${built.stderr.toString().trim()}`);
  renameSync(partial, lib);
  return lib;
}

export interface ClockPcm {
  /** Device frames consumed per nominal frame: above 1 the device runs fast and runs dry. */
  speed: number;
  /** Every frame written, in order, no header. */
  file?: string;
  /** The underrun count, rewritten at each one. */
  xruns?: string;
}

/** An asoundrc: the system config, the plugin's type, and one `pcm.NAME` per entry. */
export function clockPcmConfig(lib: string, pcms: Record<string, ClockPcm>): string {
  let text = `</usr/share/alsa/alsa.conf>\npcm_type.pacer_clock { lib ${JSON.stringify(lib)} }\n`;
  for (const [name, pcm] of Object.entries(pcms)) {
    text += `pcm.${name} {\n  type pacer_clock\n  speed ${pcm.speed}\n`;
    if (pcm.file) text += `  file ${JSON.stringify(pcm.file)}\n`;
    if (pcm.xruns) text += `  xruns ${JSON.stringify(pcm.xruns)}\n`;
    text += "}\n";
  }
  return text;
}
