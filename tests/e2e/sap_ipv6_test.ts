/**
 * Story: SAP over IPv6. In a throwaway namespace with a veth pair (IPv6 multicast is not
 * delivered over lo), a user plays 24-bit audio to the global-scope group ff0e::5 with `sap=1`.
 * ffmpeg's SAP demuxer, given only `sap://[ff0e::2:7ffe]` (the SAP address for that scope,
 * RFC 2974 section 3), finds the announcement, joins the stream it describes and decodes the very
 * samples sent. tshark sees the announcements there, with the IPv6 originating source, an SDP
 * saying `c=IN IP6 ff0e::5`, and the deletion when pacer stops. Nothing leaves the namespace.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sapGetMessageIdHash, sapGetPayload, sapIsDeletion } from "../../protocol/sap.ts";
import { decodeCapture, hexBytes, startCapture } from "../helpers/capture.ts";
import { makeIpv6MulticastNetns, type Netns } from "../helpers/netns.ts";
import { havePeer, MAIN } from "../helpers/pacer.ts";

const dir = mkdtempSync(join(tmpdir(), "pacer-sap6-"));
const ns: Netns | null = havePeer("ffmpeg") && havePeer("tshark") ? makeIpv6MulticastNetns("pacer-sap6") : null;
afterAll(() => {
  ns?.remove();
  rmSync(dir, { recursive: true, force: true });
});

const samples = Buffer.from(crypto.getRandomValues(new Uint8Array(48_000 * 6 * 2))); // 2 s of s24le stereo
let decoded: Buffer | null = null;
let ffmpegLog = "";
let pacerCode: number | null = null;
let sap: { dst: string; bytes: Uint8Array }[] = [];

const closed = (child: ReturnType<typeof spawn>) => new Promise<number | null>((r) => child.on("close", r));

beforeAll(async () => {
  if (!ns) return;
  const pcap = join(dir, "sap6.pcap");
  const capture = await startCapture("udp port 9875", pcap, { iface: "v0", wrap: ns.exec });
  const out = join(dir, "sap6.raw");
  const ffmpeg = spawn(ns.exec[0]!, [...ns.exec.slice(1), "ffmpeg", "-nostdin", "-loglevel", "error", "-i", "sap://[ff0e::2:7ffe]", "-f", "s24le", "-acodec", "pcm_s24le", "-y", out], { stdio: ["ignore", "ignore", "pipe"] });
  ffmpeg.stderr!.on("data", (d) => (ffmpegLog += d));
  const ffmpegClosed = closed(ffmpeg);
  await ns.joined("ff0e::2:7ffe"); // ffmpeg listens for announcements
  const url = "rtp://[ff0e::5]:5004?iface=v0&format=s24be:48000:2&ptime=1&sap=1&sap-interval=0.5";
  const pacer = spawn(ns.exec[0]!, [...ns.exec.slice(1), process.execPath, MAIN, "play", "-", "--format", "s24le:48000:2", "--to", url], { stdio: ["pipe", "ignore", "ignore"] });
  const pacerClosed = closed(pacer);
  // The first announcement goes out at once; ffmpeg opens the stream it describes. Samples go
  // only once its socket is in the group, or the first packets can pass it by.
  await ns.joined("ff0e::5");
  pacer.stdin!.end(samples);
  pacerCode = await pacerClosed;
  const timer = setTimeout(() => ffmpeg.kill("SIGINT"), 5000);
  await ffmpegClosed;
  clearTimeout(timer);
  decoded = existsSync(out) ? readFileSync(out) : Buffer.alloc(0);
  await capture.stop();
  sap = decodeCapture(pcap, ["ipv6.dst", "udp.payload"]).map(([dst, payload]) => ({
    dst: dst!,
    bytes: hexBytes(payload!),
  }));
}, 40_000);

describe("SAP over IPv6 (global scope)", () => {
  test("ffmpeg finds the stream from sap://[ff0e::2:7ffe] alone and decodes the samples sent", () => {
    if (!ns) return;
    expect(pacerCode).toBe(0);
    expect(ffmpegLog).toBe("");
    expect(decoded!.length).toBe(samples.length);
    expect(decoded!.equals(samples)).toBe(true);
  });

  test("announcements go to ff0e::2:7ffe with an IPv6 origin and SDP, then one deletion with the same hash", () => {
    if (!ns) return;
    const announcements = sap.filter((p) => p.dst === "ff0e::2:7ffe" && !sapIsDeletion(p.bytes));
    const deletions = sap.filter((p) => p.dst === "ff0e::2:7ffe" && sapIsDeletion(p.bytes));
    expect(announcements.length).toBeGreaterThanOrEqual(4);
    expect(deletions).toHaveLength(1);
    // The A bit (byte 0, 0x10) says the originating source is 16 bytes: IPv6.
    expect(announcements[0]!.bytes[0]! & 0x10).toBe(0x10);
    expect(sapGetMessageIdHash(deletions[0]!.bytes)).toBe(sapGetMessageIdHash(announcements[0]!.bytes));
    const sdp = new TextDecoder().decode(sapGetPayload(announcements[0]!.bytes)!);
    expect(sdp).toContain("c=IN IP6 ff0e::5\r\n");
    expect(sdp).toContain("m=audio 5004 RTP/AVP 96\r\n");
    // The origin is the address the kernel sends from on v0 (its global or its link-local one).
    expect(sdp).toMatch(/o=- \d+ \d+ IN IP6 (fd00::1|fe80::[0-9a-f:]+)\r\n/);
  });
});
