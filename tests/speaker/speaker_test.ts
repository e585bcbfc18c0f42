/**
 * The speaker in-process, on the real scheduler and a real `cmd:` output: at s16 with a fixed
 * dither seed the output is still exactly the tracks converted one by one (48 kHz/24-bit is
 * resampled and dithered); hooks run with the track's id, name and status and never hold
 * playback up, even when one sleeps or fails; status follows the queue through to release.
 */
import "../../backends/all.ts";
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createConverter } from "../../convert/converter.ts";
import { createLogger } from "../../foundation/log.ts";
import { parseSampleFormat } from "../../protocol/sample_format.ts";
import { Scheduler } from "../../scheduler/scheduler.ts";
import { Speaker } from "../../speaker/speaker.ts";
import type { SpeakerOptions } from "../../speaker/speaker_options.ts";
import { type TestTrack, wavTrack } from "../e2e/speaker_fixture.ts";

const OUT = parseSampleFormat("s16le:44100:2");
const SEED = 1234;
let dir = "";
let speaker: Speaker | null = null;

afterEach(async () => {
  await speaker?.stop();
  speaker = null;
  rmSync(dir, { recursive: true, force: true });
});

function newSpeaker(more: (dir: string) => Partial<SpeakerOptions> = () => ({})): Speaker {
  dir = mkdtempSync(join(tmpdir(), "pacer-speaker-"));
  const extra = more(dir);
  const options: SpeakerOptions = {
    outputs: [`cmd:cat > ${dir}/out.raw`],
    format: OUT,
    bufferSeconds: 1,
    idleCloseS: 0.2,
    idle: "nothing",
    decoders: new Map(),
    ditherSeed: SEED,
    ...extra,
  };
  return (speaker = new Speaker(options, { scheduler: new Scheduler(), log: createLogger({ level: "error" }) }));
}

async function until(what: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!what()) {
    if (Date.now() > deadline) throw new Error(`timed out; status ${JSON.stringify(speaker?.status())}`);
    await Bun.sleep(20);
  }
}

