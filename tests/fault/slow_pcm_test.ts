/**
 * Fault: a slow or stuck ALSA PCM. An ALSA `file` PCM writes into a pipe from inside libasound,
 * with a blocking write whatever SND_PCM_NONBLOCK says; here its reader never reads (stuck) or
 * reads at 0.4 of the stream's rate (slow). Either used to stall pacer's one thread, and with it
 * every other output (the UDP receiver got 1 s of 5 and then nothing). The device is now written
 * from its own thread: the UDP output keeps its schedule and gets every byte, the ALSA output
 * falls behind (skipping ahead, counted, past 2 s) and is cut off 5 s after the end of the
 * stream, and `play` exits 1 with one line saying what the ALSA output lost.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { libasoundUnavailable } from "../../backends/alsa/libasound.ts";
import { rampS16, writeWav } from "../helpers/audio.ts";
import { startPacer } from "../helpers/pacer.ts";
import { udpReceiver } from "../helpers/udp_receiver.ts";

const dir = mkdtempSync(join(tmpdir(), "pacer-slow-pcm-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const FORMAT = { encoding: "s16le", rate: 44_100, channels: 2 } as const;
const SECONDS = 5;
const samples = rampS16(FORMAT.rate * SECONDS);
const wav = join(dir, "five.wav");
writeWav(wav, FORMAT, samples);
const BYTES_PER_SECOND = FORMAT.rate * 4;

/** An asoundrc whose PCM `slow` is a file PCM piping into `reader`. */
function asoundrc(reader: string): Record<string, string> {
  const path = join(dir, `asoundrc-${Math.random().toString(36).slice(2)}`);
  writeFileSync(path, `</usr/share/alsa/alsa.conf>\npcm.slow {\n  type file\n  slave.pcm "null"\n  file ${JSON.stringify(`|${reader}`)}\n  format "raw"\n}\n`);
  return { ALSA_CONFIG_PATH: path };
}

async function playBeside(reader: string) {
  const rx = await udpReceiver();
  const child = startPacer(["play", wav, "--to", "alsa:slow", "--to", `udp://127.0.0.1:${rx.port}`], { env: asoundrc(reader) });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  await Bun.sleep(100);
  await rx.settled();
  rx.close();
  return { code, stderr, packets: rx.packets };
}

describe.skipIf(libasoundUnavailable() !== null)("a slow or stuck ALSA PCM holds back only itself", () => {
  for (const [name, reader] of [
    // (The readers' stdout and stderr go elsewhere: they would otherwise hold pacer's stderr open.)
    ["stuck (never reads)", "exec sleep 15 >/dev/null 2>&1"],
    // 0.4 of the stream's rate: 70,560 bytes a second, in eighths, until the pipe closes. Even
    // with no time lost between reads, 10 s of that and a full pipe (64 KiB) are less than the
    // 882,000 bytes of the stream, so it cannot finish by its cut-off, 5 s after the end. (At half
    // the rate it could, on a fast host, by a few per cent, and once did: exit 0.)
    ["slow (reads at 0.4 of the rate)", "sh -c 'while [ $(dd bs=8820 count=1 iflag=fullblock status=none | wc -c) -gt 0 ]; do sleep 0.125; done' >/dev/null 2>&1"],
  ] as const) {
    test(`${name}: the UDP output gets every byte on schedule; play exits 1 naming what alsa: lost`, async () => {
      const { code, stderr, packets } = await playBeside(reader);
      const got = Buffer.concat(packets.map((p) => p.data));
      expect(got.equals(Buffer.from(samples))).toBe(true);
      // On schedule: the 5 s went out over about 5 s, not stretched by the ALSA output.
      const spanS = (packets.at(-1)!.atUs - packets[0]!.atUs) / 1e6;
      expect(spanS).toBeGreaterThan(SECONDS - 0.3);
      expect(spanS).toBeLessThan(SECONDS + 0.5);
      expect(code).toBe(1);
      const lines = stderr.trim().split("\n");
      expect(lines.filter((l) => l.includes("udp://"))).toEqual([]);
      const loss = lines.find((l) => l.startsWith("pacer: error: alsa:slow: lost "));
      // It falls more than 2 s behind and skips ahead, or is cut off 5 s after the end, or both.
      expect(loss, stderr).toMatch(/^pacer: error: alsa:slow: lost [\d.]+ s of 5\.0 s \(.*(skipped ahead|cut off 5 s after the end of the stream).*\)$/);
      expect(lines.length, stderr).toBeLessThanOrEqual(3);
    }, 40_000);
  }
});
