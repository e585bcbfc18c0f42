/**
 * `pacer recv` over a link that fails for longer than the server's interest_timeout: the server
 * lets the job expire, and recv asks again. It asks from where it got to (the play's `offset`),
 * so the file holds the stream once; it had asked from the start, and the file held the stream's
 * start twice. The outage is recv held still (SIGSTOP): no interest leaves it meanwhile.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { startPacer } from "../helpers/pacer.ts";
import { CLIP, type ServeFixture, startServe } from "../server/serve_fixture.ts";

/** Short, so the job expires well within the outage. */
const INTEREST_TIMEOUT_S = 0.3;
const OUTAGE_MS = 700;

let serve: ServeFixture;
beforeAll(async () => {
  serve = await startServe({ config: `interest_timeout = ${INTEREST_TIMEOUT_S}` });
});
afterAll(async () => {
  await serve.stop();
  serve.cleanup();
});

describe("pacer recv resumes an expired stream where it got to", () => {
  test("a 0.7 s outage past a 0.3 s interest_timeout: the file is the clip, once", async () => {
    const out = join(serve.dir, "resumed.ts");
    const recv = startPacer(["recv", "--from", serve.address, "--request", "clip.ts", "--out", out]);
    let stderr = "";
    recv.stderr.on("data", (d) => (stderr += d));
    recv.stdin.end();
    const exit = new Promise<number | null>((resolve) => recv.on("close", (code) => resolve(code)));
    try {
      for (let i = 0; i < 300 && !(existsSync(out) && statSync(out).size > 20_000); i++) await Bun.sleep(10);
      recv.kill("SIGSTOP");
      await Bun.sleep(OUTAGE_MS);
      recv.kill("SIGCONT");
      expect(await exit).toBe(0);
    } finally {
      recv.kill("SIGCONT");
      recv.kill("SIGKILL");
    }
    expect(stderr).toContain("the server let the stream expire; requesting again");
    expect(serve.stderr()).toMatch(/job expired job=job-\d+ source=clip\.ts/);
    const written = readFileSync(out);
    expect(written.length).toBe(CLIP.length);
    expect(written.equals(Buffer.from(CLIP))).toBe(true);
  }, 10_000);
});
