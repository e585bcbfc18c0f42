/**
 * The speaker's outputs misbehaving, through a real `pacer serve` and real commands: a `cmd:`
 * whose stderr floods leaves the server answering and the audio whole, with its log bounded; one
 * that leaves something running that holds its stderr is still released when idle, and opened
 * again for the next track.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseSampleFormat } from "../../protocol/sample_format.ts";
import { endSpeakerServe, expectedOutput, type SpeakerServe, startSpeakerServe, type TestTrack, wavTrack } from "./speaker_fixture.ts";

const OUT = parseSampleFormat("f32le:44100:2");
let serve: SpeakerServe | null = null;

afterEach(async () => {
  await endSpeakerServe(serve);
  serve = null;
});

const speakerLines = (output: string) => [`output = ${JSON.stringify(output)}`, `format = "f32le:44100:2"`, "idle_close = 0.3", "buffer_seconds = 2"];

describe("speaker: outputs that misbehave", () => {
  test("a cmd: output flooding its stderr: the server answers at once, the track plays whole, and 20 lines a second are logged", async () => {
    // Before, each line was logged: some 60,000 a second, and status went unanswered for seconds.
    let track: TestTrack;
    serve = await startSpeakerServe(
      (dir) => speakerLines(`cmd:{ yes flood | head -n 1000000 >&2 & } ; exec cat > ${dir}/out.raw`),
      [],
      (media) => (track = wavTrack(media, "a.wav", "s16le:44100:2", 1, 440)),
    );
    expect((await serve.request("queue", { path: "a.wav", id: "a" })).ok).toBe(true);
    let slowest = 0;
    for (let i = 0; i < 10; i++) {
      const sent = performance.now();
      expect((await serve.request("status")).ok).toBe(true);
      slowest = Math.max(slowest, performance.now() - sent);
      await Bun.sleep(50);
    }
    expect(slowest).toBeLessThan(500);
    const speaker = await serve.waitSpeaker((s) => s.output === "released" && s.finished.length === 1);
    expect(speaker.finished[0].status).toBe("played");
    expect(readFileSync(join(serve.dir, "out.raw")).equals(await expectedOutput([track!], OUT))).toBe(true);
    const logged = serve.stderr().split("\n");
    expect(logged.filter((l) => l.includes("[cmd] flood")).length).toBeLessThanOrEqual(40);
    const dropped = logged.filter((l) => /\[cmd\] … \d+ bytes of its stderr not logged \(more than 20 lines a second\)/.test(l));
    expect(dropped.length).toBeGreaterThan(0);
  }, 60_000);

  test("a cmd: output whose command leaves a process holding its stderr: released when idle all the same, the leftover ended, and the next track plays", async () => {
    // Before, the output waited for its stderr to close: the speaker stayed "open" for good and
    // a track queued after played never.
    let tracks: TestTrack[] = [];
    serve = await startSpeakerServe(
      (dir) => speakerLines(`cmd:sleep 600 >&2 & exec cat > ${dir}/out.raw`),
      [],
      (media) => (tracks = [wavTrack(media, "a.wav", "s16le:44100:2", 0.5, 440), wavTrack(media, "b.wav", "s16le:44100:2", 0.4, 550)]),
    );
    const leftovers = () => Bun.spawnSync(["pgrep", "-f", "^sleep 600$"]).stdout.toString().trim().split("\n").filter(Boolean);
    const before = leftovers();
    expect((await serve.request("queue", { path: "a.wav", id: "a" })).ok).toBe(true);
    await serve.waitSpeaker((s) => s.finished.length === 1 && s.output === "released", 6_000);
    expect(readFileSync(join(serve.dir, "out.raw")).equals(await expectedOutput([tracks[0]!], OUT))).toBe(true);
    expect((await serve.request("queue", { path: "b.wav", id: "b" })).ok).toBe(true);
    const speaker = await serve.waitSpeaker((s) => s.finished.length === 2 && s.output === "released", 6_000);
    expect(speaker.finished.map((t: { id: string; status: string }) => `${t.id} ${t.status}`)).toEqual(["b played", "a played"]);
    expect(readFileSync(join(serve.dir, "out.raw")).equals(await expectedOutput([tracks[1]!], OUT))).toBe(true);
    expect(leftovers().filter((pid) => !before.includes(pid))).toEqual([]);
    expect(serve.stderr()).toContain("but what it started still holds its stderr; ending that (SIGKILL to its process group)");
  }, 30_000);
});
