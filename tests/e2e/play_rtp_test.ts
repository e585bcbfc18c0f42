/**
 * Story: a user plays a WAV to rtp://127.0.0.1:PORT. A receiver gets every
 * packet once, in order, with RFC 3551 L16 timestamps, and the samples
 * byte-swapped to big-endian; ffmpeg reading the SDP pacer wrote decodes the
 * same samples.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  rtpGetMarker,
  rtpGetPayloadType,
  rtpGetSeqnum,
  rtpGetSsrc,
  rtpGetTimestamp,
  RTP_HEADER_SIZE,
} from "../../protocol/rtp.ts";
import { rampS16, swap16, writeWav } from "../helpers/audio.ts";
import { havePeer, runPacer, startPacer } from "../helpers/pacer.ts";
import { udpReceiver } from "../helpers/udp_receiver.ts";

const dir = mkdtempSync(join(tmpdir(), "pacer-rtp-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const FORMAT = { encoding: "s16le", rate: 44_100, channels: 2 } as const;
const FRAMES = 44_100; // one second
const samples = rampS16(FRAMES);
const wav = join(dir, "ramp.wav");
writeWav(wav, FORMAT, samples);

describe("play WAV to RTP L16", () => {
  test("every packet arrives once, in order, with frame-counting timestamps and big-endian samples", async () => {
    const rx = await udpReceiver();
    const run = await runPacer(["play", wav, "--to", `rtp://127.0.0.1:${rx.port}`]);
    await Bun.sleep(100);
    await rx.settled();
    rx.close();
    expect(run.code).toBe(0);
    const packets = rx.packets.map((p) => p.data);
    expect(packets.length).toBe(Math.ceil((FRAMES * 4) / 1400));
    const ssrc = rtpGetSsrc(packets[0]!);
    let payload = Buffer.alloc(0);
    for (let i = 0; i < packets.length; i++) {
      const p = packets[i]!;
      expect(rtpGetPayloadType(p)).toBe(10);
      expect(rtpGetSsrc(p)).toBe(ssrc);
      expect(rtpGetMarker(p)).toBe(i === 0);
      if (i > 0) {
        const prev = packets[i - 1]!;
        expect(rtpGetSeqnum(p)).toBe((rtpGetSeqnum(prev) + 1) & 0xffff);
        const framesInPrev = (prev.length - RTP_HEADER_SIZE) / 4;
        expect(rtpGetTimestamp(p)).toBe((rtpGetTimestamp(prev) + framesInPrev) % 2 ** 32);
      }
      payload = Buffer.concat([payload, p.subarray(RTP_HEADER_SIZE)]);
    }
    expect(payload.equals(swap16(samples))).toBe(true);
    // Paced, not bursted: one second of audio takes about one second to send.
    const spanMs = (rx.packets.at(-1)!.atUs - rx.packets[0]!.atUs) / 1000;
    expect(spanMs).toBeGreaterThan(900);
    expect(spanMs).toBeLessThan(1500);
  });

  test("ffmpeg reading pacer's SDP decodes the same samples, bit-exact", async () => {
    if (!havePeer("ffmpeg")) return;
    const port = 20000 + Math.floor(Math.random() * 20000) * 2;
    const sdp = join(dir, "stream.sdp");
    const out = join(dir, "ffmpeg.raw");
    // Raw PCM on stdin: pacer writes the SDP at once, then waits for samples, so ffmpeg can start listening first.
    const pacer = startPacer(["play", "-", "--format", "s16le:44100:2", "--to", `rtp://127.0.0.1:${port}`, "--sdp", sdp]);
    let pacerErr = "";
    pacer.stderr.on("data", (d) => (pacerErr += d));
    for (let i = 0; i < 100 && !existsSync(sdp); i++) await Bun.sleep(50);
    expect(existsSync(sdp)).toBe(true);
    const ffmpeg = spawn(
      "ffmpeg",
      ["-nostdin", "-loglevel", "error", "-protocol_whitelist", "file,udp,rtp", "-i", sdp, "-f", "s16le", "-acodec", "pcm_s16le", "-y", out],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    let ffErr = "";
    ffmpeg.stderr.on("data", (d) => (ffErr += d));
    // Listen for the exit now: pacer's RTCP BYE may end ffmpeg before the SIGINT below.
    const ffmpegClosed = new Promise((r) => ffmpeg.on("close", r));
    await Bun.sleep(1500); // ffmpeg opens its socket
    pacer.stdin.end(samples);
    const pacerCode = await new Promise((r) => pacer.on("close", r));
    await Bun.sleep(500);
    ffmpeg.kill("SIGINT");
    await ffmpegClosed;
    expect(pacerCode).toBe(0);
    const decoded = readFileSync(out);
    if (!decoded.equals(samples)) console.error("ffmpeg:", ffErr, "pacer:", pacerErr, decoded.length, samples.length);
    expect(decoded.length).toBe(samples.length);
    expect(decoded.equals(samples)).toBe(true);
  }, 20_000);
});

describe("bad input and unreachable destinations", () => {
  test("a WAV with a lying header is a one-line error and exit 1", async () => {
    const bad = join(dir, "lying.wav");
    const header = Buffer.from(readFileSync(wav).subarray(0, 44));
    header.writeUInt32LE(10_000_000, 40); // data size far beyond the file
    writeFileSync(bad, Buffer.concat([header, samples.subarray(0, 1000)]));
    const run = await runPacer(["play", bad, "--to", "rtp://127.0.0.1:9"]);
    expect(run.code).toBe(1);
    expect(run.stderr.trim().split("\n")).toHaveLength(1);
    expect(run.stderr).toContain("data chunk says 10000000 bytes");
  });

  test("a compressed WAV is refused by name", async () => {
    const bad = join(dir, "adpcm.wav");
    const header = Buffer.from(readFileSync(wav).subarray(0, 44));
    header.writeUInt16LE(0x0002, 20);
    writeFileSync(bad, Buffer.concat([header, samples.subarray(0, 4000)]));
    const run = await runPacer(["play", bad, "--to", "rtp://127.0.0.1:9"]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("not PCM");
  });

  test("an unresolvable host is exit 1 before anything is sent; an unknown scheme is exit 2", async () => {
    const unresolvable = await runPacer(["play", wav, "--to", "rtp://no-such-host.invalid:5004"]);
    expect(unresolvable.code).toBe(1);
    expect(unresolvable.stderr).toContain('cannot resolve host "no-such-host.invalid"');
    const scheme = await runPacer(["play", wav, "--to", "gopher://127.0.0.1:70"]);
    expect(scheme.code).toBe(2);
    expect(scheme.stderr).toContain('unknown output "gopher://127.0.0.1:70"');
  });

  test("a closed port is logged once and counted; sending goes on to it and to the others", async () => {
    const rx = await udpReceiver();
    const closed = await udpReceiver();
    const closedPort = closed.port;
    closed.close(); // nothing listens there now: ICMP port unreachable
    const short = join(dir, "short.wav");
    writeWav(short, FORMAT, samples.subarray(0, 44_100 * 4 * 0.5));
    const run = await runPacer(["--verbose", "play", short, "--to", `rtp://127.0.0.1:${closedPort}`, "--to", `rtp://127.0.0.1:${rx.port}`]);
    await Bun.sleep(100);
    await rx.settled();
    rx.close();
    expect(run.code).toBe(0);
    const warnings = run.stderr.split("\n").filter((l) => l.includes("port unreachable"));
    expect(warnings).toHaveLength(1);
    expect(rx.packets.length).toBe(Math.ceil((44_100 * 4 * 0.5) / 1400));
    // The closed destination kept its schedule: its counters show refusals, and it reached the end.
    expect(run.stderr).toMatch(new RegExp(`dest=rtp://127.0.0.1:${closedPort} units=\\d+ .*errors="?refused=\\d+`));
  });
});
