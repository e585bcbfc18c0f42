/**
 * Live channels end to end, with real processes: `pacer acquire` pushes a TS file into a
 * `[[live]]` channel of `pacer serve`, and a `live:` job relays it to a UDP receiver. The cuts
 * (acquirer killed, connection reset) leave the job waiting, and it resumes without a restart
 * while a file job beside it keeps its pacing. A second source and a source without the key are
 * refused. Bounds are generous: the host may be a loaded 2-core machine.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { connect, createServer, type Socket } from "node:net";
import { join } from "node:path";
import { type WireArrivals, wireArrivals } from "../helpers/capture.ts";
import { makeCbrTs, sameButSeamMends } from "../helpers/mpeg_fixtures.ts";
import { tsGetCc, tsGetDiscontinuity, tsGetPid, tsHasPcr } from "../../protocol/mpegts.ts";
import { runPacer, startPacer } from "../helpers/pacer.ts";
import { PT_DYNAMIC, PT_L16_MONO, rtpGetPayloadType, rtpGetSsrc, rtpSetHeader, rtpSetSeqnum, rtpSetSsrc } from "../../protocol/rtp.ts";
import { wavHeader } from "../../protocol/wav.ts";
import { freeTcpPort, freeUdpPort, waitUdpBound } from "../helpers/ports.ts";
import { udpReceiver } from "../helpers/udp_receiver.ts";
import { KEY_TEXT, makeSharedDir, type ServeFixture, startServe } from "../server/serve_fixture.ts";

const BITRATE = 1_000_000;
/** 1316-byte datagrams at 1 Mbit/s. */
const INTERVAL_MS = (1316 * 8 * 1000) / BITRATE;

let serve: ServeFixture;
let openPort: number;
let keyedPort: number;
let film: string;
let longFilm: string;
let keyPath: string;
let filesDir: string;

const ctl = (...args: string[]) => runPacer(["ctl", "--server", serve.address, ...args]);

async function channelLine(name: string): Promise<string> {
  const list = await ctl("list");
  return list.stdout.split("\n").find((l) => l.startsWith(`live:${name}\t`)) ?? "";
}

async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(100);
  }
}

/** A WAV of 44.1 kHz mono s16le (within cam1's max_bitrate) in the shared folder, sample i being `sample(i)`. */
function monoWav(name: string, frames: number, sample: (i: number) => number): { path: string; data: Buffer } {
  const data = Buffer.alloc(frames * 2);
  for (let i = 0; i < frames; i++) data.writeInt16LE(sample(i), 2 * i);
  const path = join(filesDir, name);
  writeFileSync(path, Buffer.concat([wavHeader({ encoding: "s16le", rate: 44_100, channels: 1 }, data.length), data]), { mode: 0o644 });
  return { path, data };
}

/** A persistent `live:cam1` job to an rtp:// receiver (no RTCP) while `body` runs; stopped after. */
async function withRtpLiveJob(body: (rx: Awaited<ReturnType<typeof udpReceiver>>) => Promise<void>): Promise<void> {
  const rx = await udpReceiver();
  try {
    const play = await ctl("play", "live:cam1", "--to", `rtp://127.0.0.1:${rx.port}?rtcp=off`, "--persistent");
    expect(play.code).toBe(0);
    await body(rx);
    await ctl("stop", play.stdout.trim());
  } finally {
    rx.close();
  }
}

/** The RTP payloads received, in order. */
function payloads(rx: { packets: { data: Buffer }[] }): Buffer {
  return Buffer.concat(rx.packets.map((p) => p.data.subarray(12)));
}

/** The median gap between datagrams (ms), and the p90 and p99 of the gaps' distance from it. */
function gapStats(times: number[]): { median: number; p90: number; p99: number } {
  const gaps = times.slice(1).map((t, i) => (t - times[i]!) / 1000);
  const sorted = [...gaps].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  const residuals = gaps.map((g) => Math.abs(g - median)).sort((a, b) => a - b);
  return { median, p90: residuals[Math.floor(residuals.length * 0.9)]!, p99: residuals[Math.floor(residuals.length * 0.99)]! };
}

/**
 * Evenly paced: the median gap is the interval, and nine gaps in ten are nearer to it than to 0
 * (within 0.8 of an interval; ideal is well under 1 ms). A relay that forwards in bursts fails
 * one or the other: in bursts of two or more its median gap is 0 or several intervals, and where
 * one gap in ten or more is 0, that gap is a whole interval off. The p99 is only printed: it is
 * the host's as much as pacer's. A stall of a loaded host is one long gap and a catch-up of gaps
 * of 0, three of which fail a p99 bound (28 ms under a CPU quota of 0.6 core, where the bound
 * had been two intervals, 21 ms); under 0.8 core the p90 of a file job beside a cut source read
 * 6.2 ms, past half an interval.
 */
