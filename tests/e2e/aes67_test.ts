/**
 * Story: a broadcast engineer sends 24-bit, 48 kHz stereo to an AES67 receiver:
 * `pacer play - --format s24le:48000:2 --to 'rtp://…?format=s24be:48000:2&ptime=1' --sdp x.sdp`.
 * The SDP says L24 with 1 ms packets and the AES67 clock attributes; every packet holds 48
 * frames; ffmpeg reading that SDP, and GStreamer's rtpL24depay with caps taken from it, give
 * back the very samples sent (random 24-bit data, so any bit out of place shows).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RTP_HEADER_SIZE, rtpGetPayloadType, rtpGetTimestamp } from "../../protocol/rtp.ts";
import { havePeer, runPacer, startPacer } from "../helpers/pacer.ts";
import { udpReceiver } from "../helpers/udp_receiver.ts";

const dir = mkdtempSync(join(tmpdir(), "pacer-aes67-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const FRAME_BYTES = 6; // 24-bit stereo
const FRAMES = 48_000; // one second
/** Random s24le samples: every bit pattern a 24-bit sample can hold. */
const samples = Buffer.from(crypto.getRandomValues(new Uint8Array(FRAMES * FRAME_BYTES)));

function toS24be(le: Uint8Array): Buffer {
  const be = Buffer.alloc(le.length);
  for (let i = 0; i < le.length; i += 3) {
    be[i] = le[i + 2]!;
    be[i + 1] = le[i + 1]!;
    be[i + 2] = le[i]!;
  }
  return be;
}

function evenPort(): number {
  return 20_000 + Math.floor(Math.random() * 20_000) * 2;
}

const closed = (child: ReturnType<typeof spawn>) => new Promise<number | null>((r) => child.on("close", r));

/** Starts pacer on stdin (it writes the SDP, then waits for samples), waits for the SDP, returns both. */
async function startAes67Stream(port: number, sdpPath: string) {
  const url = `rtp://127.0.0.1:${port}?format=s24be:48000:2&ptime=1`;
  const pacer = startPacer(["play", "-", "--format", "s24le:48000:2", "--to", url, "--sdp", sdpPath]);
  let stderr = "";
  pacer.stderr.on("data", (d) => (stderr += d));
  for (let i = 0; i < 100 && !existsSync(sdpPath); i++) await Bun.sleep(50);
  expect(existsSync(sdpPath)).toBe(true);
  return { pacer, closed: closed(pacer), stderr: () => stderr, sdp: readFileSync(sdpPath, "utf8") };
}

