/**
 * Story: a user plays 24-bit audio (AES67-style, 1 ms packets) and an MPEG-TS file to rtp://
 * for nine seconds, while tshark captures loopback and GStreamer's rtpbin (ntp-sync=true)
 * receives the audio with its RTCP. tshark decodes pacer's RTCP as valid sender reports with an
 * SDES CNAME, and SR + SDES + BYE at the end; each report's NTP time and RTP timestamp agree
 * with the packets' kernel send stamps within 1 ms (MPEG: the send time; PCM: the media time,
 * which is `ahead` = 20 ms after the send); the packet and octet counts are what was captured;
 * rtpbin decodes the samples bit-exactly after seeing the reports and the BYE.
 * Then the options: rtcp=mux, rtcp=PORT and rtcp=off.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as rtcp from "../../protocol/rtcp.ts";
import { RTP_HEADER_SIZE } from "../../protocol/rtp.ts";
import { decodeCapture, startCapture } from "../helpers/capture.ts";
import { makeCbrTs } from "../helpers/mpeg_fixtures.ts";
import { havePeer, runPacer, type PacerRun } from "../helpers/pacer.ts";
import { udpReceiver } from "../helpers/udp_receiver.ts";

const dir = mkdtempSync(join(tmpdir(), "pacer-rtcp-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SECONDS = 9;
const RATE = 48_000;
const AHEAD_US = 20_000; // the default ahead= for audio
const samples = Buffer.from(crypto.getRandomValues(new Uint8Array(RATE * 6 * SECONDS)));
const pcmPort = 12_000 + Math.floor(Math.random() * 4_000) * 4; // below the ephemeral range (32768-)
const tsPort = pcmPort + 2;

interface RtpRow {
  atUs: number;
  ts: number;
  payload: number;
}
interface RtcpRow {
  atUs: number;
  types: number[];
  ntpUs: number;
  rtpTs: number;
  packets: number;
  octets: number;
  cname: string;
  malformed: boolean;
}
interface Stream {
  rtp: RtpRow[];
  rtcp: RtcpRow[];
}

let pcmRun: PacerRun;
let tsRun: PacerRun;
const streams: Record<"pcm" | "ts", Stream> = { pcm: { rtp: [], rtcp: [] }, ts: { rtp: [], rtcp: [] } };
let haveTshark = false;
let gst: { decoded: Buffer; log: string } | null = null;

const toUs = (epoch: string) => Math.round(Number(epoch) * 1e6);
/** The signed difference a - b of two 32-bit RTP timestamps. */
const tsDiff = (a: number, b: number) => ((((a - b) % 2 ** 32) + 2 ** 32 + 2 ** 31) % 2 ** 32) - 2 ** 31;

function readCapture(path: string, rtpPort: number): Stream {
  const rows = decodeCapture(
    path,
    ["frame.time_epoch", "udp.dstport", "udp.length", "rtp.timestamp", "rtcp.pt", "rtcp.timestamp.ntp.msw", "rtcp.timestamp.ntp.lsw",
      "rtcp.timestamp.rtp", "rtcp.sender.packetcount", "rtcp.sender.octetcount", "rtcp.sdes.text", "_ws.malformed", "rtcp.length_check.bad"],
    [`udp.port==${rtpPort},rtp`, `udp.port==${rtpPort + 1},rtcp`],
    `udp.dstport==${rtpPort} || udp.dstport==${rtpPort + 1}`,
  );
  const out: Stream = { rtp: [], rtcp: [] };
  for (const [time, port, udpLength, ts, pt, msw, lsw, rtpTs, packets, octets, cname, malformed, lengthBad] of rows) {
    if (Number(port) === rtpPort) {
      out.rtp.push({ atUs: toUs(time!), ts: Number(ts), payload: Number(udpLength) - 8 - RTP_HEADER_SIZE });
    } else {
      out.rtcp.push({
        atUs: toUs(time!),
        types: pt!.split("|").map(Number),
        ntpUs: rtcp.unixUsOfNtp(Number(msw), Number(lsw)),
        rtpTs: Number(rtpTs),
        packets: Number(packets),
        octets: Number(octets),
        cname: cname ?? "",
        malformed: (malformed ?? "") !== "" || (lengthBad ?? "") !== "",
      });
    }
  }
  return out;
}

