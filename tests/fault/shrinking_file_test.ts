/**
 * Fault: a file that shrinks while it plays (truncated, or rewritten in place). `pacer play` stops
 * that input with one line naming the file and exits 1, after what was read went out; in `pacer
 * serve` only the job playing it ends (failed), and a job beside it keeps streaming.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, truncateSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { rampS16, writeWav } from "../helpers/audio.ts";
import { makeCbrTs } from "../helpers/mpeg_fixtures.ts";
import { startPacer } from "../helpers/pacer.ts";
import { udpReceiver } from "../helpers/udp_receiver.ts";
import { withJobsBeside } from "./jobs_beside.ts";

const dir = mkdtempSync(join(tmpdir(), "pacer-shrink-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("a file that shrinks while it plays", () => {
  test("play: exit 1, one line naming the file; what was read went out", async () => {
    const wav = join(dir, "long.wav");
    writeWav(wav, { encoding: "s16le", rate: 44_100, channels: 2 }, rampS16(44_100 * 4));
    const rx = await udpReceiver();
    const child = startPacer(["play", wav, "--to", `udp://127.0.0.1:${rx.port}`]);
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    await Bun.sleep(1200);
    truncateSync(wav, 44 + 44_100 * 4 * 0.5); // half a second left
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    await rx.settled();
    rx.close();
    expect(code).toBe(1);
    const lines = stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^pacer: error: ${wav}: the file shrank while playing: it ends at byte \\d+ of ${44 + 44_100 * 4 * 4}$`));
    // About 1.2 s went out before the read that found the file short.
    const sent = rx.packets.reduce((n, p) => n + p.data.length, 0);
    expect(sent).toBeGreaterThan(44_100 * 4 * 0.9);
  }, 20_000);

  test("serve: the job on the shrunk file fails alone; the job beside it keeps streaming", async () => {
    const victim = makeCbrTs({ bitrate: 1_000_000, duration: 6 });
    await withJobsBeside("victim.ts", victim, async ({ serve, failing, steady, steadyRx, ctl }) => {
      await Bun.sleep(1500);
      truncateSync(join(serve.mediaRoot, "victim.ts"), 188 * 100);
      await Bun.sleep(2000);
      const list = (await ctl("status")).stdout;
      expect(list).not.toContain(failing);
      expect(list).toContain(steady);
      expect(serve.stderr()).toMatch(/error: victim\.ts: the file shrank while playing/);
      // The steady job kept going through it: datagrams in the last second.
      const now = Bun.nanoseconds() / 1000;
      expect(steadyRx.packets.filter((p) => p.atUs > now - 1_000_000).length).toBeGreaterThan(50);
    });
  }, 30_000);
});
