/**
 * The CI version of `npm run soak`: 90 s of 50 looping streams, the live channel dropped and
 * reconnected, its rotating recording, the speaker and random control, through a real `pacer
 * serve`, a row every 30 s. It passes only with no fd or memory growth from the second row (1:00;
 * the server's RSS climbs for about 40 s as its buffers and code warm up) to the last, no lost
 * datagram on the sampled RTP receivers, a recording that holds what was sent, and lapsed
 * interest that expired its jobs. (It ran two minute-rows before, and the growth checks compared
 * the second with itself.)
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { REPO } from "../helpers/pacer.ts";

test("soak, 90 s: nothing grows, nothing is lost", async () => {
  const soak = Bun.spawn([process.execPath, join(REPO, "soak", "soak.ts"), "--minutes", "1.5", "--row-seconds", "30", "--streams", "50", "--rss-growth", "40"], {
    cwd: REPO,
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([new Response(soak.stdout).text(), new Response(soak.stderr).text(), soak.exited]);
  if (code !== 0) console.error(out, err);
  expect(out).toContain("soak: ok");
  expect(out).toMatch(/^1:30 +\| \d+ +\| [\d.]+ +\| /m); // the last row
  expect(code).toBe(0);
}, 240_000);
