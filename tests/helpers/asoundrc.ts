/**
 * A throw-away ALSA configuration for tests on machines with no sound card.
 *
 * It includes the system alsa.conf, then defines:
 * - `pacer_test`: a `file` PCM over `null`. Playback appends exactly the bytes
 *   written to `outFile` (format "raw": no header); capture returns the bytes of
 *   `inFile`. The `null` slave consumes and produces instantly, so this PCM
 *   has no real-time clock: a whole buffer is always available.
 * - `pacer_by_format`: the same, but each format opened writes its own file,
 *   `out-FORMAT-RATE-CHANNELS.raw` in `dir` (e.g. out-S24_3LE-48000-2.raw).
 * - `pacer_s16_only`: a `linear` PCM whose slave is S16_LE, so it refuses
 *   non-linear encodings such as FLOAT_LE (for format errors).
 * - `pacer_stereo_only`: a `multi` PCM of two bindings, so it takes two
 *   channels and no other count, as a card's hw: PCM; what it is given goes,
 *   as `pacer_test`'s does, to `stereoFile`.
 *
 * libasound reads ALSA_CONFIG_PATH with getenv() when it (re)loads its config,
 * which it checks on every snd_pcm_open and snd_device_name_hint. Bun's
 * `process.env` writes do not reach the C environment (measured: getenv() still
 * returns NULL after assigning process.env), so {@link TestAsoundrc.useInThisProcess}
 * calls libc setenv() itself; {@link TestAsoundrc.env} is for spawned processes.
 *
 * @example
 * ```ts
 * const rc = writeTestAsoundrc({ inFile: tone });
 * rc.useInThisProcess();                       // in-process AlsaPcm tests
 * Bun.spawn(["pacer", "devices"], { env: rc.env }); // or a child pacer
 * rc.cleanup();
 * ```
 */
import { libc } from "../../foundation/libc.ts";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const TEST_PCM = "pacer_test";
export const TEST_PCM_DESCRIPTION = "pacer test";
export const TEST_PCM_S16_ONLY = "pacer_s16_only";
export const TEST_PCM_BY_FORMAT = "pacer_by_format";
export const TEST_PCM_STEREO_ONLY = "pacer_stereo_only";

export interface TestAsoundrc {
  /** The temporary directory holding everything below. */
  dir: string;
  /** The asoundrc itself: the value for ALSA_CONFIG_PATH. */
  path: string;
  /** Where `pacer_test` playback writes; truncated at each open. */
  outFile: string;
  /** What `pacer_test` capture reads. */
  inFile: string;
  /** Where `pacer_stereo_only` playback writes. */
  stereoFile: string;
  /** process.env plus ALSA_CONFIG_PATH, for Bun.spawn. */
  env: Record<string, string>;
  /** Points this process's libasound at the file (setenv); undone by cleanup(). */
  useInThisProcess(): void;
  /** Restores ALSA_CONFIG_PATH and removes the directory. */
  cleanup(): void;
}


const VAR = Buffer.from("ALSA_CONFIG_PATH\0");

function cEnvironment() {
  const c = libc();
  if (!c) throw new Error("libc.so.6 could not be loaded");
  return c;
}

/** Writes the asoundrc (and `inFile`, default empty) into a new temp directory. */
export function writeTestAsoundrc(options: { inFile?: Uint8Array } = {}): TestAsoundrc {
  const dir = mkdtempSync(join(tmpdir(), "pacer-alsa-"));
  const path = join(dir, "asoundrc");
  const outFile = join(dir, "out.raw");
  const inFile = join(dir, "in.raw");
  const stereoFile = join(dir, "stereo.raw");
  writeFileSync(inFile, options.inFile ?? new Uint8Array(0));
  writeFileSync(
    path,
    `</usr/share/alsa/alsa.conf>
pcm.${TEST_PCM} {
  type file
  slave.pcm "null"
  file ${JSON.stringify(outFile)}
  infile ${JSON.stringify(inFile)}
  format "raw"
  hint { show on description ${JSON.stringify(TEST_PCM_DESCRIPTION)} }
}
pcm.${TEST_PCM_BY_FORMAT} {
  type file
  slave.pcm "null"
  file ${JSON.stringify(join(dir, "out-%f-%r-%c.raw"))}
  format "raw"
}
pcm.${TEST_PCM_S16_ONLY} {
  type linear
  slave { pcm "null"; format S16_LE }
}
pcm.pacer_stereo_file {
  type file
  slave.pcm "null"
  file ${JSON.stringify(stereoFile)}
  format "raw"
}
pcm.${TEST_PCM_STEREO_ONLY} {
  type multi
  slaves.a { pcm "pacer_stereo_file"; channels 2 }
  bindings.0 { slave a; channel 0 }
  bindings.1 { slave a; channel 1 }
}
`,
  );

  let previous: string | null | undefined; // undefined: this process was never switched
  return {
    dir,
    path,
    outFile,
    inFile,
    stereoFile,
    env: { ...(process.env as Record<string, string>), ALSA_CONFIG_PATH: path },
    useInThisProcess() {
      const c = cEnvironment();
      if (previous === undefined) previous = c.getenv(VAR);
      c.setenv(VAR, Buffer.from(`${path}\0`), 1);
      process.env.ALSA_CONFIG_PATH = path;
    },
    cleanup() {
      if (previous !== undefined) {
        const c = cEnvironment();
        if (previous === null) c.unsetenv(VAR);
        else c.setenv(VAR, Buffer.from(`${previous}\0`), 1);
        if (previous === null) delete process.env.ALSA_CONFIG_PATH;
        else process.env.ALSA_CONFIG_PATH = previous;
        previous = undefined;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