/** |predicted - captured| for the RTP packets within 1 s of each report, in µs, sorted. */
function mappingErrors(stream: Stream, clockRate: number, leadUs: number): number[] {
  const errors: number[] = [];
  for (const report of stream.rtcp) {
    for (const p of stream.rtp) {
      const predicted = report.ntpUs + (tsDiff(p.ts, report.rtpTs) / clockRate) * 1e6 - leadUs;
      if (Math.abs(predicted - report.ntpUs) > 1e6) continue;
      errors.push(Math.abs(predicted - p.atUs));
    }
  }
  return errors.sort((a, b) => a - b);
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

beforeAll(async () => {
  haveTshark = havePeer("tshark");
  const tsFile = join(dir, "cbr.ts");
  writeFileSync(tsFile, makeCbrTs({ bitrate: 1_500_000, duration: SECONDS }));
  const pcap = join(dir, "rtcp.pcap");
  const ports = [pcmPort, pcmPort + 1, tsPort, tsPort + 1];
  const capture = haveTshark ? await startCapture(`udp and (${ports.map((p) => `port ${p}`).join(" or ")})`, pcap) : null;
  let gstChild: ReturnType<typeof spawn> | null = null;
  let gstLog = "";
  const gstOut = join(dir, "rtpbin.raw");
  if (havePeer("gst-launch-1.0")) {
    const caps = `application/x-rtp,media=audio,clock-rate=${RATE},encoding-name=L24,channels=2,payload=96`;
    gstChild = spawn(
      "gst-launch-1.0",
      ["-q", "-e", "rtpbin", "name=rb", "ntp-sync=true", "latency=200",
        "udpsrc", `port=${pcmPort}`, `caps=${caps}`, "!", "rb.recv_rtp_sink_0",
        "udpsrc", `port=${pcmPort + 1}`, "caps=application/x-rtcp", "!", "rb.recv_rtcp_sink_0",
        "rb.", "!", "rtpL24depay", "!", "filesink", `location=${gstOut}`],
      { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, GST_DEBUG: "rtpsession:5", GST_DEBUG_NO_COLOR: "1" } },
    );
    gstChild.stderr!.on("data", (d) => (gstLog += d));
    await Bun.sleep(1500); // the pipeline reaches PLAYING
  }
  const gstClosed = gstChild ? new Promise((r) => gstChild!.on("close", r)) : null;
  [pcmRun, tsRun] = await Promise.all([
    runPacer(["play", "-", "--format", "s24le:48000:2", "--to", `rtp://127.0.0.1:${pcmPort}?format=s24be:48000:2&ptime=1`], { stdin: samples }),
    runPacer(["play", tsFile, "--to", `rtp://127.0.0.1:${tsPort}`]),
  ]);
  await capture?.stop();
  if (gstChild) {
    await Bun.sleep(500);
    gstChild.kill("SIGINT");
    await gstClosed;
    gst = { decoded: readFileSync(gstOut), log: gstLog };
  }
  if (capture) {
    streams.pcm = readCapture(pcap, pcmPort);
    streams.ts = readCapture(pcap, tsPort);
  }
}, 40_000);