describe("Speaker", () => {
  test("at s16 with a fixed dither seed, the output is the tracks converted one by one, exactly", async () => {
    const s = newSpeaker();
    const tracks: TestTrack[] = [
      wavTrack(dir, "a.wav", "s16le:44100:2", 0.4, 440),
      wavTrack(dir, "b.wav", "s24le:48000:2", 0.5, 550),
      wavTrack(dir, "c.wav", "u8:8000:1", 0.3, 330),
    ];
    for (const t of tracks) s.enqueue({ path: join(dir, t.name), name: t.name, id: t.name });
    await until(() => s.status().output === "released" && s.status().finished.length === 3);
    const parts: Buffer[] = [];
    for (const t of tracks) {
      const converter = await createConverter(t.format, OUT, { seed: SEED });
      parts.push(Buffer.from(converter.convert(t.samples)), Buffer.from(converter.flush()));
    }
    expect(readFileSync(join(dir, "out.raw")).equals(Buffer.concat(parts))).toBe(true);
    expect(s.status().finished.map((t) => `${t.id} ${t.status}`)).toEqual(["c.wav played", "b.wav played", "a.wav played"]);
  }, 20_000);

  test("a track cancelled while it plays is cut on a frame boundary: the next one starts on one, whole, however the outputs' reads fell", async () => {
    // Appended to: each cycle's session opens the command again.
    const s = newSpeaker((d) => ({ outputs: [`cmd:cat >> ${d}/out.raw`] }));
    // Each cycle: a long track, cancelled part-way, then a short one that must follow it whole.
    for (const [cycle, afterMs] of [[0, 230], [1, 410], [2, 170], [3, 330]] as const) {
      const before = existsSync(join(dir, "out.raw")) ? readFileSync(join(dir, "out.raw")).length : 0;
      const long = wavTrack(dir, `long${cycle}.wav`, "s16le:44100:2", 1.5, 440);
      const short = wavTrack(dir, `short${cycle}.wav`, "s16le:44100:2", 0.2, 660 + cycle);
      s.enqueue({ path: join(dir, long.name), name: long.name, id: `long${cycle}` });
      s.enqueue({ path: join(dir, short.name), name: short.name, id: `short${cycle}` });
      await until(() => s.status().playing?.id === `long${cycle}`);
      await Bun.sleep(afterMs);
      s.cancel(`long${cycle}`);
      await until(() => s.status().output === "released" && s.status().finished.some((t) => t.id === `short${cycle}`));
      const out = readFileSync(join(dir, "out.raw")).subarray(before);
      const cut = out.length - short.samples.length;
      // Before: about half the cuts fell inside a frame, and the next track played 1 to 3 bytes off (noise).
      expect(cut % 4).toBe(0);
      expect(out.subarray(0, cut).equals(Buffer.from(long.samples).subarray(0, cut))).toBe(true);
      expect(out.subarray(cut).equals(Buffer.from(short.samples))).toBe(true);
    }
  }, 40_000);

  test("a track cancelled while paused ends at once: finished as cancelled, its id free again, nothing playing", async () => {
    const s = newSpeaker();
    const a = wavTrack(dir, "a.wav", "s16le:44100:2", 2, 440);
    s.enqueue({ path: join(dir, a.name), name: a.name, id: "b1" });
    await until(() => s.status().playing?.id === "b1");
    s.pause();
    expect(s.cancel("b1")).toEqual({ id: "b1", was: "playing" });
    // Before: it was nowhere (not playing, not finished) and its id still taken, until resume.
    expect(s.status().finished.map((t) => `${t.id} ${t.status}`)).toEqual(["b1 cancelled"]);
    expect(s.status().playing).toBeNull();
    expect(() => s.cancel("b1")).toThrow(/no track "b1"/);
    expect(s.enqueue({ path: join(dir, a.name), name: a.name, id: "b1" }).id).toBe("b1");
    s.resume();
    await until(() => s.status().finished.length === 2);
    expect(s.status().finished.map((t) => `${t.id} ${t.status}`)).toEqual(["b1 played", "b1 cancelled"]);
  }, 20_000);

  test("a track cancelled while it plays frees its id at once, while what the outputs read ahead of it plays out", async () => {
    const s = newSpeaker();
    const a = wavTrack(dir, "a.wav", "s16le:44100:2", 2, 440);
    s.enqueue({ path: join(dir, a.name), name: a.name, id: "c1" });
    await until(() => s.status().playing?.id === "c1" && s.status().playing!.position > 0.2);
    expect(s.cancel("c1")).toEqual({ id: "c1", was: "playing" });
    // Before: "track id "c1" is already in the queue" until its last 50 ms had played: a script's
    // `cancel c1` then `queue … --id c1` was refused.
    expect(s.enqueue({ path: join(dir, a.name), name: a.name, id: "c1" })).toEqual({ id: "c1", position: 0 });
    expect(() => s.enqueue({ path: join(dir, a.name), name: a.name, id: "c1" })).toThrow(/already in the queue/);
    await until(() => s.status().finished.length === 1);
    expect(s.status().finished.map((t) => `${t.id} ${t.status}`)).toEqual(["c1 cancelled"]);
    expect(s.status().playing?.id).toBe("c1");
    expect(s.cancel("c1")).toEqual({ id: "c1", was: "playing" });
  }, 20_000);

  test("hooks get the track's id, name and status, and a slow or failing hook holds nothing up", async () => {
    const s = newSpeaker((dir) => ({
      onStart: `echo "start $PACER_TRACK_ID $PACER_TRACK_PATH $PACER_TRACK_STATUS" >> ${dir}/hooks.log; sleep 3`,
      onFinish: `echo "finish $PACER_TRACK_ID $PACER_TRACK_PATH $PACER_TRACK_STATUS" >> ${dir}/hooks.log; exit 7`,
    }));
    wavTrack(dir, "a.wav", "s16le:44100:2", 0.3, 440);
    wavTrack(dir, "b.wav", "s16le:44100:2", 0.3, 550);
    const started = Date.now();
    s.enqueue({ path: join(dir, "a.wav"), name: "a.wav", id: "one" });
    s.enqueue({ path: join(dir, "missing.wav"), name: "missing.wav", id: "two" });
    s.enqueue({ path: join(dir, "b.wav"), name: "b.wav", id: "three" });
    await until(() => s.status().finished.length === 3);
    // 0.6 s of audio: the hooks' sleep 3 held nothing up.
    expect(Date.now() - started).toBeLessThan(2_500);
    await until(() => existsSync(join(dir, "hooks.log")) && readFileSync(join(dir, "hooks.log"), "utf8").trim().split("\n").length === 5);
    const lines = readFileSync(join(dir, "hooks.log"), "utf8").trim().split("\n").sort();
    expect(lines).toEqual([
      "finish one a.wav played",
      "finish three b.wav played",
      "finish two missing.wav failed",
      "start one a.wav playing",
      "start three b.wav playing",
    ]);
    expect(s.status().finished[1]).toEqual({ id: "two", path: "missing.wav", status: "failed", error: "missing.wav: no such file" });
  }, 20_000);

  test("a short track's on_finish runs after its on_start, even when that one is slow to write", async () => {
    const s = newSpeaker((dir) => ({
      onStart: `sleep 0.3; echo "start $PACER_TRACK_ID" >> ${dir}/order.log`,
      onFinish: `echo "finish $PACER_TRACK_ID" >> ${dir}/order.log`,
    }));
    for (const id of ["s1", "s2", "s3"]) {
      wavTrack(dir, `${id}.wav`, "s16le:44100:2", 100 / 44_100, 440);
      s.enqueue({ path: join(dir, `${id}.wav`), name: `${id}.wav`, id });
    }
    const log = () => (existsSync(join(dir, "order.log")) ? readFileSync(join(dir, "order.log"), "utf8").trim().split("\n") : []);
    await until(() => log().length === 6);
    // Before: each finish line came before its start line.
    for (const id of ["s1", "s2", "s3"]) expect(log().indexOf(`start ${id}`)).toBeLessThan(log().indexOf(`finish ${id}`));
  }, 20_000);

  test("queue --first and --after place tracks; status shows the queue, pause and release", async () => {
    const s = newSpeaker(() => ({ idleCloseS: 0.1 }));
    for (const name of ["a", "b", "c", "d"]) wavTrack(dir, `${name}.wav`, "s16le:44100:2", name === "a" ? 1 : 0.1, 440);
    expect(s.enqueue({ path: join(dir, "a.wav"), name: "a.wav", id: "a" })).toEqual({ id: "a", position: 0 });
    await until(() => s.status().playing?.id === "a");
    expect(s.enqueue({ path: join(dir, "b.wav"), name: "b.wav", id: "b" })).toEqual({ id: "b", position: 0 });
    expect(s.enqueue({ path: join(dir, "c.wav"), name: "c.wav", id: "c", first: true })).toEqual({ id: "c", position: 0 });
    expect(s.enqueue({ path: join(dir, "d.wav"), name: "d.wav", id: "d", after: "c" })).toEqual({ id: "d", position: 1 });
    expect(() => s.enqueue({ path: join(dir, "d.wav"), name: "d.wav", after: "zz" })).toThrow(/no track "zz"/);
    expect(s.enqueue({ path: join(dir, "d.wav"), name: "d.wav", id: "e" }).id).toBe("e");
    expect(s.queued().map((t) => t.id)).toEqual(["c", "d", "b", "e"]);
    s.pause();
    expect(s.status().state).toBe("paused");
    s.resume();
    await until(() => s.status().state === "released" && s.status().finished.length === 5);
    expect(s.status().finished.map((t) => t.id).reverse()).toEqual(["a", "c", "d", "b", "e"]);
  }, 20_000);

  test("a track queued first while the next is already in the outputs' buffer is told its real place", async () => {
    const s = newSpeaker(() => ({ idleCloseS: 0.1 }));
    for (const name of ["a", "b", "c", "d"]) wavTrack(dir, `${name}.wav`, "s16le:44100:2", name === "a" ? 0.6 : 0.1, 440);
    s.enqueue({ path: join(dir, "a.wav"), name: "a.wav", id: "a" });
    s.enqueue({ path: join(dir, "b.wav"), name: "b.wav", id: "b" });
    // b has left the queue for the outputs' buffer behind a, and has not begun.
    await until(() => s.status().playing?.id === "a" && s.queued()[0]?.id === "b" && (s as unknown as { queue: unknown[] }).queue.length === 0, 10_000);
    expect(s.enqueue({ path: join(dir, "c.wav"), name: "c.wav", id: "c", first: true })).toEqual({ id: "c", position: 1 });
    expect(s.enqueue({ path: join(dir, "d.wav"), name: "d.wav", id: "d", after: "a" })).toEqual({ id: "d", position: 1 });
    expect(s.queued().map((t) => t.id)).toEqual(["b", "d", "c"]);
    await until(() => s.status().state === "released" && s.status().finished.length === 4);
    expect(s.status().finished.map((t) => t.id).reverse()).toEqual(["a", "b", "d", "c"]);
  }, 20_000);
});
