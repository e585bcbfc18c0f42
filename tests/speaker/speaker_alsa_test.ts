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
import { TEST_PCM, TEST_PCM_BY_FORMAT, type TestAsoundrc, writeTestAsoundrc } from "../helpers/asoundrc.ts";
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

/** A speaker on the one-file-per-format PCM that follows each track's format, and its info log. */
function followingSpeaker() {
  const lines: string[] = [];
  const speaker = new Speaker(
    { outputs: [`alsa:${TEST_PCM_BY_FORMAT}`], follow: true, format: OUT, bufferSeconds: 1, idleCloseS: 0.3, idle: "nothing", decoders: new Map() },
    { scheduler: new Scheduler(), log: createLogger({ level: "info", write: (line) => lines.push(line) }) },
  );
  return { speaker, lines };
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

  test("follow=1: each track plays in its own format, unconverted; the device is reopened only where the format changes", async () => {
    const a = wavTrack(rc.dir, "f-a.wav", "s16le:44100:2", 0.5, 440);
    const b = wavTrack(rc.dir, "f-b.wav", "s24le:48000:2", 0.4, 550);
    const c = wavTrack(rc.dir, "f-c.wav", "s24le:48000:2", 0.3, 660);
    const { speaker, lines } = followingSpeaker();
    try {
      for (const t of [a, b, c]) speaker.enqueue({ path: join(rc.dir, t.name), name: t.name, id: t.name });
      await until(() => speaker.status().finished.length === 3 && speaker.status().output === "released");
      expect(speaker.status().finished.map((t) => [t.id, t.status])).toEqual([
        ["f-c.wav", "played"],
        ["f-b.wav", "played"],
        ["f-a.wav", "played"],
      ]);
      // Bit-perfect: each format's file holds its tracks' own samples, and b runs straight into c.
      expect(readFileSync(join(rc.dir, "out-S16_LE-44100-2.raw")).equals(Buffer.from(a.samples))).toBe(true);
      expect(readFileSync(join(rc.dir, "out-S24_3LE-48000-2.raw")).equals(Buffer.concat([b.samples, c.samples]))).toBe(true);
      // One change of format, said once; the first track opened the device in its own format directly.
      expect(lines.filter((l) => l.includes("closing the outputs to reopen them"))).toHaveLength(1);
      expect(lines.filter((l) => l.includes("speaker: outputs open"))).toHaveLength(2);
    } finally {
      await speaker.stop();
    }
  }, 20_000);

  test("follow=1: a pause while a change of format is pending holds it, and nothing is lost either side", async () => {
    const a = wavTrack(rc.dir, "g-a.wav", "s16le:44100:2", 0.4, 440);
    const b = wavTrack(rc.dir, "g-b.wav", "s16le:48000:1", 0.3, 550);
    const { speaker, lines } = followingSpeaker();
    try {
      speaker.enqueue({ path: join(rc.dir, a.name), name: a.name, id: "a" });
      speaker.enqueue({ path: join(rc.dir, b.name), name: b.name, id: "b" });
      await until(() => (speaker.status().playing?.position ?? 0) > 0.1);
      speaker.pause();
      await Bun.sleep(600); // longer than the rest of a: unpaused, the change would have happened
      expect(speaker.status()).toMatchObject({ state: "paused", output: "open" });
      expect(speaker.status().playing?.id).toBe("a");
      expect(lines.filter((l) => l.includes("closing the outputs to reopen them"))).toEqual([]);
      speaker.resume();
      await until(() => speaker.status().finished.length === 2 && speaker.status().output === "released");
      expect(readFileSync(join(rc.dir, "out-S16_LE-44100-2.raw")).equals(Buffer.from(a.samples))).toBe(true);
      expect(readFileSync(join(rc.dir, "out-S16_LE-48000-1.raw")).equals(Buffer.from(b.samples))).toBe(true);
      // a is in the configured format: only b's change reopened the device.
      expect(lines.filter((l) => l.includes("opening the outputs in"))).toHaveLength(1);
    } finally {
      await speaker.stop();
    }
  }, 20_000);
});
