/**
 * Stories from issue 10 about what pacer takes as input (items 5, 7, 8, 9
 * and the probe half of 13): pipes and devices named by path, PCR-less TS
 * on stdin, M2TS, and `pacer probe` agreeing with what `pacer play` does.
 * Everything runs the real CLI; timing is checked with real receivers (a
 * UDP socket stamping arrivals here, multicat's own arrival log) and the
 * bytes with ffprobe.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { M2TS_SIZE, m2tsGetArrivalTime } from "../../protocol/mpeg_m2ts.ts";
import { PCR_HZ, TS_SIZE, tsHasPcr } from "../../protocol/mpegts.ts";
import { rampS16, writeWav } from "../helpers/audio.ts";
import { wireArrivals } from "../helpers/capture.ts";
import {
  ffmpegM2ts, ffmpegTs, ffprobeDuration, garbageBytes, haveFfmpeg, insertBytes, makeCbrTs, makeM2ts,
  makeTempDir, stripM2ts,
} from "../helpers/mpeg_fixtures.ts";
import { havePeer, MAIN, runPacer, startPacer } from "../helpers/pacer.ts";
import { waitUdpBound } from "../helpers/ports.ts";
import { type Received, udpReceiver } from "../helpers/udp_receiver.ts";

const tmp = makeTempDir();
afterAll(() => tmp.cleanup());
const hasFfmpeg = haveFfmpeg();
/** Time for the last datagrams to cross loopback after pacer exits. */
const SETTLE_MS = 150;
const CD = { encoding: "s16le", rate: 44_100, channels: 2 } as const;
const CD_BYTES_PER_S = 44_100 * 4;

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

function joinPayloads(packets: Received[]): Buffer {
  return Buffer.concat(packets.map((p) => p.data));
}

function mkfifo(name: string): string {
  const path = join(tmp.dir, name);
  execFileSync("mkfifo", [path]);
  return path;
}

/** Writes `file` into the FIFO `fifo` from another process, as a producer would. */
function feedFifo(fifo: string, file: string) {
  return spawn("sh", ["-c", 'cat "$0" > "$1"', file, fifo], { stdio: "ignore" });
}

/** Runs `pacer ARGS...` under bash, where `<(cat FILE)` in ARGS becomes a process substitution of FILE. */
function runUnderBash(args: string[], file: string): Promise<{ code: number | null; stderr: string }> {
  const line = args.map((a) => (a === "<(FILE)" ? '<(cat "$FILE")' : `'${a}'`)).join(" ");
  const child = spawn("bash", ["-c", `exec "$BUN" "$MAIN" ${line}`], {
    env: { ...process.env, BUN: process.execPath, MAIN, FILE: file },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, stderr })));
}

/** A TS with no PCR at all: makeCbrTs's PCR packets turned into plain adaptation stuffing. */
function tsWithoutPcrs(bitrate: number, duration: number): Uint8Array {
  const ts = makeCbrTs({ bitrate, duration });
  for (let at = 0; at < ts.length; at += TS_SIZE) if (tsHasPcr(ts, at)) ts[at + 5] &= ~0x10;
  return ts;
}

/**
 * Residuals (µs) of datagram arrival times against `dueUs(offset)`, the time the first byte of each
 * is due, after the best constant offset (the median): how far pacing strays from the stamps.
 */
function residualsUs(packets: Received[], dueUs: (offset: number) => number): number[] {
  let offset = 0;
  const raw = packets.map((p) => {
    const r = p.atUs - dueUs(offset);
    offset += p.data.length;
    return r;
  });
  const median = [...raw].sort((a, b) => a - b)[raw.length >> 1]!;
  return raw.map((r) => r - median);
}

/**
 * How far most datagrams (95 %) and the worst one stray from their stamps, µs. The bounds tell
 * pacing by stamps from pacing by PCRs or a burst (those stray by hundreds of ms); how even it is
 * is bench's job: a receiver in another process (multicat) on a shared 2-core CI host has been
 * seen 6.5 ms late at p95.
 */
function straying(residuals: number[]): { p95: number; worst: number } {
  const sorted = residuals.map(Math.abs).sort((a, b) => a - b);
  return { p95: sorted[Math.floor(sorted.length * 0.95)]!, worst: sorted.at(-1)! };
}

