/**
 * `pacer devices` on a host whose libasound lists no PCM (no sound card, an empty configuration):
 * stdout stays an empty list, and one line on stderr says there are none; before, nothing at all
 * was printed, exit 0, and a newcomer could not tell an empty list from a command that did nothing.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { libasoundUnavailable } from "../../backends/alsa/libasound.ts";
import { runPacer } from "../helpers/pacer.ts";

const dir = mkdtempSync(join(tmpdir(), "pacer-devices-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(libasoundUnavailable() !== null)("pacer devices with no ALSA PCMs", () => {
  test("an empty list on stdout, one line on stderr saying so, exit 0; --quiet keeps stderr empty", async () => {
    const empty = join(dir, "empty.conf");
    writeFileSync(empty, "\n");
    const env = { ...process.env, ALSA_CONFIG_PATH: empty };
    const run = await runPacer(["devices"], { env });
    expect(run.code).toBe(0);
    expect(run.stdout).toBe("");
    expect(run.stderr).toBe("pacer: no ALSA PCMs: libasound lists none (no sound card, or none in its configuration)\n");
    const quiet = await runPacer(["--quiet", "devices"], { env });
    expect([quiet.code, quiet.stdout, quiet.stderr]).toEqual([0, "", ""]);
  });
});
