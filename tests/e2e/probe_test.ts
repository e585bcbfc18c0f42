/**
 * Story: before pushing a file, a user runs `pacer probe` on it and reads
 * what pacer will pace by: the container, the PIDs and PCR PID, the bit rate
 * and the duration, which agree with ffprobe's. A file pacer cannot use gets
 * one clear line and the DESIGN.md exit code.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ffmpegPs, ffmpegTs, ffprobeDuration, ffprobePcrPid, garbageBytes, haveFfmpeg, makeCbrTs, makeTempDir } from "../helpers/mpeg_fixtures.ts";
import { rampS16, writeWav } from "../helpers/audio.ts";
import { runPacer } from "../helpers/pacer.ts";
import { freeUdpPort } from "../helpers/ports.ts";

const tmp = makeTempDir();
afterAll(() => tmp.cleanup());
const hasFfmpeg = haveFfmpeg();

/** `label:   value` lines of probe's output. */
function fields(stdout: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of stdout.split("\n")) {
    const m = line.match(/^([a-z ]+):\s+(.*)$/);
    if (m) map.set(m[1]!, m[2]!);
  }
  return map;
}

function seconds(value: string | undefined): number {
  const m = value?.match(/^([\d.]+) s$/);
  if (!m) throw new Error(`not a duration: ${value}`);
  return Number(m[1]);
}

function ffprobeStreamPids(path: string): number[] {
  const r = Bun.spawnSync(["ffprobe", "-v", "error", "-show_entries", "stream=id", "-of", "csv=p=0", path]);
  return r.stdout.toString().split(/\s+/).filter((s) => s.startsWith("0x")).map((s) => Number.parseInt(s.replace(/,$/, ""), 16));
}

describe.skipIf(!hasFfmpeg)("pacer probe on MPEG", () => {
  let ts = "";
  let ps = "";
  beforeAll(() => {
    ts = ffmpegTs(tmp.dir, 3, 1_500_000);
    ps = ffmpegPs(tmp.dir, "mpeg2", 2);
  });

  test("a TS: container, PIDs, PCR PID, bit rate, and a duration within 2 % of ffprobe's", async () => {
    const run = await runPacer(["probe", ts]);
    expect(run.code).toBe(0);
    const f = fields(run.stdout);
    expect(f.get("container")).toBe("mpegts");
    const listed = [...(f.get("pids") ?? "").matchAll(/0x([0-9a-f]+) \(\d+ packets\)/g)].map((m) => Number.parseInt(m[1]!, 16));
    for (const pid of ffprobeStreamPids(ts)) expect(listed).toContain(pid);
    expect(listed).toContain(0); // the PAT
    expect(Number.parseInt(f.get("pcr pid") ?? "", 16)).toBe(ffprobePcrPid(ts));
    const bitrate = Number(f.get("bitrate")?.match(/^(\d+) bit\/s$/)?.[1]);
    expect(Math.abs(bitrate / 1_500_000 - 1)).toBeLessThan(0.01);
    const ours = seconds(f.get("duration"));
    const theirs = ffprobeDuration(ts);
    expect(Math.abs(ours / theirs - 1)).toBeLessThan(0.02);
  });

  test("a program stream: container, mux rate and a duration near ffprobe's", async () => {
    const run = await runPacer(["probe", ps]);
    expect(run.code).toBe(0);
    const f = fields(run.stdout);
    expect(f.get("container")).toMatch(/^mpegps \(MPEG-2\)$/);
    expect(f.get("mux rate")).toBe("1000000 bit/s");
    expect(f.get("streams")).toContain("0xe0"); // the video stream
    // SCRs pace a PS; ffprobe reports presentation time, which ends a frame or two later.
    expect(Math.abs(seconds(f.get("duration")) / ffprobeDuration(ps) - 1)).toBeLessThan(0.1);
  });
});