describe("RTCP sender reports", () => {
  test("both runs exit 0", () => {
    expect(pcmRun.code).toBe(0);
    expect(tsRun.code).toBe(0);
  });

  test("tshark decodes valid RTCP: SR + SDES CNAME every few seconds, SR + SDES + BYE at the end", () => {
    if (!haveTshark) return;
    for (const stream of [streams.pcm, streams.ts]) {
      expect(stream.rtcp.length).toBeGreaterThanOrEqual(2); // the first due after 1.25-3.75 s, and the BYE
      expect(stream.rtcp.every((r) => !r.malformed)).toBe(true);
      for (const r of stream.rtcp.slice(0, -1)) expect(r.types).toEqual([200, 202]);
      expect(stream.rtcp.at(-1)!.types).toEqual([200, 202, 203]);
      expect(stream.rtcp.every((r) => /^.+@.+$/.test(r.cname))).toBe(true);
      const start = stream.rtp[0]!.atUs;
      const first = stream.rtcp[0]!.atUs - start;
      expect(first).toBeGreaterThan(1_200_000);
      expect(first).toBeLessThan(3_800_000);
      for (let i = 1; i < stream.rtcp.length - 1; i++) {
        const gap = stream.rtcp[i]!.atUs - stream.rtcp[i - 1]!.atUs;
        expect(gap).toBeGreaterThan(2_400_000);
        expect(gap).toBeLessThan(7_600_000);
      }
    }
  });

  test("each report's NTP time and RTP timestamp agree with the packets' send stamps within 1 ms", () => {
    if (!haveTshark) return;
    const ts = mappingErrors(streams.ts, 90_000, 0);
    const pcm = mappingErrors(streams.pcm, RATE, AHEAD_US);
    const ms = (us: number) => (us / 1000).toFixed(3);
    console.log(
      `RTCP mapping vs kernel send stamps: TS p50 ${ms(quantile(ts, 0.5))} ms, p95 ${ms(quantile(ts, 0.95))} ms (${ts.length} packets); ` +
        `L24 1 ms p50 ${ms(quantile(pcm, 0.5))} ms, p95 ${ms(quantile(pcm, 0.95))} ms (${pcm.length} packets)`,
    );
    expect(ts.length).toBeGreaterThan(100);
    expect(pcm.length).toBeGreaterThan(1000);
    expect(quantile(ts, 0.5)).toBeLessThan(1000);
    expect(quantile(pcm, 0.5)).toBeLessThan(1000);
    // Without the lead the audio mapping is 20 ms off: the NTP time is the media time, not the send time.
    expect(Math.abs(quantile(mappingErrors(streams.pcm, RATE, 0), 0.5) - AHEAD_US)).toBeLessThan(1000);
  });

  test("packet and octet counts are the RTP packets and payload bytes sent before each report", () => {
    if (!haveTshark) return;
    for (const stream of [streams.pcm, streams.ts]) {
      for (const report of stream.rtcp) {
        const before = stream.rtp.filter((p) => p.atUs <= report.atUs);
        expect(report.packets).toBe(before.length);
        expect(report.octets).toBe(before.reduce((sum, p) => sum + p.payload, 0));
      }
      const bye = stream.rtcp.at(-1)!;
      expect(bye.packets).toBe(stream.rtp.length);
    }
  });

  test("the BYE on its own port comes at least 50 ms after the last RTP packet's media instant, so no receiver reads it first", () => {
    if (!haveTshark) return;
    // ffmpeg reads the RTCP socket first when both have data, and ends at a BYE: sent with the
    // last packets, it cost them. PCM's media instant is its send plus the lead (ahead).
    for (const [stream, leadUs] of [[streams.ts, 0], [streams.pcm, AHEAD_US]] as const) {
      const gap = stream.rtcp.at(-1)!.atUs - stream.rtp.at(-1)!.atUs;
      expect(gap).toBeGreaterThanOrEqual(50_000 + leadUs - 2_000);
      expect(gap).toBeLessThan(50_000 + leadUs + 200_000);
    }
  });

  test("GStreamer rtpbin (ntp-sync=true) takes the reports and the BYE and decodes the samples bit-exactly", () => {
    if (!gst) return;
    expect(gst.log).toContain("got SR packet");
    expect(gst.log).toContain("got BYE packet");
    const want = Buffer.alloc(samples.length);
    for (let i = 0; i < samples.length; i += 3) {
      want[i] = samples[i + 2]!;
      want[i + 1] = samples[i + 1]!;
      want[i + 2] = samples[i]!;
    }
    expect(gst.decoded.length).toBe(want.length);
    expect(gst.decoded.equals(want)).toBe(true);
  });
});

