/**
 * `pacer devices`: the ALSA PCMs this host knows, one per line as
 * `NAME<TAB>DESCRIPTION (io)`, ready for `--to alsa:NAME`.
 *
 * @example
 * ```ts
 * process.exitCode = runDevices(log); // "default\tDefault ALSA Output (both)" ...
 * ```
 */
import { libasoundUnavailable } from "../backends/alsa/libasound.ts";
import { AlsaError, listPcms } from "../backends/alsa/pcm.ts";
import { EXIT_FAILURE, EXIT_OK, UsageError } from "../foundation/errors.ts";
import type { Logger } from "../foundation/log.ts";

/** Prints the PCM list to `write` (stdout); returns the exit code. It takes no arguments: any is a usage error. */
export function runDevices(log: Logger, argv: readonly string[] = [], write: (text: string) => void = (text) => process.stdout.write(text)): number {
  if (argv.length > 0) throw new UsageError(`devices takes no arguments or options, got "${argv[0]}"`);
  const why = libasoundUnavailable();
  if (why !== null) {
    log.error(why);
    return EXIT_FAILURE;
  }
  let pcms;
  try {
    pcms = listPcms();
  } catch (err) {
    if (!(err instanceof AlsaError)) throw err;
    log.error(err.message);
    return EXIT_FAILURE;
  }
  // Said on stderr, so stdout stays an empty list for scripts: a blank answer left a newcomer guessing.
  if (pcms.length === 0) log.info("no ALSA PCMs: libasound lists none (no sound card, or none in its configuration)");
  let text = "";
  for (const pcm of pcms) text += `${pcm.name}\t${pcm.description ? `${pcm.description} ` : ""}(${pcm.io})\n`;
  write(text);
  return EXIT_OK;
}