function expectEven(label: string, times: number[]): void {
  const { median, p90, p99 } = gapStats(times);
  console.log(`${label}: median gap ${median.toFixed(3)} ms, residual p90 ${p90.toFixed(3)} ms, p99 ${p99.toFixed(3)} ms over ${times.length} datagrams`);
  expect(Math.abs(median - INTERVAL_MS)).toBeLessThan(INTERVAL_MS * 0.15);
  expect(p90).toBeLessThan(INTERVAL_MS * 0.8);
}

beforeAll(async () => {
  openPort = freeTcpPort();
  keyedPort = freeTcpPort();
  filesDir = makeSharedDir("pacer-live-");
  keyPath = join(filesDir, "live.key");
  writeFileSync(keyPath, KEY_TEXT + "\n", { mode: 0o644 });
  film = join(filesDir, "film.ts");
  writeFileSync(film, makeCbrTs({ bitrate: BITRATE, duration: 3 }), { mode: 0o644 });
  longFilm = join(filesDir, "long.ts");
  writeFileSync(longFilm, makeCbrTs({ bitrate: BITRATE, duration: 8 }), { mode: 0o644 });
  serve = await startServe({
    config: [
      // max_bitrate the stream's own: the channel's bound on what it reads leaves a stream at its rate whole.
      `[[live]]\nname = "cam1"\nlisten = "tcp://127.0.0.1:${openPort}"\nlatency_ms = 100\nmax_bitrate = ${BITRATE}`,
      `[[live]]\nname = "secure"\nlisten = "tcp://127.0.0.1:${keyedPort}"\nkey_file = "${keyPath}"`,
    ].join("\n"),
  });
});

afterAll(async () => {
  await serve?.stop();
  serve?.cleanup();
  rmSync(filesDir, { recursive: true, force: true });
});

