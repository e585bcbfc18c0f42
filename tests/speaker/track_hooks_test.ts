/**
 * A track hook that dies of a signal, as a real `sh -c`: its warning names the signal. Before, it
 * read `exited with status null` (Node gives no code for a signal).
 */
import { expect, test } from "bun:test";
import { createLogger } from "../../foundation/log.ts";
import { runTrackHook } from "../../speaker/track_hooks.ts";

test("a hook killed by a signal is said to be, by the signal's name", async () => {
  const lines: string[] = [];
  const log = createLogger({ level: "warn", write: (line) => lines.push(line) });
  await runTrackHook("kill -KILL $$", { id: "t1", path: "a.wav", status: "played" }, log);
  // The line comes once its stderr has closed, just after its exit.
  for (let i = 0; i < 100 && lines.length === 0; i++) await Bun.sleep(10);
  expect(lines).toEqual(['pacer: warn: hook "kill -KILL $$" for t1 was killed by SIGKILL']);
});