describe("pacer probe on other inputs", () => {
  test("a WAV: format and duration", async () => {
    const wav = join(tmp.dir, "tone.wav");
    writeWav(wav, { encoding: "s16le", rate: 44_100, channels: 2 }, rampS16(22_050));
    const run = await runPacer(["probe", wav]);
    expect(run.code).toBe(0);
    const f = fields(run.stdout);
    expect(f.get("container")).toBe("wav");
    expect(f.get("format")).toBe("s16le:44100:2");
    expect(seconds(f.get("duration"))).toBe(0.5);
  });

  test("raw data with --bitrate: its duration at that rate", async () => {
    const bin = join(tmp.dir, "data.bin");
    writeFileSync(bin, new Uint8Array(187_500));
    const run = await runPacer(["probe", bin, "--bitrate", "1.5M"]);
    expect(run.code).toBe(0);
    expect(seconds(fields(run.stdout).get("duration"))).toBe(1);
  });

  test("garbage named .ts is a one-line error and exit 1 (a bad file)", async () => {
    const junk = join(tmp.dir, "junk.ts");
    writeFileSync(junk, garbageBytes(50_000));
    const run = await runPacer(["probe", junk]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe("");
    expect(run.stderr.trim().split("\n")).toHaveLength(1);
    expect(run.stderr).toContain("no MPEG-TS packets found");
  });

  test("logging flags work after the command too (they used to be refused as unknown options there)", async () => {
    const bin = join(tmp.dir, "data-flags.bin");
    writeFileSync(bin, new Uint8Array(187_500));
    for (const flag of ["--quiet", "-q", "--verbose", "-v", "--log-json"]) {
      const run = await runPacer(["probe", bin, "--bitrate", "1.5M", flag]);
      expect([flag, run.code]).toEqual([flag, 0]);
      expect(seconds(fields(run.stdout).get("duration"))).toBe(1);
    }
    // --quiet keeps errors: a bad file is still one line and exit 1.
    const junk = join(tmp.dir, "junk-quiet.ts");
    writeFileSync(junk, garbageBytes(50_000));
    const quiet = await runPacer(["probe", junk, "--quiet"]);
    expect(quiet.code).toBe(1);
    expect(quiet.stderr.trim().split("\n")).toHaveLength(1);
  });

  test("a TS over 64 MiB is probed from its head and tail only: the right duration, and no garbage at the seam", async () => {
    const big = join(tmp.dir, "big.ts");
    writeFileSync(big, makeCbrTs({ bitrate: 20_000_000, duration: 30 })); // 75 MB
    const run = await runPacer(["probe", big]);
    expect(run.code).toBe(0);
    const f = fields(run.stdout);
    expect(seconds(f.get("duration"))).toBe(30);
    expect(f.get("garbage")).toBeUndefined(); // the head once ended 48 bytes into a packet
  }, 20_000);

  test("garbage of no known kind is exit 2: it needs --format or --bitrate", async () => {
    const junk = join(tmp.dir, "junk.dat");
    writeFileSync(junk, garbageBytes(50_000));
    const run = await runPacer(["probe", junk]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("give --format for raw PCM or --bitrate for other data");
  });

  test("--format on a WAV, or --bitrate on PCM, is refused as play refuses it (exit 2), not ignored", async () => {
    const wav = join(tmp.dir, "header.wav");
    writeWav(wav, { encoding: "s16le", rate: 44_100, channels: 2 }, rampS16(4_410));
    for (const [option, value, says] of [
      ["--format", "s16le:8000:1", "--format is for raw PCM input"],
      ["--bitrate", "1M", "--bitrate is for MPEG and other data"],
    ] as const) {
      const probe = await runPacer(["probe", wav, option, value]);
      const play = await runPacer(["play", wav, option, value, "--to", `file:${join(tmp.dir, "unused.raw")}`]);
      expect([option, probe.code, play.code]).toEqual([option, 2, 2]);
      expect(probe.stdout).toBe("");
      expect(probe.stderr.trim().split("\n")).toHaveLength(1);
      expect(probe.stderr).toContain(says);
      expect(probe.stderr).toBe(play.stderr);
    }
  });

  test("a network input that sends nothing is one line and exit 1 after 5 s (probe had waited for good)", async () => {
    const port = await freeUdpPort();
    const started = performance.now();
    const run = await runPacer(["probe", `udp://@127.0.0.1:${port}`], { timeoutMs: 15_000 });
    expect(run.stderr).toBe(`pacer: error: udp://@127.0.0.1:${port}: too little arrived in 5 s to tell what it is\n`);
    expect(run.code).toBe(1);
    expect(performance.now() - started).toBeLessThan(12_000);
  }, 20_000);

  test("a missing file is exit 1, \"no such file\"", async () => {
    const run = await runPacer(["probe", join(tmp.dir, "absent.ts")]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("no such file");
  });
});
