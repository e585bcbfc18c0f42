/**
 * Story: a user fixes only the source port of an rtp:// output (`source=0.0.0.0:PORT`, as a
 * firewall rule asks) and hands the `--sdp` file to ffmpeg. The SDP's source filter names the
 * address the datagrams really leave from (127.0.0.1 here), and ffmpeg decodes the stream.
 * Before, the filter named 0.0.0.0 (`a=source-filter: incl IN IP4 127.0.0.1 0.0.0.0`): ffmpeg,
 * which honours it, dropped every packet and wrote nothing.
 */
import { afterAll, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { rampS16, writeWav } from "../helpers/audio.ts";
import { havePeer, runPacer } from "../helpers/pacer.ts";
import { waitUdpBound } from "../helpers/ports.ts";

const dir = mkdtempSync(join(tmpdir(), "pacer-sdp-source-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("source=0.0.0.0:PORT: the SDP's source filter names the sending address, and ffmpeg decodes through it", async () => {
  const wav = join(dir, "ramp.wav");
  const frames = 48_000 * 0.6;
  writeWav(wav, { encoding: "s16le", rate: 48_000, channels: 2 }, rampS16(frames));
  const port = 12_000 + Math.floor(Math.random() * 4_000) * 2; // RTCP on port + 1; below the ephemeral range (32768-)
  const sourcePort = port + 8_000; // and it leaves from sourcePort + 1
  const sdp = join(dir, "stream.sdp");
  const url = `rtp://127.0.0.1:${port}?source=0.0.0.0:${sourcePort}`;
  // The SDP is the same from run to run (but o='s time): one run writes it for ffmpeg to read.
  const first = await runPacer(["play", wav, "--start", "0.5", "--to", url, "--sdp", sdp]);
  expect(first.code).toBe(0);
  expect(readFileSync(sdp, "utf8")).toContain("a=source-filter: incl IN IP4 127.0.0.1 127.0.0.1\r\n");
  if (!havePeer("ffmpeg")) return;
  const out = join(dir, "out.raw");
  const ffmpeg = spawn("ffmpeg", ["-nostdin", "-v", "error", "-protocol_whitelist", "file,udp,rtp", "-i", sdp, "-f", "s16be", "-y", out], { stdio: "ignore" });
  const ffmpegClosed = new Promise((resolve) => ffmpeg.on("close", resolve));
  await waitUdpBound(port, 5_000); // ffmpeg opens its port (a fixed 0.8 s may not be enough on a loaded host)
  const second = await runPacer(["play", wav, "--to", url]);
  expect(second.code).toBe(0);
  // The RTCP BYE ends ffmpeg; SIGINT is the fallback.
  const timer = setTimeout(() => ffmpeg.kill("SIGINT"), 2000);
  await ffmpegClosed;
  clearTimeout(timer);
  const decoded = existsSync(out) ? readFileSync(out) : Buffer.alloc(0);
  expect(decoded.length).toBeGreaterThan(frames * 4 * 0.5); // most of it: the first packets may pass ffmpeg's probe by
}, 8_000);
