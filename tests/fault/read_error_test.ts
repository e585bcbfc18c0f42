/**
 * Fault: a read error in the middle of a load, as from a bad sector. tests/helpers/eio_after.ts
 * runs pacer under a seccomp filter that fails every positioned read past 1 MiB with EIO, so the
 * file's loads fail there and nowhere else (no hook in pacer's read path). `play` says so in one
 * line and exits 1, after the 1 MiB before the bad spot went out whole; in `serve` only the job on
 * that file ends, and the job beside it (a smaller file, looped) keeps its timing.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeCbrTs, makeTempDir } from "../helpers/mpeg_fixtures.ts";
import { startPacer } from "../helpers/pacer.ts";
import { udpReceiver } from "../helpers/udp_receiver.ts";
import { withJobsBeside } from "./jobs_beside.ts";

const BAD_SPOT = 1 << 20;
const EIO_AFTER = [process.execPath, join(import.meta.dir, "..", "helpers", "eio_after.ts"), String(BAD_SPOT), "--"];
/** 12 s at 2 Mbit/s: 3 MB, so the bad spot is 4.2 s in. */
const SOURCE = makeCbrTs({ bitrate: 2_000_000, duration: 12 });
const tmp = makeTempDir();
afterAll(() => tmp.cleanup());

const joined = (packets: { data: Buffer }[]) => Buffer.concat(packets.map((p) => p.data));

describe("a read error in the middle of a load", () => {
  test("play: one line naming the file and the error, exit 1; everything before the bad spot went out", async () => {
    const file = join(tmp.dir, "bad-sector.ts");
    writeFileSync(file, SOURCE);
    const rx = await udpReceiver();
    const child = startPacer(["play", file, "--to", `udp://127.0.0.1:${rx.port}`], { launcher: EIO_AFTER });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    await Bun.sleep(100);
    await rx.settled();
    rx.close();
    expect(stderr).toBe(`pacer: error: ${file}: read error: input/output error\n`);
    expect(code).toBe(1);
    expect(joined(rx.packets).equals(Buffer.from(SOURCE.subarray(0, BAD_SPOT)))).toBe(true);
  }, 20_000);

  test("serve: the job on the failing file ends alone; the looped job beside it keeps streaming on time", async () => {
    // clip.ts is 187 KB: its reads never reach the bad spot, however often it loops.
    await withJobsBeside("bad-sector.ts", SOURCE, async ({ serve, failing, steady, failingRx, ctl, steadyArrivals }) => {
      const deadline = Date.now() + 10_000;
      while (!/bad-sector\.ts: read error/.test(serve.stderr()) && Date.now() < deadline) await Bun.sleep(100);
      await Bun.sleep(1000);
      const list = (await ctl("status")).stdout;
      expect(list).not.toContain(failing);
      expect(list).toContain(steady);
      expect(serve.stderr().match(/read error: input\/output error/g)).toHaveLength(1);
      expect(joined(failingRx.packets).equals(Buffer.from(SOURCE.subarray(0, BAD_SPOT)))).toBe(true);
      // The steady job (a datagram every 10.5 ms) never paused: no gap near a missed beat or worse,
      // read from the kernel's arrival times, and it was still sending at the end.
      const sentAtEnd = Date.now() * 1000;
      const arrivals = (await steadyArrivals()).map((p) => p.atUs);
      let widest = 0;
      for (let i = 1; i < arrivals.length; i++) widest = Math.max(widest, arrivals[i]! - arrivals[i - 1]!);
      console.log(`steady job: ${arrivals.length} datagrams, widest gap ${(widest / 1000).toFixed(1)} ms`);
      expect(widest).toBeLessThan(200_000);
      expect(arrivals.at(-1)!).toBeGreaterThan(sentAtEnd - 1_000_000);
    }, { launcher: EIO_AFTER }, { wire: true });
  }, 30_000);
});