function expectOnStamps(label: string, residuals: number[]): void {
  const { p95, worst } = straying(residuals);
  console.log(`${label}: 95 % of datagrams within ${(p95 / 1000).toFixed(2)} ms of their stamps, the worst ${(worst / 1000).toFixed(2)} ms`);
  expect(p95).toBeLessThan(25_000);
  expect(worst).toBeLessThan(100_000);
}

describe("item 5: a path that is no regular file is read as a stream, as stdin is", () => {
  test("a WAV written into a FIFO plays every sample, in real time (it was 'truncated: 0 bytes')", async () => {
    const wav = join(tmp.dir, "fifo-tone.wav");
    const samples = rampS16(22_050); // 0.5 s
    writeWav(wav, CD, samples);
    const fifo = mkfifo("tone.fifo");
    const out = join(tmp.dir, "from-fifo.raw");
    const started = performance.now();
    const producer = feedFifo(fifo, wav);
    const run = await runPacer(["play", fifo, "--to", `file:${out}`]);
    const tookMs = performance.now() - started;
    producer.kill();
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(readFileSync(out).equals(samples)).toBe(true);
    expect(tookMs).toBeGreaterThan(400);
  }, 10_000);

  test.skipIf(!hasFfmpeg)("a TS from <(cat show.ts) is paced by its PCRs, like the file (it was 'not WAV…')", async () => {
    const dir = join(tmp.dir, "substitution");
    mkdirSync(dir);
    const ts = ffmpegTs(dir, 1, 1_500_000);
    const bytes = readFileSync(ts);
    const rx = await udpReceiver();
    // Kernel arrival times: this process's own stamps, which a loaded host stalls now and then,
    // once read 1.053 (one 60 ms late).
    const wire = await wireArrivals(rx.port);
    const run = await runUnderBash(["play", "<(FILE)", "--to", `udp://127.0.0.1:${rx.port}`], ts);
    await Bun.sleep(SETTLE_MS);
    await rx.settled();
    rx.close();
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(joinPayloads(rx.packets).equals(bytes)).toBe(true);
    const packets = await wire.retime(rx.packets);
    const spanUs = packets.at(-1)!.atUs - packets[0]!.atUs;
    const mediaUs = ((bytes.length - packets.at(-1)!.data.length) / (1_500_000 / 8)) * 1e6;
    // Paced at the stream's rate, not sent at once, nor at some other rate: 0.996-0.999 here on a
    // quiet host. Loose above, for pacer's own stalls on a loaded host; the bench measures evenness.
    expect(spanUs / mediaUs).toBeGreaterThan(0.95);
    expect(spanUs / mediaUs).toBeLessThan(1.25);
  }, 15_000);

  test("/dev/zero --format s16le:44100:2 plays silence in real time until stopped (it played nothing, exit 0)", async () => {
    const out = join(tmp.dir, "zero.raw");
    const child = startPacer(["play", "/dev/zero", "--format", "s16le:44100:2", "--to", `file:${out}`]);
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    const closed = new Promise<number | null>((resolve) => child.on("close", resolve));
    await Bun.sleep(1500);
    const whilePlaying = statSync(out).size;
    child.kill("SIGTERM");
    const code = await closed;
    expect(stderr).toBe("");
    expect(code).toBe(143); // stopped by SIGTERM (issue 10 item 3)
    // About 1.5 s of audio: some (not the old nothing), and paced (not /dev/zero as fast as it reads).
    expect(whilePlaying).toBeGreaterThan(0.5 * CD_BYTES_PER_S);
    expect(statSync(out).size).toBeLessThan(3 * CD_BYTES_PER_S);
    expect(readFileSync(out).every((b) => b === 0)).toBe(true);
  }, 10_000);

  test("probe on a FIFO says what probe on the file says", async () => {
    const ts = join(tmp.dir, "probe-fifo.ts");
    writeFileSync(ts, makeCbrTs({ bitrate: 2_000_000, duration: 2 }));
    const fifo = mkfifo("probe.fifo");
    const producer = feedFifo(fifo, ts);
    const viaFifo = await runPacer(["probe", fifo]);
    producer.kill();
    const viaFile = await runPacer(["probe", ts]);
    expect(viaFifo.code).toBe(0);
    const withoutInput = (s: string) => s.split("\n").filter((l) => !l.startsWith("input:")).join("\n");
    expect(withoutInput(viaFifo.stdout)).toBe(withoutInput(viaFile.stdout));
    expect(seconds(fields(viaFifo.stdout).get("duration"))).toBe(2);
  }, 10_000);
});

