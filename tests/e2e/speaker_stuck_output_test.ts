/**
 * A speaker whose output stops taking the stream, through a real `pacer serve` and a real
 * command that never reads its stdin (the first time it runs; the next time it writes a file):
 * left alone, the stuck output is ended after 5 s, the track at it fails with that reason and the
 * next plays whole through a new command; a cancel ends it within a second or two.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseSampleFormat } from "../../protocol/sample_format.ts";
import { endSpeakerServe, expectedOutput, type SpeakerServe, startSpeakerServe, type TestTrack, wavTrack } from "./speaker_fixture.ts";

const OUT = parseSampleFormat("s16le:44100:2");
let serve: SpeakerServe | null = null;

afterEach(async () => {
  await endSpeakerServe(serve);
  serve = null;
});

/** Stuck the first time (a `sleep` that never reads, marked so the test can find it); the next time, writes out.raw. */
function stuckOnce(dir: string, sleepS: number): string[] {
  const command = `if [ -e ${dir}/once ]; then exec cat > ${dir}/out.raw; else touch ${dir}/once; exec sleep ${sleepS}; fi`;
  return [`output = ${JSON.stringify(`cmd:${command}`)}`, `format = "s16le:44100:2"`, "idle_close = 0.3", "buffer_seconds = 2"];
}

const sleepers = (sleepS: number) => Bun.spawnSync(["pgrep", "-x", "-f", `sleep ${sleepS}`]).stdout.toString().trim().split("\n").filter(Boolean);

async function startStuck(sleepS: number, aSeconds: number): Promise<TestTrack[]> {
  let tracks: TestTrack[] = [];
  serve = await startSpeakerServe(
    (dir) => stuckOnce(dir, sleepS),
    [],
    (media) => (tracks = [wavTrack(media, "a.wav", "s16le:44100:2", aSeconds, 440), wavTrack(media, "b.wav", "s16le:44100:2", 0.6, 550)]),
  );
  return tracks;
}

describe("speaker: an output that takes nothing", () => {
  test("left alone: ended after 5 s as a failed output, the track at it failed with the reason, and the next track, handed over already, plays whole through a new command", async () => {
    // Before, the position froze at 0.34 s and the speaker stayed "playing" for good: b never played.
    // a stops 0.37 s in (the pipe's 64 KiB), 30 ms before its end: b is in the outputs' buffer
    // behind it already, and must go back to the queue, not fail with the output.
    const tracks = await startStuck(1001, 0.4);
    const s = serve!;
    expect((await s.request("queue", { path: "a.wav", id: "a" })).ok).toBe(true);
    expect((await s.request("queue", { path: "b.wav", id: "b" })).ok).toBe(true);
    const frozen = await s.waitSpeaker((sp) => sp.playing?.id === "a" && sp.playing.position > 0.2);
    expect(frozen.playing.position).toBeLessThan(0.4);
    const sent = Date.now();
    const failed = await s.waitSpeaker((sp) => sp.finished.length >= 1, 12_000);
    expect(Date.now() - sent).toBeGreaterThan(4_000);
    expect(failed.finished[0]).toMatchObject({ id: "a", status: "failed" });
    // The error names the output (the summary cuts it to 120 characters); the log has it whole, once.
    expect(failed.finished[0].error).toStartWith("output failed: cmd:if [ -e ");
    const done = await s.waitSpeaker((sp) => sp.finished.length === 2 && sp.output === "released", 10_000);
    expect(done.finished.map((t: { id: string; status: string }) => `${t.id} ${t.status}`)).toEqual(["b played", "a failed"]);
    expect(readFileSync(join(s.dir, "out.raw")).equals(await expectedOutput([tracks[1]!], OUT))).toBe(true);
    expect(sleepers(1001)).toEqual([]);
    const logged = s.stderr().split("\n").filter((l) => l.includes("speaker: output failed"));
    expect(logged.length).toBe(1);
    expect(logged[0]).toMatch(/took nothing for 5\.\d s while playing; ended it\)/);
  }, 40_000);

  test("cancel and clear on a stuck output: it is ended within about 2 s, the tracks are cancelled, and what is queued next plays", async () => {
    const tracks = await startStuck(1002, 2.5);
    const s = serve!;
    for (const id of ["a", "b"]) expect((await s.request("queue", { path: `${id}.wav`, id })).ok).toBe(true);
    await s.waitSpeaker((sp) => sp.playing?.id === "a" && sp.playing.position > 0.2);
    await Bun.sleep(500);
    expect((await s.request("clear")).result).toEqual({ cleared: 1 });
    const sent = Date.now();
    expect((await s.request("cancel", { id: "a" })).result).toEqual({ id: "a", was: "playing" });
    const released = await s.waitSpeaker((sp) => sp.output === "released" && sp.finished.length === 2, 10_000);
    expect(Date.now() - sent).toBeLessThan(3_500);
    expect(released.state).toBe("released");
    expect(released.finished.map((t: { id: string; status: string }) => `${t.id} ${t.status}`)).toEqual(["a cancelled", "b cancelled"]);
    expect(sleepers(1002)).toEqual([]);
    expect((await s.request("queue", { path: "b.wav", id: "b2" })).ok).toBe(true);
    await s.waitSpeaker((sp) => sp.finished.length === 3 && sp.output === "released", 10_000);
    expect(existsSync(join(s.dir, "out.raw"))).toBe(true);
    expect(readFileSync(join(s.dir, "out.raw")).equals(await expectedOutput([tracks[1]!], OUT))).toBe(true);
  }, 40_000);
});
