/**
 * A play's rate on the wire is held to limits.max_bitrate, not only its `bitrate` argument
 * (server/wire_rate.ts): an rtp:// `format=` that converts a CD-quality WAV to 768 kHz × 64
 * channels (786 Mbit/s), or a `pkt=` of one frame (44,100 datagrams a second), or of one byte
 * of data at 2 Mbit/s (250,000), is refused with `limit` before anything is sent. Before, either was a job that held the server's thread at
 * 60–100 % (looping and persistent, for good) and every other stream 10–40 ms late. AES67's
 * smallest packet time (0.125 ms, 8000 datagrams a second) still plays.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { rampS16, writeWav } from "../helpers/audio.ts";
import { runPacer } from "../helpers/pacer.ts";
import { udpReceiver } from "../helpers/udp_receiver.ts";
import { freeUdpPort, type ServeFixture, startServe } from "./serve_fixture.ts";

let serve: ServeFixture;
beforeAll(async () => {
  serve = await startServe();
  for (const [name, rate] of [["cd.wav", 44_100], ["tone48.wav", 48_000]] as const) {
    const wav = join(serve.mediaRoot, name);
    writeWav(wav, { encoding: "s16le", rate, channels: 2 }, rampS16(rate / 10));
    chmodSync(wav, 0o644);
  }
  writeFileSync(join(serve.mediaRoot, "blob.bin"), new Uint8Array(100_000), { mode: 0o644 });
});
afterAll(async () => {
  await serve.stop();
  serve.cleanup();
});

const ctl = (...args: string[]) => runPacer(["ctl", "--server", serve.address, ...args]);

describe("a play's rate on the wire is held to limits.max_bitrate", () => {
  test("format= that makes a WAV 786 Mbit/s is refused with limit, and nothing is sent", async () => {
    const rx = await udpReceiver(0);
    try {
      const play = await ctl("play", "cd.wav", "--loop", "--persistent", "--to", `rtp://127.0.0.1:${rx.port}?format=s16be:768000:64&rtcp=off`);
      expect(play.code).toBe(1);
      expect(play.stderr).toContain("play: limit: ");
      expect(play.stderr).toContain("would send 786.4 Mbit/s (s16be:768000:64), more than this server allows (limits.max_bitrate, 100000000 bits/s)");
      const status = await ctl("--json", "status");
      expect(JSON.parse(status.stdout).result.server.jobs).toBe(0);
      expect(rx.packets.length).toBe(0);
    } finally {
      rx.close();
    }
  });

  test("pkt= of one frame (44,100 datagrams a second) is refused with limit", async () => {
    const play = await ctl("play", "cd.wav", "--to", `udp://127.0.0.1:${await freeUdpPort()}?pkt=4`);
    expect(play.code).toBe(1);
    expect(play.stderr).toContain("play: limit: ");
    expect(play.stderr).toContain("would send 44100 datagrams a second of 4 bytes");
  });

  test("pkt=1 on data at 2 Mbit/s (250,000 datagrams a second) is refused; TS in single packets at 1 Mbit/s plays", async () => {
    const play = await ctl("play", "blob.bin", "--bitrate", "2M", "--to", `udp://127.0.0.1:${await freeUdpPort()}?pkt=1`);
    expect(play.code).toBe(1);
    expect(play.stderr).toContain("play: limit: ");
    expect(play.stderr).toContain("would send 250000 datagrams a second of 1 byte");
    const ts = await ctl("play", "clip.ts", "--to", `udp://127.0.0.1:${await freeUdpPort()}?pkt=188`);
    expect(ts.stderr).toBe("");
    expect(ts.code).toBe(0);
  });

  test("AES67's ptime=0.125 (8000 datagrams a second) and a plain stream still play", async () => {
    const rx = await udpReceiver(0, { rcvbufBytes: 4 << 20 });
    try {
      const play = await ctl("play", "tone48.wav", "--to", `rtp://127.0.0.1:${rx.port}?ptime=0.125&rtcp=off`);
      expect(play.stderr).toBe("");
      expect(play.code).toBe(0);
      // 0.1 s of 48 kHz in 6-frame packets: 800 of them.
      for (let i = 0; i < 150 && rx.packets.length < 800; i++) await Bun.sleep(20);
      expect(rx.packets.length).toBe(800);
      const plain = await ctl("play", "cd.wav", "--to", `udp://127.0.0.1:${await freeUdpPort()}`);
      expect(plain.code).toBe(0);
    } finally {
      rx.close();
    }
  });
});