describe("item 7: TS without PCRs on stdin is refused as the same file is, unless --bitrate paces it", () => {
  const bytes = tsWithoutPcrs(1_000_000, 1);

  test("without --bitrate: exit 1, 'give --bitrate', nothing sent (it went out in one burst)", async () => {
    const path = join(tmp.dir, "no-pcr.ts");
    writeFileSync(path, bytes);
    const rx = await udpReceiver();
    const viaStdin = await runPacer(["play", "-", "--to", `udp://127.0.0.1:${rx.port}`], { stdin: bytes });
    const viaFile = await runPacer(["play", path, "--to", `udp://127.0.0.1:${rx.port}`]);
    await Bun.sleep(SETTLE_MS);
    await rx.settled();
    rx.close();
    expect(viaStdin.code).toBe(1);
    expect(viaStdin.stderr).toContain("give --bitrate");
    expect(viaStdin.stderr.trim().split("\n")).toHaveLength(1);
    expect(viaFile.code).toBe(1);
    expect(viaStdin.stderr.replace("stdin", "INPUT")).toBe(viaFile.stderr.replace(path, "INPUT"));
    expect(rx.packets).toHaveLength(0);
  }, 10_000);

  test("with --bitrate 1M: the 1 s of content takes 1 s", async () => {
    const rx = await udpReceiver();
    const wire = await wireArrivals(rx.port); // kernel arrival times, as above
    const run = await runPacer(["play", "-", "--bitrate", "1M", "--to", `udp://127.0.0.1:${rx.port}`], { stdin: bytes });
    await Bun.sleep(SETTLE_MS);
    await rx.settled();
    rx.close();
    expect(run.code).toBe(0);
    expect(joinPayloads(rx.packets).equals(Buffer.from(bytes))).toBe(true);
    const packets = await wire.retime(rx.packets);
    const spanUs = packets.at(-1)!.atUs - packets[0]!.atUs;
    const mediaUs = ((bytes.length - packets.at(-1)!.data.length) / 125_000) * 1e6;
    expect(Math.abs(spanUs / mediaUs - 1)).toBeLessThan(0.05);
  }, 10_000);
});

