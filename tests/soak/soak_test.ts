/**
 * The CI version of `npm run soak`: two minutes of 50 looping streams, the live channel dropped
 * and reconnected, its rotating recording, the speaker and random control, through a real
 * `pacer serve`. It passes only with no fd or memory growth, no lost datagram on the sampled RTP
 * receivers, a recording that holds what was sent, and lapsed interest that expired its jobs.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { REPO } from "../helpers/pacer.ts";

test("soak, 2 minutes: nothing grows, nothing is lost", async () => {
  const soak = Bun.spawn([process.execPath, join(REPO, "soak", "soak.ts"), "--minutes", "2", "--streams", "50", "--rss-growth", "40"], {
    cwd: REPO,
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([new Response(soak.stdout).text(), new Response(soak.stderr).text(), soak.exited]);
  if (code !== 0) console.error(out, err);
  expect(out).toContain("soak: ok");
  expect(out).toMatch(/^2 +\| \d+ +\| [\d.]+ +\| /m); // the second minute's row
  expect(code).toBe(0);
}, 240_000);
