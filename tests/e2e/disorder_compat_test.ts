/**
 * Story: a DisOrder user points pacer at their playrtp receivers with `rtp://…?compat=disorder`.
 * A receiver written to DisOrder's documented behaviour (its speaker.c: PT 10, L16 stereo at
 * 44.1 kHz, payloads within playrtp's buffer, timestamps that count samples, so a stereo frame
 * advances them by 2, and the marker on the first packet after idle) places each payload by its
 * timestamp alone and gets the source samples back bit for bit, a 48 kHz source included
 * (converted first). Without compat the same stream counts frames (RFC 3551).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { rtpGetMarker, rtpGetPayloadType, rtpGetSeqnum, rtpGetTimestamp, RTP_HEADER_SIZE } from "../../protocol/rtp.ts";
import { rampS16, swap16, writeWav } from "../helpers/audio.ts";
import { havePeer, runPacer } from "../helpers/pacer.ts";
import { differenceFromSoxDb } from "../helpers/sox_reference.ts";
import { udpReceiver } from "../helpers/udp_receiver.ts";

const dir = mkdtempSync(join(tmpdir(), "pacer-disorder-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const FRAMES = 44_100;
const samples = rampS16(FRAMES);
const wav = join(dir, "ramp.wav");
writeWav(wav, { encoding: "s16le", rate: 44_100, channels: 2 }, samples);

/** DisOrder's playrtp, as documented: a payload's place in the stream is its timestamp, in 16-bit samples. */
function disorderReceive(datagrams: Buffer[]): { audio: Buffer; payloadTypes: Set<number>; largest: number; markers: number[] } {
  const first = rtpGetTimestamp(datagrams[0]!);
  let end = 0;
  const placed: [number, Buffer][] = [];
  const markers: number[] = [];
  let largest = 0;
  const payloadTypes = new Set<number>();
  datagrams.forEach((d, i) => {
    payloadTypes.add(rtpGetPayloadType(d));
    if (rtpGetMarker(d)) markers.push(i);
    const payload = d.subarray(RTP_HEADER_SIZE);
    largest = Math.max(largest, payload.length);
    const at = ((rtpGetTimestamp(d) - first) >>> 0) * 2; // samples → bytes
    placed.push([at, payload]);
    end = Math.max(end, at + payload.length);
  });
  const audio = Buffer.alloc(end);
  for (const [at, payload] of placed) payload.copy(audio, at);
  return { audio, payloadTypes, largest, markers };
}

describe("rtp://…?compat=disorder", () => {
  test("PT 10, payloads within 2048 bytes, sample-counting timestamps: the receiver rebuilds the source bit for bit", async () => {
    const rx = await udpReceiver();
    const run = await runPacer(["play", wav, "--to", `rtp://127.0.0.1:${rx.port}?compat=disorder`]);
    await Bun.sleep(100);
    await rx.settled();
    rx.close();
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const datagrams = rx.packets.map((p) => p.data);
    // In order and none lost, so the timestamps are the only thing that placed them.
    datagrams.forEach((d, i) => i > 0 && expect((rtpGetSeqnum(d) - rtpGetSeqnum(datagrams[i - 1]!)) & 0xffff).toBe(1));
    for (let i = 1; i < datagrams.length; i++) {
      const samplesBefore = (datagrams[i - 1]!.length - RTP_HEADER_SIZE) / 2;
      expect((rtpGetTimestamp(datagrams[i]!) - rtpGetTimestamp(datagrams[i - 1]!)) >>> 0).toBe(samplesBefore);
    }
    const got = disorderReceive(datagrams);
    expect([...got.payloadTypes]).toEqual([10]);
    expect(got.largest).toBeLessThanOrEqual(2048);
    expect(got.markers).toEqual([0]); // the first packet after idle
    expect(got.audio.equals(swap16(samples))).toBe(true);
  });

  test("a 48 kHz source is converted to 44.1 kHz stereo first: what the receiver rebuilds is sox's resampling of it", async () => {
    if (!havePeer("sox")) return;
    // 1 kHz left, 1.5 kHz right, made by sox (not by pacer).
    const wav48 = join(dir, "tones48.wav");
    expect(spawnSync("sox", ["-n", "-r", "48000", "-c", "2", "-b", "16", wav48, "synth", "1", "sine", "1000", "sine", "1500", "vol", "-3dB"]).status).toBe(0);
    const rx = await udpReceiver();
    const run = await runPacer(["play", wav48, "--to", `rtp://127.0.0.1:${rx.port}?compat=disorder`]);
    await Bun.sleep(100);
    await rx.settled();
    rx.close();
    expect(run.code).toBe(0);
    const got = disorderReceive(rx.packets.map((p) => p.data));
    expect([...got.payloadTypes]).toEqual([10]);
    // One second of audio: 44100 stereo frames, within the resampler's edge.
    expect(Math.abs(got.audio.length / 4 - 44_100)).toBeLessThan(64);
    // sox's own resampler (no dither) is the reference: the difference is down at the 16-bit floor.
    const rmsDb = differenceFromSoxDb(wav48, got.audio, dir);
    console.log(`compat=disorder 48 kHz: difference from sox's resampler ${rmsDb} dB RMS`);
    expect(rmsDb).toBeLessThan(-70);
  });

  test("the default stays RFC 3551: timestamps count frames", async () => {
    const rx = await udpReceiver();
    expect((await runPacer(["play", wav, "--to", `rtp://127.0.0.1:${rx.port}`])).code).toBe(0);
    await Bun.sleep(100);
    await rx.settled();
    rx.close();
    const [a, b] = rx.packets.map((p) => p.data);
    expect((rtpGetTimestamp(b!) - rtpGetTimestamp(a!)) >>> 0).toBe((a!.length - RTP_HEADER_SIZE) / 4);
  });

  test("what DisOrder cannot take is refused in one line", async () => {
    const cases: [string, string][] = [
      ["compat=vlc", "compat=vlc: the only one is compat=disorder"],
      ["compat=disorder&pt=96", "compat=disorder sends pt=10"],
      ["compat=disorder&format=s24be:48000:2", "compat=disorder sends s16be:44100:2"],
      ["compat=disorder&pkt=4096", "at most 2048 payload bytes"],
      ["compat=disorder&ptime=20", "at most 2048 payload bytes; ptime=20 makes 3528"],
    ];
    for (const [query, message] of cases) {
      const run = await runPacer(["play", wav, "--to", `rtp://127.0.0.1:9?${query}`]);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain(message);
      expect(run.stderr.trim().split("\n")).toHaveLength(1);
    }
  });
});
