/**
 * `alsa:DEVICE` as an input (issue 12), through real libasound: the test ALSA config's
 * `pacer_test` PCM captures the bytes of a file (the `file` plugin's `infile`), so what pacer
 * records or sends can be compared with them byte for byte. That PCM has no clock of its own (its
 * `null` slave produces at once), so after the file it captures silence as fast as it is read:
 * the tests look for the file's bytes at the start.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseWavHeader } from "../../protocol/wav.ts";
import { writeTestAsoundrc } from "../helpers/asoundrc.ts";
import { wireArrivals } from "../helpers/capture.ts";
import { havePeer, runPacer, startPacer } from "../helpers/pacer.ts";
import { udpReceiver } from "../helpers/udp_receiver.ts";

const dir = mkdtempSync(join(tmpdir(), "pacer-capture-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** 0.5 s of 48 kHz stereo s16le counting samples: any loss, reordering or repeat shows. */
function counting(frames: number): Buffer {
  const out = Buffer.alloc(frames * 4);
  for (let i = 0; i < frames * 2; i++) out.writeInt16LE(((i * 7) % 65_536) - 32_768, i * 2);
  return out;
}

describe("alsa: capture as an input", () => {
  const captured = counting(24_000);

  test("pacer record alsa:DEVICE --format … --out x.wav: a WAV ffprobe reads, opening with exactly what was captured", async () => {
    const rc = writeTestAsoundrc({ inFile: captured });
    try {
      const out = join(dir, "mic.wav");
      const run = await runPacer(["record", "alsa:pacer_test", "--format", "s16le:48000:2", "--out", out, "--duration", "1"], { env: rc.env });
      expect(run.code).toBe(0);
      expect(run.stderr).toMatch(/pacer: recorded 1 file, \d+ bytes/);
      const wav = readFileSync(out);
      const header = parseWavHeader(wav.subarray(0, 4096), "mic.wav");
      if (header.status !== "ok") throw new Error("no WAV header");
      expect(header.format).toEqual({ encoding: "s16le", rate: 48_000, channels: 2 });
      expect(wav.subarray(header.dataOffset, header.dataOffset + captured.length).equals(captured)).toBe(true);
      if (havePeer("ffprobe")) {
        const info = execFileSync("ffprobe", ["-v", "error", "-show_entries", "stream=codec_name,sample_rate,channels", "-of", "csv=p=0", out]).toString().trim();
        expect(info).toBe("pcm_s16le,48000,2");
      }
    } finally {
      rc.cleanup();
    }
  }, 20_000);

  test("pacer play alsa:DEVICE --to udp://…: the capture goes out in real time, byte for byte", async () => {
    const rc = writeTestAsoundrc({ inFile: captured });
    const rx = await udpReceiver();
    // Kernel arrival times: the span's 100 ms of margin is one stall of this process at the first datagram.
    const wire = await wireArrivals(rx.port);
    try {
      const child = startPacer(["play", "alsa:pacer_test", "--format", "s16le:48000:2", "--latency", "50", "--to", `udp://127.0.0.1:${rx.port}?pkt=1152`], { env: rc.env });
      let stderr = "";
      child.stderr.on("data", (d) => (stderr += d));
      const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
      const bytes = () => rx.packets.reduce((n, p) => n + p.data.length, 0);
      for (let waited = 0; bytes() < captured.length && waited < 8_000; waited += 20) await Bun.sleep(20);
      child.kill("SIGTERM");
      expect(await exited).toBe(143);
      expect(stderr).toBe("");
      const got = Buffer.concat(rx.packets.map((p) => p.data));
      expect(got.subarray(0, captured.length).equals(captured)).toBe(true);
      const packets = await wire.retime(rx.packets);
      // Paced by the sample clock, not at the capture's (instant) speed: 0.5 s took about 0.5 s.
      const first = packets[0]!.atUs;
      let bytesTo = 0;
      const end = packets.findIndex((p) => (bytesTo += p.data.length) >= captured.length);
      const spanMs = (packets[end]!.atUs - first) / 1000;
      console.log(`capture to udp: 0.5 s of audio went out over ${spanMs.toFixed(0)} ms`);
      expect(spanMs).toBeGreaterThan(400);
    } finally {
      rx.close();
      await wire.close();
      rc.cleanup();
    }
  }, 20_000);

  test("a device that does not exist: one line, exit 1, nothing written", async () => {
    const rc = writeTestAsoundrc();
    try {
      const out = join(dir, "none.wav");
      const run = await runPacer(["record", "alsa:no_such_pcm", "--out", out, "--duration", "1"], { env: rc.env });
      expect(run.code).toBe(1);
      // libasound's own "ALSA lib …" line is not printed; pacer says one.
      expect(run.stderr).toBe(`pacer: error: alsa:no_such_pcm: no such PCM or device (No such file or directory) while opening it for capture; see "pacer devices"\n`);
      // Under --verbose it is a debug line, as for play's outputs: record had dropped it.
      const verbose = await runPacer(["--verbose", "record", "alsa:no_such_pcm", "--out", out, "--duration", "1"], { env: rc.env });
      expect(verbose.code).toBe(1);
      expect(verbose.stderr).toMatch(/^pacer: debug: ALSA lib pcm\.c:\d+:\(snd_pcm_open_noupdate\) Unknown PCM …$/m);
    } finally {
      rc.cleanup();
    }
  });
});
