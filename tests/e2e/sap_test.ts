/**
 * Story: in a network namespace of its own (loopback only, multicast routed to it), a user plays
 * 24-bit audio to a multicast group with `sap=1`. ffmpeg's SAP demuxer, started with nothing but
 * `sap://224.2.127.254`, finds the announcement, joins the stream and decodes the very samples
 * sent. tshark sees the announcements at the interval asked for (offset at random by up to a
 * third, RFC 2974 section 3.1), all with one message id hash,
 * and, when pacer stops, the deletion with that hash. A stream in the local scope
 * (239.255.0.0/16) is announced on 239.255.255.255 instead, and two streams of one pacer carry
 * o= lines of their own. Nothing leaves the namespace.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sapGetMessageIdHash, sapGetOriginatingSource, sapGetPayload, sapIsDeletion } from "../../protocol/sap.ts";
import { decodeCapture, hexBytes, startCapture } from "../helpers/capture.ts";
import { makeLoopbackNetns, type Netns } from "../helpers/netns.ts";
import { havePeer, MAIN, runPacer } from "../helpers/pacer.ts";

const dir = mkdtempSync(join(tmpdir(), "pacer-sap-"));
const ns: Netns | null = havePeer("ffmpeg") && havePeer("tshark") ? makeLoopbackNetns("pacer-sap") : null;
afterAll(() => {
  ns?.remove();
  rmSync(dir, { recursive: true, force: true });
});

const GROUP = "233.252.0.5"; // MCAST-TEST-NET (RFC 6676): "other IPv4 multicast", announced on 224.2.127.254
const LOCAL_SCOPE_GROUP = "239.255.7.7";
const LOCAL_SCOPE_GROUP_2 = "239.255.7.8";
const samples = Buffer.from(crypto.getRandomValues(new Uint8Array(48_000 * 6 * 2))); // 2 s of s24le stereo

interface SapPacket {
  atUs: number;
  dst: string;
  bytes: Uint8Array;
}

let decoded: Buffer | null = null;
let ffmpegLog = "";
let pacerCode: number | null = null;
let pacerLog = "";
let sap: SapPacket[] = [];

function inNs(command: string[], stdin: "pipe" | "ignore" = "ignore") {
  return spawn(ns!.exec[0]!, [...ns!.exec.slice(1), ...command], { stdio: [stdin, "ignore", "pipe"] });
}

const closed = (child: ReturnType<typeof spawn>) => new Promise<number | null>((r) => child.on("close", r));

beforeAll(async () => {
  if (!ns) return;
  const pcap = join(dir, "sap.pcap");
  const capture = await startCapture("udp port 9875", pcap, { wrap: ns.exec });
  const out = join(dir, "sap.raw");
  const ffmpeg = inNs(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", "sap://224.2.127.254", "-f", "s24le", "-acodec", "pcm_s24le", "-y", out]);
  ffmpeg.stderr!.on("data", (d) => (ffmpegLog += d));
  const ffmpegClosed = closed(ffmpeg);
  await ns.joined("224.2.127.254"); // ffmpeg listens on the SAP group
  const url = `rtp://${GROUP}:5004?format=s24be:48000:2&ptime=1&ttl=1&sap=1&sap-interval=0.5`;
  const pacer = inNs([process.execPath, MAIN, "play", "-", "--format", "s24le:48000:2", "--to", url], "pipe");
  pacer.stderr!.on("data", (d) => (pacerLog += d));
  const pacerClosed = closed(pacer);
  // The first announcement goes out at once; ffmpeg opens the stream it describes. Samples go
  // only once its socket is in the group, or the first packets can pass it by; and not before
  // 2 s of announcements, which a test below counts.
  await Promise.all([ns.joined(GROUP), Bun.sleep(2000)]);
  pacer.stdin!.end(samples);
  pacerCode = await pacerClosed;
  // The RTCP BYE or the SAP deletion ends ffmpeg; SIGINT is the fallback.
  const timer = setTimeout(() => ffmpeg.kill("SIGINT"), 5000);
  await ffmpegClosed;
  clearTimeout(timer);
  decoded = existsSync(out) ? readFileSync(out) : Buffer.alloc(0);

  // Two local-scope streams from one pacer, announced for a moment with nobody listening.
  const local = inNs(
    [process.execPath, MAIN, "play", "-", "--format", "s24le:48000:2", "--to", `rtp://${LOCAL_SCOPE_GROUP}:5004?sap=1`, "--to", `rtp://${LOCAL_SCOPE_GROUP_2}:5006?sap=1`],
    "pipe",
  );
  local.stdin!.end(samples.subarray(0, 48_000 * 6 * 0.2));
  await closed(local);
  await capture.stop();
  sap = decodeCapture(pcap, ["frame.time_epoch", "ip.dst", "udp.payload"]).map(([time, dst, payload]) => ({
    atUs: Math.round(Number(time) * 1e6),
    dst: dst!,
    bytes: hexBytes(payload!),
  }));
}, 40_000);

describe("SAP announcements (RFC 2974)", () => {
  test("ffmpeg's SAP demuxer finds the announcement and decodes the stream to the samples sent", () => {
    if (!ns) return;
    expect(pacerCode).toBe(0);
    if (!decoded!.equals(samples)) console.error("ffmpeg:", ffmpegLog, "pacer:", pacerLog, decoded!.length);
    expect(decoded!.length).toBe(samples.length);
    expect(decoded!.equals(samples)).toBe(true);
  });

  test("announcements go to 224.2.127.254 every 0.5 s ± a third at random with one hash, then one deletion with it", () => {
    if (!ns) return;
    const global = sap.filter((p) => p.dst === "224.2.127.254");
    const announcements = global.filter((p) => !sapIsDeletion(p.bytes));
    const deletions = global.filter((p) => sapIsDeletion(p.bytes));
    expect(announcements.length).toBeGreaterThanOrEqual(6); // about 2 s waiting + 2 s playing, every 0.5 s
    expect(deletions).toHaveLength(1);
    expect(deletions[0]!.atUs).toBeGreaterThan(announcements.at(-1)!.atUs);
    const hash = sapGetMessageIdHash(announcements[0]!.bytes);
    expect(hash).not.toBe(0);
    expect(global.every((p) => sapGetMessageIdHash(p.bytes) === hash)).toBe(true);
    // RFC 2974 section 3.1: each interval offset at random by up to a third, so announcers
    // started together fall out of step. Before, every gap was 0.5 s to the millisecond.
    const gaps = announcements.slice(1).map((p, i) => p.atUs - announcements[i]!.atUs);
    for (const gap of gaps) {
      expect(gap).toBeGreaterThan(333_000 - 20_000);
      expect(gap).toBeLessThan(667_000 + 150_000); // a timer on a loaded host fires late
    }
    expect(Math.max(...gaps) - Math.min(...gaps)).toBeGreaterThan(60_000);
    // The payload is the output's SDP, from the sender's own address.
    expect([...sapGetOriginatingSource(announcements[0]!.bytes)]).toEqual([127, 0, 0, 1]);
    const sdp = new TextDecoder().decode(sapGetPayload(announcements[0]!.bytes)!);
    expect(sdp).toContain(`c=IN IP4 ${GROUP}/1\r\n`);
    expect(sdp).toContain("m=audio 5004 RTP/AVP 96\r\n");
    expect(sdp).toContain("a=rtpmap:96 L24/48000/2\r\n");
    expect(sdp).toContain("o=- ");
  });

  test("streams in 239.255.0.0/16 are announced on 239.255.255.255, each with an o= line of its own, and deleted there too", () => {
    if (!ns) return;
    const local = sap.filter((p) => p.dst === "239.255.255.255");
    expect(local.length).toBeGreaterThanOrEqual(2);
    expect(sapIsDeletion(local.at(-1)!.bytes)).toBe(true);
    const sdps = local.filter((p) => !sapIsDeletion(p.bytes)).map((p) => new TextDecoder().decode(sapGetPayload(p.bytes)!));
    expect(sdps.some((sdp) => sdp.includes(`c=IN IP4 ${LOCAL_SCOPE_GROUP}/1\r\n`))).toBe(true);
    // Two outputs of one pacer are two sessions: their o= lines differ (RFC 8866 section 5.2).
    // Before, both carried the start second as the session id, one o= line for two sessions.
    const origins = new Map(sdps.map((sdp) => [/c=IN IP4 (\S+)\//.exec(sdp)![1], /^o=.*$/m.exec(sdp)![0]]));
    expect(origins.size).toBe(2);
    expect(origins.get(LOCAL_SCOPE_GROUP)).not.toBe(origins.get(LOCAL_SCOPE_GROUP_2));
  });
});

describe("sap= options", () => {
  test("sap=2, sap-interval without sap=1, or a zero interval are usage errors (exit 2)", async () => {
    const short = samples.subarray(0, 6000);
    for (const [query, says] of [["sap=2", "sap=2"], ["sap-interval=5", "needs sap=1"], ["sap=1&sap-interval=0", "sap-interval=0"]]) {
      const run = await runPacer(["play", "-", "--format", "s24le:48000:2", "--to", `rtp://127.0.0.1:9?${query}`], { stdin: short });
      expect(run.code).toBe(2);
      expect(run.stderr).toContain(says);
    }
  });
});