describe("item 8: M2TS plays as 188-byte TS, paced by its arrival time stamps", () => {
  // 2 s of 1 Mbit/s TS whose PCRs say 1 s per half, behind stamps that say 1.5 s then 0.5 s.
  const ts = makeCbrTs({ bitrate: 1_000_000, duration: 2 });
  const count = ts.length / TS_SIZE;
  const half = count / 2;
  const stampUs = (k: number) => (k < half ? (k / half) * 1.5e6 : 1.5e6 + ((k - half) / half) * 0.5e6);
  const shaped = makeM2ts(ts, (k) => 7 * PCR_HZ + Math.round((stampUs(k) * PCR_HZ) / 1e6));
  let shapedPath = "";
  beforeAll(() => {
    shapedPath = join(tmp.dir, "shaped.bin"); // no telling extension: found by content
    writeFileSync(shapedPath, shaped);
  });

  test("a shaped M2TS named .bin follows its stamps (1.5 s, then 0.5 s), not its PCRs (1 s and 1 s)", async () => {
    const rx = await udpReceiver();
    // Kernel arrival times: the first half's span rests on two datagrams, 50 ms of margin that one
    // stall of this process as either arrived would take.
    const wire = await wireArrivals(rx.port);
    const run = await runPacer(["play", shapedPath, "--to", `udp://127.0.0.1:${rx.port}`]);
    await Bun.sleep(SETTLE_MS);
    await rx.settled();
    rx.close();
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(joinPayloads(rx.packets).equals(Buffer.from(ts))).toBe(true);
    for (const p of rx.packets) expect(p.data.length).toBe(7 * TS_SIZE);
    const packets = await wire.retime(rx.packets);
    expectOnStamps("shaped m2ts to udp", residualsUs(packets, (offset) => stampUs(offset / TS_SIZE)));
    const middle = packets.findIndex((_, i) => i * 7 >= half);
    const firstHalfMs = (packets[middle]!.atUs - packets[0]!.atUs) / 1000;
    expect(Math.abs(firstHalfMs - 1500)).toBeLessThan(50);
  }, 15_000);

  test("multicat, receiving it as RTP, logs arrivals that follow the stamps, and writes the TS", async () => {
    if (!havePeer("multicat")) return;
    const rx = await udpReceiver();
    const port = rx.port;
    rx.close();
    const out = join(tmp.dir, "multicat-m2ts.ts");
    const multicat = spawn("multicat", [`@127.0.0.1:${port}`, out], { stdio: "ignore" });
    const mcClosed = new Promise((resolve) => multicat.on("close", resolve));
    await waitUdpBound(port); // multicat binds
    const run = await runPacer(["play", "-", "--to", `rtp://127.0.0.1:${port}`], { stdin: shaped });
    await Bun.sleep(SETTLE_MS);
    multicat.kill("SIGTERM");
    await mcClosed;
    expect(run.code).toBe(0);
    expect(readFileSync(out).subarray(0, ts.length).equals(Buffer.from(ts))).toBe(true);
    // multicat's .aux: a 27 MHz big-endian arrival time per 1316-byte chunk.
    const aux = readFileSync(out.replace(/\.ts$/, ".aux"));
    const arrivals: Received[] = [];
    for (let i = 0; i + 8 <= aux.length; i += 8) {
      arrivals.push({ data: Buffer.alloc(7 * TS_SIZE), atUs: (Number(aux.readBigUInt64BE(i)) / PCR_HZ) * 1e6 });
    }
    expect(arrivals.length).toBe(Math.ceil(count / 7));
    expectOnStamps("shaped m2ts to multicat", residualsUs(arrivals, (offset) => stampUs(offset / TS_SIZE)));
  }, 15_000);

  test.skipIf(!hasFfmpeg)("an ffmpeg M2TS arrives as TS that ffprobe reads, paced at its stamps' 1.5 Mbit/s; probe describes it", async () => {
    const dir = join(tmp.dir, "ffmpeg-m2ts");
    mkdirSync(dir);
    const m2tsPath = ffmpegM2ts(dir, 2, 1_500_000);
    const m2ts = readFileSync(m2tsPath);
    const rx = await udpReceiver();
    const run = await runPacer(["play", m2tsPath, "--to", `udp://127.0.0.1:${rx.port}`]);
    await Bun.sleep(SETTLE_MS);
    await rx.settled();
    rx.close();
    expect(run.code).toBe(0);
    const got = joinPayloads(rx.packets);
    expect(got.equals(Buffer.from(stripM2ts(m2ts)))).toBe(true);
    const received = join(dir, "received.ts");
    writeFileSync(received, got);
    const format = execFileSync("ffprobe", ["-v", "error", "-show_entries", "format=format_name", "-of", "csv=p=0", received]).toString().trim();
    expect(format).toBe("mpegts");
    expect(Math.abs(ffprobeDuration(received) / ffprobeDuration(m2tsPath) - 1)).toBeLessThan(0.02);
    const firstAts = m2tsGetArrivalTime(m2ts, 0);
    const stampAtUs = (offset: number) => ((m2tsGetArrivalTime(m2ts, (offset / TS_SIZE) * M2TS_SIZE) - firstAts) / PCR_HZ) * 1e6;
    expectOnStamps("ffmpeg m2ts to udp", residualsUs(rx.packets, stampAtUs));

    const probe = await runPacer(["probe", m2tsPath]);
    expect(probe.code).toBe(0);
    const f = fields(probe.stdout);
    expect(f.get("container")).toStartWith("m2ts");
    expect(f.get("paced by")).toBe("arrival time stamps");
    expect(f.get("bitrate")).toMatch(/^15\d{5} bit\/s$/);
    expect(Math.abs(Number(f.get("bitrate")!.split(" ")[0]) / 1_500_000 - 1)).toBeLessThan(0.005);
    expect(Math.abs(seconds(f.get("duration")) / ffprobeDuration(m2tsPath) - 1)).toBeLessThan(0.02);
  }, 20_000);

  test("on stdin too, and probe - says the same as probe FILE", async () => {
    const out = join(tmp.dir, "m2ts-stdin.ts");
    const run = await runPacer(["play", "-", "--to", `file:${out}`], { stdin: shaped });
    expect(run.code).toBe(0);
    expect(readFileSync(out).equals(Buffer.from(ts))).toBe(true);
    const viaStdin = await runPacer(["probe", "-"], { stdin: shaped });
    const viaFile = await runPacer(["probe", shapedPath]);
    const withoutInput = (s: string) => s.split("\n").filter((l) => !l.startsWith("input:")).join("\n");
    expect(withoutInput(viaStdin.stdout)).toBe(withoutInput(viaFile.stdout));
    expect(fields(viaFile.stdout).get("paced by")).toBe("arrival time stamps");
    expect(seconds(fields(viaFile.stdout).get("duration"))).toBeCloseTo(2, 1);
  }, 15_000);
});