describe("a live channel", () => {
  test("relays what pacer acquire pushes, bytes in order and evenly paced, to a live: job started before the source", async () => {
    const rx = await udpReceiver();
    let wire: WireArrivals | null = null;
    try {
      wire = await wireArrivals(rx.port); // the kernel's arrival times, whatever this process is doing
      const play = await ctl("play", "live:cam1", "--to", `udp://127.0.0.1:${rx.port}`, "--persistent");
      expect(play.code).toBe(0);
      expect(await channelLine("cam1")).toContain("\tlistening\t");
      const acquire = await runPacer(["acquire", film, "--to", `tcp://127.0.0.1:${openPort}`]);
      expect(acquire.code).toBe(0);
      const size = Bun.file(film).size;
      expect(acquire.stderr).toContain(`acquired ${size} bytes`);
      await waitFor("the relay to finish", () => rx.packets.reduce((n, p) => n + p.data.length, 0) >= size, 5_000).catch(() => {});
      const received = Buffer.concat(rx.packets.map((p) => p.data));
      expect(received.equals(Buffer.from(await Bun.file(film).bytes()))).toBe(true);
      const times = (await wire.retime(rx.packets)).map((p) => p.atUs);
      const spanS = (times.at(-1)! - times[0]!) / 1e6;
      expect(spanS).toBeGreaterThan(2.7);
      expect(spanS).toBeLessThan(3.5);
      expectEven("relay", times);
      await ctl("stop", play.stdout.trim());
    } finally {
      rx.close();
      await wire?.close();
    }
  }, 30_000);

  test("cut (acquirer killed, then the connection reset): the channel listens again and the same live: job resumes; a file job beside it keeps its pacing", async () => {
    const live = await udpReceiver();
    const file = await udpReceiver();
    let fileWire: WireArrivals | null = null;
    try {
      fileWire = await wireArrivals(file.port);
      const fileJob = await ctl("play", "clip.ts", "--loop", "--to", `udp://127.0.0.1:${file.port}`, "--persistent");
      const liveJob = await ctl("play", "live:cam1", "--to", `udp://127.0.0.1:${live.port}`, "--persistent");
      expect(fileJob.code).toBe(0);
      expect(liveJob.code).toBe(0);
      const jobId = liveJob.stdout.trim();

      // 1. The acquirer is killed mid-stream.
      const first = startPacer(["acquire", longFilm, "--to", `tcp://127.0.0.1:${openPort}`]);
      await waitFor("live packets", () => live.packets.length > 50);
      first.kill("SIGKILL");
      await waitFor("the channel to listen again", async () => (await channelLine("cam1")).includes("\tlistening\t"));

      // 2. A new acquirer; then its connection is reset under it (a raw source that resets).
      const before = live.packets.length;
      const second = startPacer(["acquire", longFilm, "--to", `tcp://127.0.0.1:${openPort}`]);
      await waitFor("the live job to resume", () => live.packets.length > before + 50);
      second.kill("SIGKILL");
      await waitFor("listening after the second cut", async () => (await channelLine("cam1")).includes("\tlistening\t"));
      const raw = await rawSource(openPort);
      raw.write(Buffer.from(await Bun.file(longFilm).slice(0, 200 * 188).bytes()));
      await Bun.sleep(300);
      raw.resetAndDestroy();
      await waitFor("listening after the reset", async () => (await channelLine("cam1")).includes("\tlistening\t"));

      // 3. A third acquirer: the same job plays on.
      const resumed = live.packets.length;
      const third = startPacer(["acquire", longFilm, "--to", `tcp://127.0.0.1:${openPort}`]);
      await waitFor("the live job to resume again", () => live.packets.length > resumed + 50);
      third.kill("SIGKILL");
      const status = await ctl("status", "--json");
      expect(status.stdout).toContain(jobId);
      expect(serve.stderr()).toContain("source dropped (connection reset)");

      // The file job ran through every cut at its own pace.
      expect(file.packets.length).toBeGreaterThan(200);
      expectEven("cut: file job", (await fileWire.retime(file.packets)).map((p) => p.atUs));
      await ctl("stop", jobId);
      await ctl("stop", fileJob.stdout.trim());
    } finally {
      live.close();
      file.close();
      await fileWire?.close();
    }
  }, 60_000);

  test("a second source into a running TS job plays on from the first: its counters go on and its new time base is flagged", async () => {
    const short = join(filesDir, "short.ts");
    const bytes = makeCbrTs({ bitrate: BITRATE, duration: 1 });
    writeFileSync(short, bytes, { mode: 0o644 });
    const rx = await udpReceiver();
    try {
      const play = await ctl("play", "live:cam1", "--to", `udp://127.0.0.1:${rx.port}`, "--persistent");
      expect(play.code).toBe(0);
      const received = () => rx.packets.reduce((n, p) => n + p.data.length, 0);
      for (let source = 1; source <= 2; source++) {
        const acquire = await runPacer(["acquire", short, "--to", `tcp://127.0.0.1:${openPort}`]);
        expect(acquire.code).toBe(0);
        await waitFor(`source ${source} relayed`, () => received() >= source * bytes.length, 5_000);
      }
      await ctl("stop", play.stdout.trim());
      const got = Buffer.concat(rx.packets.map((p) => p.data));
      expect(got.length).toBe(2 * bytes.length);
      expect(got.subarray(0, bytes.length).equals(bytes)).toBe(true);
      expect(sameButSeamMends(got.subarray(bytes.length), bytes)).toBe(true);
      // As sent by the two sources, 0x101's counter starts again at 0; as relayed it runs on.
      const counters = (from: number) => {
        const ccs: number[] = [];
        for (let at = from; at < got.length && ccs.length < 2; at += 188) if (tsGetPid(got, at) === 0x101) ccs.push(tsGetCc(got, at));
        return ccs;
      };
      let lastCc = -1;
      for (let at = 0; at < bytes.length; at += 188) if (tsGetPid(got, at) === 0x101) lastCc = tsGetCc(got, at);
      expect(counters(bytes.length)).toEqual([(lastCc + 1) & 0xf, (lastCc + 2) & 0xf]);
      // The second source's first packet is its first PCR: flagged.
      expect(tsHasPcr(got, bytes.length) && tsGetDiscontinuity(got, bytes.length)).toBe(true);
    } finally {
      rx.close();
    }
  }, 30_000);

  test("refuses a second source while one is live, and on a keyed channel a source without the key", async () => {
    const holder = startPacer(["acquire", longFilm, "--to", `tcp://127.0.0.1:${keyedPort}?key=${keyPath}`]);
    try {
      await waitFor("the keyed source", async () => (await channelLine("secure")).includes("\treceiving\t"));
      const second = await rawSource(keyedPort);
      expect(await second.greeting).toBe("PACER-LIVE 1 busy");
      second.destroy();
    } finally {
      holder.kill("SIGKILL");
    }
    await waitFor("listening", async () => (await channelLine("secure")).includes("\tlistening\t"));
    // Raw bytes instead of the key's proof: refused, and nothing of them is taken.
    const keyless = await rawSource(keyedPort);
    expect(await keyless.greeting).toMatch(/^PACER-LIVE 1 key [0-9a-f]{64}$/);
    keyless.write(Buffer.alloc(188 * 10, 0x47));
    expect(await keyless.closedWith).toContain("refused key not accepted");
    // A peer that floods on after its refusal is not read on: the server's window fills, and the
    // peer's writes stop (a hostile try had a gigabyte read in the second before the close).
    const flooder = await rawSource(keyedPort);
    await flooder.greeting;
    const junk = Buffer.alloc(1 << 20, 0x47);
    let taken = 0;
    const until = Date.now() + 1_500;
    while (Date.now() < until && !flooder.destroyed) {
      if (flooder.write(junk)) taken += junk.length;
      else await Promise.race([new Promise((resolve) => flooder.once("drain", resolve)), Bun.sleep(100)]);
    }
    flooder.destroy();
    console.log(`refused flooder: ${(taken / 2 ** 20).toFixed(0)} MiB taken in 1.5 s`);
    expect(taken).toBeLessThan(64 * 2 ** 20);
    // pacer acquire without the key says so and exits 1.
    const run = await runPacer(["acquire", film, "--to", `tcp://127.0.0.1:${keyedPort}`], { timeoutMs: 15_000 });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("the channel needs a key");
    expect(await channelLine("secure")).toContain("\tlistening\t");
  }, 30_000);

  test("a WAV file pacer acquire pushes goes out of an rtp:// output as L16, every sample (it went as headerless PCM, which the job could not send as RTP)", async () => {
    // One second, each sample its own value.
    const { path: wav, data } = monoWav("tone.wav", 44_100, (i) => (i * 7) % 32_768);
    await withRtpLiveJob(async (rx) => {
      const acquire = await runPacer(["acquire", wav, "--to", `tcp://127.0.0.1:${openPort}`]);
      expect(acquire.code, acquire.stderr).toBe(0);
      await waitFor("the relay", () => payloads(rx).length >= data.length, 5_000).catch(() => {});
      expect(new Set(rx.packets.map((p) => rtpGetPayloadType(p.data)))).toEqual(new Set([PT_L16_MONO]));
      // L16 is big-endian on the wire: the same samples, byte-swapped, in order.
      expect(payloads(rx).equals(Buffer.from(data).swap16())).toBe(true);
    });
  }, 30_000);

  test("a second pacer acquire of a WAV into a running PCM job: its header starts the stream again, never played as samples", async () => {
    // Half a second each.
    const first = monoWav("first.wav", 22_050, (i) => ((i + 1) * 13) % 30_000);
    const second = monoWav("second.wav", 22_050, (i) => ((i + 7_777) * 13) % 30_000);
    await withRtpLiveJob(async (rx) => {
      for (const { path } of [first, second]) expect((await runPacer(["acquire", path, "--to", `tcp://127.0.0.1:${openPort}`])).code).toBe(0);
      const want = Buffer.concat([first.data, second.data]).swap16();
      await waitFor("both relayed", () => payloads(rx).length >= want.length, 5_000).catch(() => {});
      // Before: the second header's 44 bytes played as 22 samples between them.
      expect(payloads(rx).equals(want)).toBe(true);
      expect(serve.stderr()).toContain("live job found a new stream in the new source; playing it instead of the stream before it");
    });
  }, 30_000);

  test("a live: job started while pacer acquire's WAV stream is under way gets its header: L16 from a whole frame on, to the file's last sample", async () => {
    const rx = await udpReceiver();
    // Three seconds of stereo (within cam1's max_bitrate), each sample its own value: a job
    // started part-way through gets a stretch of the samples exactly, starting on a whole frame.
    const frames = 3 * 16_000;
    const data = Buffer.alloc(frames * 4);
    for (let i = 0; i < 2 * frames; i++) data.writeInt16LE(((i + 1) * 11) % 30_011, 2 * i);
    const path = join(filesDir, "stereo.wav");
    writeFileSync(path, Buffer.concat([wavHeader({ encoding: "s16le", rate: 16_000, channels: 2 }, data.length), data]), { mode: 0o644 });
    try {
      const acquire = runPacer(["acquire", path, "--to", `tcp://127.0.0.1:${openPort}`]);
      await waitFor("the source", async () => (await channelLine("cam1")).includes("\treceiving\t"));
      await Bun.sleep(800);
      const play = await ctl("play", "live:cam1", "--to", `rtp://127.0.0.1:${rx.port}?rtcp=off`);
      expect(play.code, play.stderr).toBe(0);
      expect((await acquire).code).toBe(0);
      await waitFor("the relay to reach the end", () => payloads(rx).length > 0 && payloads(rx).subarray(-4).equals(Buffer.from(data.subarray(-4)).swap16()), 5_000).catch(() => {});
      // Before: no header, so the job took the samples for data, which rtp:// refuses. L16 at 16 kHz has a dynamic type.
      expect(new Set(rx.packets.map((p) => rtpGetPayloadType(p.data)))).toEqual(new Set([PT_DYNAMIC]));
      const got = payloads(rx);
      const want = Buffer.from(data).swap16();
      expect(got.length % 4).toBe(0);
      expect(got.length).toBeGreaterThan(16_000 * 4); // over a second of the three
      expect(got.length).toBeLessThan(want.length);
      expect(got.equals(want.subarray(want.length - got.length))).toBe(true);
      await ctl("stop", play.stdout.trim());
    } finally {
      rx.close();
    }
  }, 30_000);

  test("a source of garbage neither ends a waiting rtp:// job nor leaves a udp:// one pacing the next source's stream as data", async () => {
    const rtpRx = await udpReceiver();
    const udpRx = await udpReceiver();
    try {
      const rtpPlay = await ctl("play", "live:cam1", "--to", `rtp://127.0.0.1:${rtpRx.port}?rtcp=off`, "--persistent");
      const udpPlay = await ctl("play", "live:cam1", "--to", `udp://127.0.0.1:${udpRx.port}`, "--persistent");
      expect([rtpPlay.code, udpPlay.code]).toEqual([0, 0]);
      // Anyone may connect to a keyless channel: 20 kB of noise, then gone.
      const noise = new Uint8Array(20_000).map((_, i) => (i * 7919 + 13) % 251);
      const garbage = connect({ host: "127.0.0.1", port: openPort });
      await new Promise<void>((resolve) => garbage.once("connect", () => resolve()));
      garbage.end(noise);
      await waitFor("the noise relayed as data", () => udpRx.packets.length > 0, 5_000);
      await waitFor("the channel to listen again", async () => (await channelLine("cam1")).includes("\tlistening\t"), 10_000);
      await waitFor("the rtp:// job to find it cannot send data", () => serve.stderr().includes("live job could not start (data)"), 5_000);
      expect(serve.stderr()).toContain("RTP needs PCM, MPEG-TS or MPEG-PS input; send other data with udp://; waiting for the next source");
      expect(rtpRx.packets.length).toBe(0);
      // Then a real source: both jobs play its stream, the udp:// one from its first byte.
      const acquire = await runPacer(["acquire", film, "--to", `tcp://127.0.0.1:${openPort}`]);
      expect(acquire.code, acquire.stderr).toBe(0);
      const size = Bun.file(film).size;
      const filmBytes = Buffer.from(await Bun.file(film).bytes());
      const tail = filmBytes.subarray(size - 1316);
      await waitFor("the stream's last datagram", () => udpRx.packets.at(-1)?.data.equals(tail) === true, 5_000).catch(() => {});
      const received = Buffer.concat(udpRx.packets.map((p) => p.data));
      expect(received.subarray(received.length - size).equals(filmBytes)).toBe(true);
      // Before it, only noise, and none of the stream twice: the data job stopped at the new source.
      const before = received.subarray(0, received.length - size);
      expect(before.equals(Buffer.from(noise.subarray(0, before.length)))).toBe(true);
      expect(serve.stderr()).toContain("live job found a new stream in the new source; playing it instead of the data before it");
      expect(rtpRx.packets.length).toBeGreaterThan(100);
      expect(new Set(rtpRx.packets.map((p) => rtpGetPayloadType(p.data)))).toEqual(new Set([33]));
      // The same jobs, still there to be stopped.
      expect((await ctl("stop", rtpPlay.stdout.trim())).code).toBe(0);
      expect((await ctl("stop", udpPlay.stdout.trim())).code).toBe(0);
    } finally {
      rtpRx.close();
      udpRx.close();
    }
  }, 40_000);

  test("the play reply names the SSRC of an rtp:// output the job opens only once the source has come", async () => {
    const rx = await udpReceiver();
    const clip = join(filesDir, "short.ts");
    writeFileSync(clip, makeCbrTs({ bitrate: BITRATE, duration: 0.5 }), { mode: 0o644 });
    try {
      const play = await ctl("--json", "play", "live:cam1", "--to", `rtp://127.0.0.1:${rx.port}?rtcp=off`);
      expect(play.code).toBe(0);
      const { job, ssrc } = JSON.parse(play.stdout).result as { job: string; ssrc: number[] };
      expect(ssrc).toEqual([expect.any(Number)]);
      expect((await runPacer(["acquire", clip, "--to", `tcp://127.0.0.1:${openPort}`])).code).toBe(0);
      await waitFor("the relay", () => rx.packets.length >= 10, 5_000);
      expect(new Set(rx.packets.map((p) => rtpGetSsrc(p.data)))).toEqual(new Set(ssrc));
      await ctl("stop", job);
    } finally {
      rx.close();
    }
  }, 30_000);
});

