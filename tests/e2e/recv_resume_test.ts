/**
 * `pacer recv` over a link that fails for longer than the server's interest_timeout: the server
 * lets the job expire, and recv asks again. It asks from where it got to (the play's `offset`),
 * so the file holds the stream once; it had asked from the start, and the file held the stream's
 * start twice. The outage is recv held still (SIGSTOP): no interest leaves it meanwhile. A live
 * channel has no place to go back to: recv asks for it again as it asked first, from now.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { startPacer } from "../helpers/pacer.ts";
import { makeCbrTs } from "../helpers/mpeg_fixtures.ts";
import { feedUdp } from "../helpers/udp_feed.ts";
import { CLIP, freeUdpPort, type ServeFixture, startServe } from "../server/serve_fixture.ts";

/** Short, so the job expires well within the outage. */
const INTEREST_TIMEOUT_S = 0.3;
const OUTAGE_MS = 700;

/** recv's stderr as it comes, and its exit. */
function startRecv(request: string, out: string) {
  const recv = startPacer(["recv", "--from", serve.address, "--request", request, "--out", out]);
  const run = { recv, stderr: "", exit: new Promise<number | null>((resolve) => recv.on("close", (code) => resolve(code))) };
  recv.stderr.on("data", (d) => (run.stderr += d));
  recv.stdin.end();
  return run;
}

/** Waits until the file holds more than `bytes`; fails the test after 3 s, when it never did. */
async function untilBytes(path: string, bytes: number): Promise<void> {
  for (let i = 0; !(existsSync(path) && statSync(path).size > bytes); i++) {
    if (i === 300) throw new Error(`${path} stayed at ${existsSync(path) ? statSync(path).size : 0} bytes, never past ${bytes}`);
    await Bun.sleep(10);
  }
}

/** recv held still past the interest timeout, as a link that is down. */
async function outage(recv: ReturnType<typeof startRecv>["recv"]): Promise<void> {
  recv.kill("SIGSTOP");
  await Bun.sleep(OUTAGE_MS);
  recv.kill("SIGCONT");
}

let serve: ServeFixture;
/** The live channel's input: a UDP port the test sends a TS to. */
let livePort: number;
beforeAll(async () => {
  livePort = await freeUdpPort();
  serve = await startServe({ config: [`interest_timeout = ${INTEREST_TIMEOUT_S}`, "[[live]]", 'name = "feed"', `input = "udp://@127.0.0.1:${livePort}"`].join("\n") });
});
afterAll(async () => {
  await serve.stop();
  serve.cleanup();
});

describe("pacer recv resumes an expired stream where it got to", () => {
  test("a 0.7 s outage past a 0.3 s interest_timeout: the file is the clip, once", async () => {
    const out = join(serve.dir, "resumed.ts");
    const run = startRecv("clip.ts", out);
    try {
      await untilBytes(out, 20_000);
      await outage(run.recv);
      expect(await run.exit).toBe(0);
    } finally {
      run.recv.kill("SIGCONT");
      run.recv.kill("SIGKILL");
    }
    expect(run.stderr).toContain("the server let the stream expire; requesting again");
    expect(serve.stderr()).toMatch(/job expired job=job-\d+ source=clip\.ts/);
    const written = readFileSync(out);
    expect(written.length).toBe(CLIP.length);
    expect(written.equals(Buffer.from(CLIP))).toBe(true);
  }, 10_000);
});

describe("pacer recv asks again for a live channel that expired", () => {
  test("from now, as it asked first: the stream goes on into the file, and Ctrl-C ends it with 0", async () => {
    const ts = makeCbrTs({ bitrate: 1_000_000, duration: 6 });
    const stopFeed = await feedUdp(ts, livePort);
    const out = join(serve.dir, "live.ts");
    const run = startRecv("live:feed", out);
    try {
      await untilBytes(out, 20_000);
      await outage(run.recv);
      for (let i = 0; i < 300 && !run.stderr.includes("requesting again"); i++) await Bun.sleep(10);
      const before = statSync(out).size;
      await untilBytes(out, before + 10_000);
      run.recv.kill("SIGINT");
      expect(await run.exit).toBe(0);
    } finally {
      stopFeed();
      run.recv.kill("SIGCONT");
      run.recv.kill("SIGKILL");
    }
    expect(run.stderr).toContain("the server let the stream expire; requesting again");
    expect(run.stderr).not.toContain("error");
    // The stream after the outage went on into the file: whole packets of the feed's, in sync.
    const written = readFileSync(out);
    expect(written.length % 188).toBe(0);
    for (let at = 0; at < written.length; at += 188) if (written[at] !== 0x47) throw new Error(`no sync byte at ${at}`);
  }, 10_000);
});