describe("AES67: L24 at 48 kHz in 1 ms packets", () => {
  test("the SDP names L24, ptime 1 and the clock attributes; each packet is 48 frames, timestamps step by 48", async () => {
    const rx = await udpReceiver();
    const sdp = join(dir, "plain.sdp");
    const run = await runPacer(
      ["play", "-", "--format", "s24le:48000:2", "--to", `rtp://127.0.0.1:${rx.port}?format=s24be:48000:2&ptime=1`, "--sdp", sdp],
      { stdin: samples.subarray(0, 4800 * FRAME_BYTES) },
    );
    await Bun.sleep(100);
    await rx.settled();
    rx.close();
    expect(run.code).toBe(0);
    const text = readFileSync(sdp, "utf8");
    expect(text).toContain("a=rtpmap:96 L24/48000/2\r\n");
    expect(text).toContain("a=ptime:1\r\n");
    expect(text).toMatch(/a=ts-refclk:(local|localmac=[0-9A-F]{2}(-[0-9A-F]{2}){5})\r\n/);
    expect(text).toContain("a=mediaclk:direct=0\r\n");
    const packets = rx.packets.map((p) => p.data);
    expect(packets.length).toBe(100);
    for (const [i, p] of packets.entries()) {
      expect(p.length).toBe(RTP_HEADER_SIZE + 48 * FRAME_BYTES);
      expect(rtpGetPayloadType(p)).toBe(96);
      if (i > 0) expect(rtpGetTimestamp(p)).toBe((rtpGetTimestamp(packets[i - 1]!) + 48) % 2 ** 32);
    }
    // mediaclk direct=0: the timestamp counts 48 kHz ticks of the wall clock, so the first is close to now's.
    const nowTicks = (Date.now() * 48) % 2 ** 32;
    const offset = Math.abs(((rtpGetTimestamp(packets[0]!) - nowTicks + 2 ** 31) % 2 ** 32) - 2 ** 31);
    expect(offset).toBeLessThan(48 * 2000); // within 2 s (the run took about 0.1 s)
  });

  test("ffmpeg reading pacer's SDP decodes the same 24-bit samples, bit-exact", async () => {
    if (!havePeer("ffmpeg")) return;
    const sdp = join(dir, "ffmpeg.sdp");
    const out = join(dir, "ffmpeg.raw");
    const stream = await startAes67Stream(evenPort(), sdp);
    const ffmpeg = spawn(
      "ffmpeg",
      ["-nostdin", "-loglevel", "error", "-protocol_whitelist", "file,udp,rtp", "-i", sdp, "-f", "s24le", "-acodec", "pcm_s24le", "-y", out],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    let ffErr = "";
    ffmpeg.stderr!.on("data", (d) => (ffErr += d));
    // Listen for its exit from the start: the RTCP BYE may end ffmpeg before pacer's own exit is seen.
    const ended = closed(ffmpeg);
    await Bun.sleep(1500); // ffmpeg opens its sockets
    stream.pacer.stdin.end(samples);
    expect(await stream.closed).toBe(0);
    // The RTCP BYE ends ffmpeg by itself; SIGINT is the fallback.
    const timer = setTimeout(() => ffmpeg.kill("SIGINT"), 3000);
    await ended;
    clearTimeout(timer);
    const decoded = readFileSync(out);
    if (!decoded.equals(samples)) console.error("ffmpeg:", ffErr, "pacer:", stream.stderr(), decoded.length);
    expect(decoded.length).toBe(samples.length);
    expect(decoded.equals(samples)).toBe(true);
  }, 20_000);

  test("GStreamer's rtpL24depay, with caps read from pacer's SDP, gives the same samples, bit-exact", async () => {
    if (!havePeer("gst-launch-1.0")) return;
    const port = evenPort();
    const sdp = join(dir, "gst.sdp");
    const out = join(dir, "gst.raw");
    const stream = await startAes67Stream(port, sdp);
    const rtpmap = /a=rtpmap:(\d+) (L24)\/(\d+)\/(\d+)/.exec(stream.sdp)!;
    const [, pt, encoding, rate, channels] = rtpmap;
    const caps = `application/x-rtp,media=audio,clock-rate=${rate},encoding-name=${encoding},channels=${channels},payload=${pt}`;
    const gst = spawn(
      "gst-launch-1.0",
      ["-q", "-e", "udpsrc", `port=${port}`, `caps=${caps}`, "!", "rtpjitterbuffer", "latency=100", "!", "rtpL24depay", "!", "filesink", `location=${out}`],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    let gstErr = "";
    gst.stderr!.on("data", (d) => (gstErr += d));
    const gstClosed = closed(gst);
    await Bun.sleep(1500); // the pipeline reaches PLAYING
    stream.pacer.stdin.end(samples);
    expect(await stream.closed).toBe(0);
    await Bun.sleep(500); // the jitter buffer lets the last packets through
    gst.kill("SIGINT"); // -e: EOS first, so filesink writes everything
    await gstClosed;
    const decoded = readFileSync(out);
    const want = toS24be(samples);
    if (!decoded.equals(want)) console.error("gst:", gstErr, "pacer:", stream.stderr(), decoded.length);
    expect(decoded.length).toBe(want.length);
    expect(decoded.equals(want)).toBe(true);
  }, 20_000);
});
