/**
 * `pacer play` relaying live PCM (RTP L16 in) to a `file:` and a `udp://` output: when the sender
 * stops, the tail that does not fill a unit (a file's 100 ms, a datagram's few ms) goes out after
 * 50 ms of starving, as for MPEG. Before, a PCM reader had no partial unit and the tail waited for
 * good: the file stopped at a multiple of 64 KiB (found by a hostile try). Real CLI both ends.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { parseSampleFormat } from "../../protocol/sample_format.ts";
import { rampS16, swap16, writeWav } from "../helpers/audio.ts";
import { makeTempDir } from "../helpers/mpeg_fixtures.ts";
import { runPacer, startPacer } from "../helpers/pacer.ts";
import { freeUdpPort, waitUdpBound } from "../helpers/ports.ts";
import { udpReceiver } from "../helpers/udp_receiver.ts";

const tmp = makeTempDir();
afterAll(() => tmp.cleanup());

describe("a PCM gateway", () => {
  test("every byte of the stream reaches a file: and a udp:// output, the tail that fills no unit included", async () => {
    // About 1 s of CD audio: 180,000 bytes, not a whole number of a file's 100 ms units (17,640 bytes).
    const samples = rampS16(45_000, 2);
    const wav = join(tmp.dir, "in.wav");
    writeWav(wav, parseSampleFormat("s16le:44100:2"), samples);
    const out = join(tmp.dir, "out.raw");
    const inPort = await freeUdpPort();
    const rx = await udpReceiver();
    const relay = startPacer(["play", `rtp://@127.0.0.1:${inPort}`, "--to", `file:${out}`, "--to", `udp://127.0.0.1:${rx.port}`]);
    let stderr = "";
    relay.stderr.on("data", (d) => (stderr += d));
    try {
      await waitUdpBound(inPort); // the relay binds its input
      const sent = await runPacer(["play", wav, "--to", `rtp://127.0.0.1:${inPort}`]);
      expect(sent.code).toBe(0);
      const size = () => (existsSync(out) ? statSync(out).size : 0);
      const received = () => rx.packets.reduce((n, p) => n + p.data.length, 0);
      for (let waited = 0; (size() < samples.length || received() < samples.length) && waited < 5_000; waited += 50) await Bun.sleep(50);
      // RTP L16 is big-endian: the relay's stream, and so its raw outputs, are s16be.
      expect(size()).toBe(samples.length);
      expect(readFileSync(out).equals(swap16(samples))).toBe(true);
      expect(received()).toBe(samples.length);
      expect(Buffer.concat(rx.packets.map((p) => p.data)).equals(swap16(samples))).toBe(true);
    } finally {
      relay.kill("SIGTERM");
      await new Promise((resolve) => relay.on("close", resolve));
      rx.close();
    }
    expect(stderr).not.toContain("error");
  }, 30_000);
});
