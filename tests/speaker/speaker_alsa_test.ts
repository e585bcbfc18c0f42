/**
 * The speaker on ALSA, through the test `file` PCM (tests/helpers/asoundrc.ts), which truncates
 * its file at each open: a paused and resumed track still writes every frame once; after
 * idle_close the device is released (status says so), and the next track opens it again, so the
 * file then holds exactly that track.
 */
import "../../backends/all.ts";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { libasoundUnavailable } from "../../backends/alsa/libasound.ts";
import { createLogger } from "../../foundation/log.ts";
import { parseSampleFormat } from "../../protocol/sample_format.ts";
import { Scheduler } from "../../scheduler/scheduler.ts";
import { Speaker } from "../../speaker/speaker.ts";
import { TEST_PCM, type TestAsoundrc, writeTestAsoundrc } from "../helpers/asoundrc.ts";
import { expectedOutput, wavTrack } from "../e2e/speaker_fixture.ts";

const OUT = parseSampleFormat("s16le:44100:2");
const skip = libasoundUnavailable() !== null;
let rc: TestAsoundrc;

beforeAll(() => {
  if (skip) return;
  rc = writeTestAsoundrc();
  rc.useInThisProcess();
});
afterAll(() => rc?.cleanup());

async function until(what: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!what()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await Bun.sleep(20);
  }
}

describe.skipIf(skip)("speaker on ALSA", () => {
  test("pause and resume write every frame once; idle_close releases the device and the next track reopens it", async () => {
    const a = wavTrack(rc.dir, "a.wav", "s16le:44100:2", 1.0, 440);
    const b = wavTrack(rc.dir, "b.wav", "s16le:44100:2", 0.4, 660);
    const warnings: string[] = [];
    const speaker = new Speaker(
      { outputs: [`alsa:${TEST_PCM}`], format: OUT, bufferSeconds: 1, idleCloseS: 0.3, idle: "nothing", decoders: new Map() },
      { scheduler: new Scheduler(), log: createLogger({ level: "warn", write: (line) => warnings.push(line) }) },
    );
    try {
      speaker.enqueue({ path: join(rc.dir, "a.wav"), name: "a.wav", id: "a" });
      await until(() => (speaker.status().playing?.position ?? 0) > 0.3);
      speaker.pause();
      await Bun.sleep(50);
      const during = speaker.status().playing!.position;
      await Bun.sleep(300);
      expect(speaker.status().playing!.position).toBe(during);
      expect(speaker.status().state).toBe("paused");
      speaker.resume();
      await until(() => speaker.status().output === "released");
      expect(speaker.status().finished[0]).toEqual({ id: "a", path: "a.wav", status: "played" });
      expect(readFileSync(rc.outFile).equals(await expectedOutput([a], OUT))).toBe(true);
      // The PCM itself was paused (snd_pcm_pause): the 300 ms wait ran it into no underrun.
      expect(warnings.filter((w) => w.includes("underrun"))).toEqual([]);

      speaker.enqueue({ path: join(rc.dir, "b.wav"), name: "b.wav", id: "b" });
      await until(() => speaker.status().output === "open");
      await until(() => speaker.status().output === "released");
      // Opened again (the file PCM truncates at open): the file holds exactly the second track.
      expect(readFileSync(rc.outFile).equals(await expectedOutput([b], OUT))).toBe(true);
    } finally {
      await speaker.stop();
    }
  }, 20_000);
});
