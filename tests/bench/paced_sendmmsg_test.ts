/**
 * The scale bench's C reference (bench/peers/paced_sendmmsg.c) sends the file whole and in order
 * to every destination, from the one buffer and from a buffer each (BUFFER_EACH, reloaded 128 KiB
 * at a time, its datagrams wrapping round the buffer's end): its figures are a floor only if it
 * does the same work as the pacer rows beside it.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { udpReceiver } from "../helpers/udp_receiver.ts";

const SOURCE = join(import.meta.dir, "..", "..", "bench", "peers", "paced_sendmmsg.c");
const DATAGRAM = 1316;
const gcc = Bun.which("gcc");
const dir = mkdtempSync(join(tmpdir(), "pacer-peer-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!gcc)("paced_sendmmsg", () => {
  // 500 datagrams and a short last one: 3.4 buffers' worth, so the buffer each wraps and reloads.
  const file = join(dir, "clip.bin");
  const bytes = Buffer.alloc(500 * DATAGRAM + 300);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + (i >> 11)) & 0xff;
  writeFileSync(file, bytes);
  const peer = join(dir, "paced_sendmmsg");

  test.each([["one buffer", "0"], ["a buffer each", "1"]])("%s: every destination gets the file, in order", async (_name, each) => {
    if (!Bun.spawnSync([gcc!, "-O2", "-o", peer, SOURCE]).success) throw new Error("gcc could not build the peer");
    const receivers = await Promise.all([udpReceiver(), udpReceiver(), udpReceiver()]);
    try {
      // 300 µs apart, staggered, 0.15 s in all (slow enough for the receivers on this thread), and
      // a window of 1 ms, so a batch holds a destination's datagram when its next one loads.
      // Not spawnSync: the receivers read on this thread while it runs.
      const run = Bun.spawn([peer, file, String(DATAGRAM), "300000", ...receivers.map((r) => String(r.port))], {
        env: { ...process.env, STAGGER: "1", WINDOW_US: "1000", BUFFER_EACH: each },
      });
      expect(await run.exited).toBe(0);
      const deadline = Date.now() + 5_000;
      while (receivers.some((r) => r.packets.length < 501) && Date.now() < deadline) await Bun.sleep(20);
      for (const r of receivers) {
        expect(r.packets.length).toBe(501);
        expect(Buffer.concat(r.packets.map((p) => p.data)).equals(bytes)).toBe(true);
      }
    } finally {
      for (const r of receivers) r.close();
    }
  }, 20_000);
});