describe("item 9: probe - detects what play - detects", () => {
  test("probe - < tone.wav says wav, its format and its duration, as probe tone.wav does (it said 'raw pcm')", async () => {
    const wav = join(tmp.dir, "stdin-tone.wav");
    writeWav(wav, CD, rampS16(22_050));
    const viaStdin = await runPacer(["probe", "-"], { stdin: readFileSync(wav) });
    expect(viaStdin.code).toBe(0);
    const f = fields(viaStdin.stdout);
    expect(f.get("container")).toBe("wav");
    expect(f.get("format")).toBe("s16le:44100:2");
    expect(seconds(f.get("duration"))).toBe(0.5);
  });
});

describe("item 13: probe agrees with play", () => {
  test("the garbage probe reports is exactly what play leaves out; a cut-off last packet it sends", async () => {
    const clean = makeCbrTs({ bitrate: 2_000_000, duration: 1 });
    const tail = clean.subarray(0, 100); // the start of one more packet, cut off
    const bytes = Buffer.concat([insertBytes(clean, 200 * TS_SIZE, garbageBytes(1000)), tail]);
    const path = join(tmp.dir, "garbage-and-tail.ts");
    writeFileSync(path, bytes);
    const out = join(tmp.dir, "garbage-and-tail.out");
    const play = await runPacer(["play", path, "--to", `file:${out}`]);
    expect(play.code).toBe(0);
    const sent = readFileSync(out);
    expect(sent.equals(Buffer.concat([clean, tail]))).toBe(true);
    const probe = await runPacer(["probe", path]);
    expect(probe.code).toBe(0);
    const f = fields(probe.stdout);
    const skipped = Number(f.get("garbage")?.match(/^(\d+) bytes skipped/)?.[1]);
    expect(skipped).toBe(bytes.length - sent.length); // 1000: it said 1100, counting the tail play sends
    expect(f.get("cut off")).toContain("the last 100 bytes");
  }, 10_000);

  test.skipIf(!hasFfmpeg)("a 10 s TS whose PCRs jump 60 s halfway probes as 10 s, as ffprobe times its halves (it said 70 s)", async () => {
    const dir = join(tmp.dir, "jump");
    mkdirSync(join(dir, "a"), { recursive: true });
    mkdirSync(join(dir, "b"));
    const a = ffmpegTs(join(dir, "a"), 5);
    const b = join(dir, "b", "later.ts");
    execFileSync("ffmpeg", ["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-t", "5",
      "-c:v", "mpeg2video", "-b:v", "1200k", "-maxrate", "1200k", "-bufsize", "600k", "-muxrate", "1500000",
      "-output_ts_offset", "65", "-f", "mpegts", b]);
    const joined = join(dir, "jump.ts");
    writeFileSync(joined, Buffer.concat([readFileSync(a), readFileSync(b)]));
    const halves = ffprobeDuration(a) + ffprobeDuration(b);
    const run = await runPacer(["probe", joined]);
    expect(run.code).toBe(0);
    const f = fields(run.stdout);
    expect(f.get("pcrs")).toContain("1 discontinuities");
    const ours = seconds(f.get("duration"));
    console.log(`PCR jump: probe ${ours} s, ffprobe's halves ${halves} s, ffprobe's whole ${ffprobeDuration(joined)} s`);
    expect(Math.abs(ours / halves - 1)).toBeLessThan(0.02);
  }, 20_000);
});
