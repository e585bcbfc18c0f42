/**
 * A transport stream that starts over (`--loop`, or a file played after itself) reaches ffmpeg's
 * demuxer without a continuity error, and with each new time base flagged: pacer mends the seams
 * in the packets' headers (protocol/ts_seams.ts). ffprobe, at debug level, logs every
 * continuity-counter jump it meets ("Continuity check failed for pid …").
 */
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ffmpegM2ts, ffmpegTs, makeTempDir, sameButSeamMends, stripM2ts } from "../helpers/mpeg_fixtures.ts";
import { havePeer, runPacer, startPacer } from "../helpers/pacer.ts";
import { udpReceiver } from "../helpers/udp_receiver.ts";
import { TS_SIZE, tsGetDiscontinuity, tsGetPid, tsHasPcr } from "../../protocol/mpegts.ts";

const tmp = makeTempDir();
afterAll(() => tmp.cleanup());
const SETTLE_MS = 150;
const haveFfmpeg = havePeer("ffmpeg") && havePeer("ffprobe");

/** ffprobe's continuity complaints about `bytes`, and how many packets it read. */
function ffprobeContinuity(bytes: Uint8Array, name: string): { complaints: string[]; packets: number } {
  const path = join(tmp.dir, name);
  writeFileSync(path, bytes);
  const r = Bun.spawnSync(["ffprobe", "-v", "debug", "-show_packets", "-of", "csv", path], { stdout: "pipe", stderr: "pipe" });
  expect(r.exitCode).toBe(0);
  const complaints = r.stderr.toString().split("\n").filter((l) => l.includes("Continuity check failed"));
  return { complaints, packets: r.stdout.toString().split("\n").filter((l) => l.startsWith("packet")).length };
}

/** The packets (index) flagged discontinuity_indicator that carry a PCR. */
function flaggedPcrPackets(bytes: Uint8Array): number[] {
  const flagged = [];
  for (let at = 0; at + TS_SIZE <= bytes.length; at += TS_SIZE) {
    if (tsGetDiscontinuity(bytes, at) && tsHasPcr(bytes, at)) flagged.push(at / TS_SIZE);
  }
  return flagged;
}

describe.skipIf(!haveFfmpeg)("play: a TS that starts over has no continuity error at the seam", () => {
  // ffmpeg's 1 s: its PAT, PMT and SDT counters do not run a whole number of 16 per turn, so the raw seam jumps.
  const file = haveFfmpeg ? new Uint8Array(readFileSync(ffmpegTs(tmp.dir, 1))) : new Uint8Array(0);

  test("the input itself jumps at its own seam, as ffprobe counts", () => {
    const twice = new Uint8Array(file.length * 2);
    twice.set(file);
    twice.set(file, file.length);
    expect(ffprobeContinuity(file, "once.ts").complaints).toEqual([]);
    expect(ffprobeContinuity(twice, "raw_twice.ts").complaints.length).toBeGreaterThan(0);
  });

  test("play x.ts x.ts: the second turn goes on from the first, its PCR flagged, every packet there", async () => {
    const path = join(tmp.dir, "x.ts");
    writeFileSync(path, file);
    const rx = await udpReceiver();
    try {
      const run = await runPacer(["play", path, path, "--to", `udp://127.0.0.1:${rx.port}`]);
      await Bun.sleep(SETTLE_MS);
      expect(run.stderr).toBe("");
      expect(run.code).toBe(0);
      const got = Buffer.concat(rx.packets.map((p) => p.data));
      expect(got.length).toBe(2 * file.length);
      const { complaints, packets } = ffprobeContinuity(got, "sequence.ts");
      expect(complaints).toEqual([]);
      expect(packets).toBe(2 * ffprobeContinuity(file, "once.ts").packets);
      // The first PCR of the second turn says its time base is new.
      const firstPcrAfter = [];
      for (let at = file.length; at < got.length; at += TS_SIZE) {
        if (tsHasPcr(got, at)) {
          firstPcrAfter.push(at / TS_SIZE, tsGetPid(got, at));
          break;
        }
      }
      expect(flaggedPcrPackets(got)).toEqual([firstPcrAfter[0]!]);
    } finally {
      rx.close();
    }
  });

  test("play x.m2ts x.m2ts: the stripped packets are mended as TS's are", async () => {
    const path = ffmpegM2ts(tmp.dir, 1);
    const rx = await udpReceiver();
    try {
      const run = await runPacer(["play", path, path, "--to", `udp://127.0.0.1:${rx.port}`]);
      await Bun.sleep(SETTLE_MS);
      expect(run.code).toBe(0);
      const got = Buffer.concat(rx.packets.map((p) => p.data));
      const once = stripM2ts(new Uint8Array(readFileSync(path)));
      expect(got.length).toBe(2 * once.length);
      expect(ffprobeContinuity(once, "m2ts_once.ts").complaints).toEqual([]);
      expect(ffprobeContinuity(got, "m2ts_twice.ts").complaints).toEqual([]);
      expect(sameButSeamMends(got.subarray(once.length), once)).toBe(true);
    } finally {
      rx.close();
    }
  });

  test("play --loop: three turns and more, no continuity error, one flagged PCR a seam", async () => {
    const path = join(tmp.dir, "loop.ts");
    writeFileSync(path, file);
    const rx = await udpReceiver();
    try {
      const child = startPacer(["play", path, "--loop", "--to", `udp://127.0.0.1:${rx.port}`]);
      const exited = new Promise((resolve) => child.on("close", resolve));
      // 1 s a turn: past the third seam.
      const deadline = Date.now() + 10_000;
      while (rx.packets.reduce((n, p) => n + p.data.length, 0) < 3.3 * file.length && Date.now() < deadline) await Bun.sleep(100);
      child.kill("SIGTERM");
      await exited;
      await Bun.sleep(SETTLE_MS);
      const got = Buffer.concat(rx.packets.map((p) => p.data));
      const turns = Math.floor(got.length / file.length);
      expect(turns).toBeGreaterThanOrEqual(3);
      expect(ffprobeContinuity(got, "looped.ts").complaints).toEqual([]);
      // One flag at each seam within the whole turns received.
      expect(flaggedPcrPackets(got.subarray(0, turns * file.length)).length).toBe(turns - 1);
      // Nothing but the counters and the flag moved: the first turn is the file.
      expect(got.subarray(0, file.length).equals(file)).toBe(true);
    } finally {
      rx.close();
    }
  });
});
