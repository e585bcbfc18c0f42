/**
 * Story: a 48 kHz 24-bit WAV played to an RTP output fixed at pt=10 (44.1 kHz
 * stereo L16) is converted on the fly; sox, reading what arrived, hears a
 * the same 44.1 kHz signal its own resampler makes, to within the 16-bit noise floor.
 */
import { afterAll, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RTP_HEADER_SIZE, rtpGetPayloadType } from "../../protocol/rtp.ts";
import { havePeer, runPacer } from "../helpers/pacer.ts";
import { differenceFromSoxDb } from "../helpers/sox_reference.ts";
import { udpReceiver } from "../helpers/udp_receiver.ts";

const dir = mkdtempSync(join(tmpdir(), "pacer-conv-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("48 kHz 24-bit WAV to rtp://...?pt=10 arrives as 44.1 kHz 16-bit big-endian", async () => {
  if (!havePeer("sox")) return;
  const wav = join(dir, "tone48k24.wav");
  // -1 dBFS 1 kHz sine, made by sox (not by pacer).
  const made = spawnSync("sox", ["-n", "-r", "48000", "-c", "2", "-b", "24", wav, "synth", "1", "sine", "1000", "vol", "-1dB"]);
  expect(made.status).toBe(0);
  const rx = await udpReceiver();
  const run = await runPacer(["play", wav, "--to", `rtp://127.0.0.1:${rx.port}?pt=10`]);
  await Bun.sleep(100);
  await rx.settled();
  rx.close();
  expect(run.code).toBe(0);
  expect(rx.packets.every((p) => rtpGetPayloadType(p.data) === 10)).toBe(true);
  const payload = Buffer.concat(rx.packets.map((p) => p.data.subarray(RTP_HEADER_SIZE)));
  const frames = payload.length / 4;
  expect(Math.abs(frames - 44_100)).toBeLessThanOrEqual(2);
  // sox's own resampler (no dither) is the reference: the difference must be down at the 16-bit noise floor.
  const rmsDb = differenceFromSoxDb(wav, payload, dir);
  console.log(`difference from sox's resampler: ${rmsDb} dB RMS`);
  expect(rmsDb).toBeLessThan(-80);
});