describe("pacer acquire", () => {
  test("from an RTP input that lost a packet on the way, says so at the end, in one line", async () => {
    const inPort = await freeUdpPort();
    const acquire = startPacer(["acquire", `rtp://@127.0.0.1:${inPort}`, "--to", `tcp://127.0.0.1:${openPort}`]);
    let stderr = "";
    acquire.stderr!.on("data", (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => acquire.on("close", resolve));
    await waitUdpBound(inPort);
    const sender = await Bun.udpSocket({ socket: { error() {} } });
    const packet = new Uint8Array(12 + 1316);
    for (let seq = 0; seq < 40; seq++) {
      if (seq === 20) continue; // lost on the way
      rtpSetHeader(packet, 33);
      rtpSetSeqnum(packet, seq);
      rtpSetSsrc(packet, 0x4242);
      packet.fill(0x47, 12);
      sender.send(packet, inPort, "127.0.0.1");
      await Bun.sleep(2);
    }
    sender.close();
    await Bun.sleep(300); // past the reorder's hold on the hole
    acquire.kill("SIGTERM");
    await exited;
    const lines = stderr.split("\n").filter((l) => l.includes("lost on the way in"));
    expect(lines, stderr).toHaveLength(1);
    expect(lines[0]).toContain(`rtp://@127.0.0.1:${inPort}: the input lost on the way in: gaps 1 (lost packets 1, stalls 0)`);
  }, 30_000);

  test("holds its input while the server is down, reconnects, delivers what it held, and reports what the buffer dropped", async () => {
    const port = freeTcpPort();
    const acquire = startPacer(["acquire", film, "--to", `tcp://127.0.0.1:${port}`, "--buffer", "200KiB"]);
    let stderr = "";
    acquire.stderr!.on("data", (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => acquire.on("close", resolve));
    await Bun.sleep(2_500); // the server is down: 2.5 s of 125 kB/s is more than 200 KiB
    let received = 0;
    const server = createServer((socket) => {
      socket.write("PACER-LIVE 1 open\n");
      socket.on("data", (d) => (received += d.length));
    });
    await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
    try {
      expect(await exited).toBe(0);
      const summary = /acquired (\d+) bytes.*sent (\d+), connections (\d+), drops \d+, dropped (\d+) bytes/.exec(stderr);
      expect(summary).not.toBeNull();
      const [, read, sent, connections, dropped] = summary!.map(Number);
      expect(read).toBe(Bun.file(film).size);
      expect(dropped).toBeGreaterThan(0);
      expect(sent! + dropped!).toBe(read!);
      expect(connections).toBe(1);
      await waitFor("the bytes", () => received === sent, 3_000);
      expect(stderr).toContain("bytes dropped while the server could not take them");
    } finally {
      server.close();
    }
  }, 30_000);
});

/** A raw TCP source: its greeting line, and what the server said before closing. */
async function rawSource(port: number) {
  const socket: Socket = connect({ host: "127.0.0.1", port });
  socket.on("error", () => {});
  let text = "";
  const greeting = new Promise<string>((resolve) => {
    socket.on("data", (d) => {
      text += d.toString("latin1");
      const end = text.indexOf("\n");
      if (end >= 0) resolve(text.slice(0, end));
    });
  });
  const closedWith = new Promise<string>((resolve) => socket.on("close", () => resolve(text)));
  await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
  return Object.assign(socket, { greeting, closedWith });
}