describe("rtcp= options", () => {
  const short = samples.subarray(0, RATE * 6 * 0.3);
  const run = (rtcpOption: string, port: number, sdp: string) =>
    runPacer(["play", "-", "--format", "s24le:48000:2", "--to", `rtp://127.0.0.1:${port}?ptime=1${rtcpOption}`, "--sdp", sdp], { stdin: short });

  test("rtcp=mux: the SDP says a=rtcp-mux and SR + SDES + BYE arrive on the RTP port after the data", async () => {
    // A receiver whose next port is free too, held to see that nothing goes there.
    let rx = await udpReceiver();
    let beside = await udpReceiver(rx.port + 1).catch(() => null);
    for (let i = 0; i < 20 && beside === null; i++) {
      rx.close();
      rx = await udpReceiver();
      beside = await udpReceiver(rx.port + 1).catch(() => null);
    }
    expect(beside, "no free port whose next was free too, in 20 tries").not.toBeNull();
    const sdp = join(dir, "mux.sdp");
    expect((await run("&rtcp=mux", rx.port, sdp)).code).toBe(0);
    await Bun.sleep(100);
    await rx.settled();
    rx.close();
    beside?.close();
    expect(readFileSync(sdp, "utf8")).toContain("a=rtcp-mux\r\n");
    const last = rx.packets.at(-1)!.data;
    expect(rtcp.isRtcpPayloadType(last[1]!)).toBe(true);
    expect(rtcp.rtcpGetPayloadType(last, 0)).toBe(200);
    expect(rtcp.rtcpSrGetPacketCount(last)).toBe(rx.packets.length - 1);
    // The compound, walked by its length fields (RFC 3550 6.4.1: 32-bit words minus one): SR, SDES, BYE, all of it.
    const types: number[] = [];
    for (let at = 0; at < last.length; at += (last.readUInt16BE(at + 2) + 1) * 4) types.push(last[at + 1]!);
    expect(types).toEqual([200, 202, 203]);
    expect(rx.packets.slice(0, -1).every((p) => !rtcp.isRtcpPayloadType(p.data[1]!))).toBe(true);
    expect(beside!.packets).toHaveLength(0);
  });

  test("rtcp=PORT: the SDP says a=rtcp:PORT and the BYE goes there; rtcp=off sends none and the SDP says b=RS:0, b=RR:0", async () => {
    const rx = await udpReceiver();
    const elsewhere = await udpReceiver();
    const sdp = join(dir, "port.sdp");
    expect((await run(`&rtcp=${elsewhere.port}`, rx.port, sdp)).code).toBe(0);
    await Bun.sleep(100);
    expect(readFileSync(sdp, "utf8")).toContain(`a=rtcp:${elsewhere.port}\r\n`);
    expect(elsewhere.packets).toHaveLength(1);
    expect(rtcp.rtcpGetPayloadType(elsewhere.packets[0]!.data)).toBe(200);
    expect(rx.packets.every((p) => !rtcp.isRtcpPayloadType(p.data[1]!))).toBe(true);

    const off = join(dir, "off.sdp");
    const count = elsewhere.packets.length;
    expect((await run(`&rtcp=off`, rx.port, off)).code).toBe(0);
    await Bun.sleep(100);
    await rx.settled();
    rx.close();
    elsewhere.close();
    expect(elsewhere.packets.length).toBe(count);
    expect(readFileSync(off, "utf8")).not.toContain("a=rtcp");
    // RFC 3556: an SDP says RTCP is off with both bandwidths at zero; before, it said nothing,
    // and a receiver waited for reports (and sent its own) as RFC 3550 has it.
    expect(readFileSync(off, "utf8")).toMatch(/\r\nm=audio \d+ RTP\/AVP \d+\r\nb=RS:0\r\nb=RR:0\r\n/);
  });

  test("a bad rtcp= value is a usage error (exit 2)", async () => {
    const result = await runPacer(["play", "-", "--format", "s16le:48000:2", "--to", "rtp://127.0.0.1:5004?rtcp=maybe"], { stdin: short });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("rtcp=maybe");
  });
});
