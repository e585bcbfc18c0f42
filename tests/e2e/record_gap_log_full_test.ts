/**
 * `pacer record --gap-log` on a disk that fills up after the start: a lossy feed's gaps are not
 * each a warning. The log's failure is said once, when it starts, and once more when the log is
 * written again, and the summary counts the lines that were not written. Before, every gap warned
 * (29 lines of cron mail in 3 s).
 */
import { expect, test } from "bun:test";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startPacer } from "../helpers/pacer.ts";
import { freeUdpPort, waitUdpBound } from "../helpers/ports.ts";
import { fillUp, mountSmallDisk } from "../helpers/tmpfs.ts";
import { makeTempDir } from "../helpers/mpeg_fixtures.ts";

test("a gap log on a full disk: one warning when it fails, one when it is written again, the lost lines in the summary", async () => {
  const disk = mountSmallDisk(64 * 1024);
  if ("skip" in disk) return console.warn(disk.skip);
  const tmp = makeTempDir();
  try {
    const gapLog = join(disk.dir, "gaps.log");
    writeFileSync(gapLog, ""); // writable at the start, as the start's check wants
    const filler = join(disk.dir, "filler");
    fillUp(filler);
    const port = await freeUdpPort();
    const out = join(tmp.dir, "lossy.bin");
    const rec = startPacer(["record", `udp://@127.0.0.1:${port}`, "--out", out, "--duration", "10", "--gap-log", gapLog]);
    let stderr = "";
    rec.stderr.on("data", (d) => (stderr += d));
    const exit = new Promise<number | null>((resolve) => rec.on("close", resolve));
    const killer = setTimeout(() => rec.kill("SIGKILL"), 15_000);
    try {
      await waitUdpBound(port);
      const socket = await Bun.udpSocket({ connect: { hostname: "127.0.0.1", port } });
      // Each datagram too long to keep is a gap, and a gap-log line.
      const gaps = async (n: number) => {
        for (let k = 0; k < n; k++) {
          socket.send(new Uint8Array(188).fill(k));
          socket.send(new Uint8Array(9217));
          await Bun.sleep(60);
        }
      };
      await gaps(8);
      rmSync(filler); // room again
      await Bun.sleep(200);
      await gaps(3);
      socket.close();
      await Bun.sleep(200);
      rec.kill("SIGTERM"); // the end of the run, as --duration's
      expect(await exit, stderr).toBe(0);
    } finally {
      clearTimeout(killer);
    }
    const failing = stderr.split("\n").filter((l) => l.includes("cannot write the gap log"));
    expect(failing, stderr).toEqual([`pacer: warn: ${gapLog}: cannot write the gap log: no space left on device; its lines are counted, not written, until it can be`]);
    const again = /: the gap log is written again; (\d+) gap lines? (was|were) not written\n/.exec(stderr);
    expect(again, stderr).not.toBeNull();
    const notWritten = Number(again![1]);
    expect(notWritten).toBeGreaterThanOrEqual(1);
    expect(stderr).toContain(`, ${notWritten} gap-log line${notWritten === 1 ? "" : "s"} not written`);
    const logged = readFileSync(gapLog, "utf8").trim().split("\n");
    expect(logged.length).toBeGreaterThanOrEqual(1);
    // Every gap is a line, written or counted.
    const gapCount = Number(/gaps (\d+) \(/.exec(stderr)![1]);
    expect(logged.length + notWritten).toBe(gapCount);
    expect(stderr.split("\n").filter((l) => l.startsWith("pacer: warn:")).length, stderr).toBe(2);
  } finally {
    disk.unmount();
    tmp.cleanup();
  }
}, 20_000);
