/**
 * A signal pacer was started ignoring stays ignored: a script's `pacer … &` ignores SIGINT (POSIX
 * gives that to a background job of a shell without job control), so a Ctrl-C meant for the
 * script must not stop it. The stop handlers of play and serve had taken SIGINT back. SIGTERM is
 * the exception for serve: it is how a daemon is stopped, and one started ignoring it (a wrapper's
 * `trap '' TERM`) kept serving until SIGKILL.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { rampS16, writeWav } from "../helpers/audio.ts";
import { MAIN } from "../helpers/pacer.ts";
import { prepareServe } from "../server/serve_fixture.ts";

const dir = mkdtempSync(join(tmpdir(), "pacer-ignored-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `pacer ARGS` exec'd by a shell that first runs `prelude` (a trap), its exit code once it ends. */
function startUnder(prelude: string, args: string[]) {
  const quoted = [process.execPath, MAIN, ...args].map((a) => `'${a}'`).join(" ");
  const child = spawn("sh", ["-c", `${prelude} exec ${quoted}`], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  return { child, exited, stderr: () => stderr };
}

describe("a stop signal pacer was started ignoring", () => {
  const wav = join(dir, "tone.wav");
  writeWav(wav, { encoding: "s16le", rate: 48_000, channels: 2 }, rampS16(48_000 * 4));

  for (const [prelude, stopsOnInt] of [["trap '' INT;", false], ["", true]] as const) {
    test(`play ${prelude ? "under trap '' INT: SIGINT leaves it playing, SIGTERM stops it" : "as usual: SIGINT stops it"}`, async () => {
      const out = join(dir, `out-${stopsOnInt}.raw`);
      const run = startUnder(prelude, ["play", wav, "--to", `file:${out}`]);
      // Under way: the file is being written.
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline && !(statSync(out, { throwIfNoEntry: false })?.size ?? 0)) await Bun.sleep(50);
      run.child.kill("SIGINT");
      const early = await Promise.race([run.exited, Bun.sleep(700).then(() => "running" as const)]);
      if (stopsOnInt) {
        expect(early).toBe(130);
        return;
      }
      expect(early).toBe("running");
      run.child.kill("SIGTERM");
      expect(await run.exited).toBe(143);
      expect(run.stderr()).toBe("");
    }, 20_000);
  }
});

test("serve under trap '' INT TERM: SIGINT leaves it serving, SIGTERM stops it cleanly", async () => {
  const prepared = await prepareServe();
  try {
    const run = startUnder("trap '' INT TERM;", ["serve", "--config", prepared.configPath]);
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && !run.stderr().includes("pacer: serving")) await Bun.sleep(20);
    expect(run.stderr()).toContain("pacer: serving");
    run.child.kill("SIGINT");
    expect(await Promise.race([run.exited, Bun.sleep(700).then(() => "running" as const)])).toBe("running");
    run.child.kill("SIGTERM");
    // Ignored, it ran on: this race then ended on the timer, and the server had to be killed.
    const code = await Promise.race([run.exited, Bun.sleep(3_000).then(() => "running" as const)]);
    if (code === "running") run.child.kill("SIGKILL");
    expect(code).toBe(0);
    expect(run.stderr()).toContain("pacer: SIGTERM: stopping");
    expect(run.stderr()).toContain("pacer: stopped");
  } finally {
    rmSync(prepared.dir, { recursive: true, force: true });
  }
}, 20_000);
