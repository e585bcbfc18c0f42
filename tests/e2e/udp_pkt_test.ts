/**
 * `udp://HOST:PORT?pkt=BYTES` (DESIGN.md): the datagrams are `pkt` bytes, rounded down to whole
 * frames of PCM or whole 188-byte packets of MPEG-TS, only the last shorter; a real receiver
 * counts them. No other test looked at a datagram's size under `pkt=`.
 */
import { afterAll, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeCbrTs, makeTempDir } from "../helpers/mpeg_fixtures.ts";
import { runPacer } from "../helpers/pacer.ts";
import { udpReceiver } from "../helpers/udp_receiver.ts";

const tmp = makeTempDir();
afterAll(() => tmp.cleanup());

/** Plays `args` to a fresh receiver with `?pkt=`; the datagrams' sizes and their bytes joined. */
async function sent(args: string[], pkt: number, stdin?: Uint8Array) {
  const rx = await udpReceiver();
  const run = await runPacer(["play", ...args, "--to", `udp://127.0.0.1:${rx.port}?pkt=${pkt}`], { stdin });
  await Bun.sleep(100);
  await rx.settled();
  rx.close();
  expect(run.stderr).toBe("");
  expect(run.code).toBe(0);
  return { sizes: rx.packets.map((p) => p.data.length), bytes: Buffer.concat(rx.packets.map((p) => p.data)) };
}

test("pkt=1001 on 16-bit stereo PCM: 1000-byte datagrams (whole 4-byte frames), the last shorter, every byte", async () => {
  const pcm = Uint8Array.from({ length: 8_000 * 4 * 0.3 + 8 }, (_, i) => (i * 13) & 0xff); // 0.3 s and two frames
  const { sizes, bytes } = await sent(["-", "--format", "s16le:8000:2"], 1001, pcm);
  expect(sizes.slice(0, -1).every((n) => n === 1000)).toBe(true);
  expect(sizes.length).toBe(Math.ceil(pcm.length / 1000));
  expect(sizes.at(-1)).toBe(pcm.length % 1000);
  expect(bytes.equals(Buffer.from(pcm))).toBe(true);
});

test("pkt=600 on MPEG-TS: datagrams of three whole packets (564 bytes), the last shorter, every byte", async () => {
  const ts = makeCbrTs({ bitrate: 1_000_000, duration: 0.3 });
  const path = join(tmp.dir, "short.ts");
  writeFileSync(path, ts);
  const { sizes, bytes } = await sent([path], 600);
  expect(sizes.slice(0, -1).every((n) => n === 3 * 188)).toBe(true);
  expect(sizes.length).toBe(Math.ceil(ts.length / 564));
  expect(bytes.equals(Buffer.from(ts))).toBe(true);
});
