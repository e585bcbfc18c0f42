/**
 * A decoder slower than real time, through a real `pacer serve` writing to `cmd:cat`: the output
 * waits for the track's audio (a silence heard), and that is said, once per stall, naming the
 * track and how long, and counted as the track's `starved_s`. Before, the gap passed in silence:
 * no log line, and status said the track played like any other.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseSampleFormat } from "../../protocol/sample_format.ts";
import { runPacer } from "../helpers/pacer.ts";
import { endSpeakerServe, expectedOutput, type SpeakerServe, startSpeakerServe, type TestTrack, testSignal, wavTrack } from "./speaker_fixture.ts";

const OUT = parseSampleFormat("s16le:44100:2");
let serve: SpeakerServe | null = null;

afterEach(async () => {
  await endSpeakerServe(serve);
  serve = null;
});

describe("speaker: a decoder slower than real time", () => {
  test("a stall is one warning naming the track and the wait, and the track's starved_s; the audio is whole", async () => {
    let tracks: TestTrack[] = [];
    // 0.2 s of audio, then nothing for 1 s, then the other 0.2 s.
    const slow = `slow = { command = "head -c 35280 {path}; sleep 1; tail -c 35280 {path}", format = "s16le:44100:2" }`;
    serve = await startSpeakerServe((dir) => [`output = "cmd:cat > ${dir}/out.raw"`, "idle_close = 0.3"], [slow], (media) => {
      const a = wavTrack(media, "a.wav", "s16le:44100:2", 0.3, 440);
      const samples = testSignal(OUT, 0.4, 300);
      writeFileSync(join(media, "x.slow"), samples, { mode: 0o644 });
      const b = wavTrack(media, "b.wav", "s16le:44100:2", 0.3, 660);
      tracks = [a, { name: "x.slow", format: OUT, samples }, b];
    });
    for (const t of tracks) expect((await serve.request("queue", { path: t.name, id: t.name })).ok).toBe(true);
    const speaker = await serve.waitSpeaker((s) => s.finished.length === 3 && s.output === "released");
    const byId = (id: string) => speaker.finished.find((t: { id: string }) => t.id === id);
    expect(speaker.finished.map((t: { status: string }) => t.status)).toEqual(["played", "played", "played"]);
    // The 1 s wait, less the 0.2 s it had given (and a.wav's 0.3 s while it decoded ahead).
    expect(byId("x.slow").starved_s).toBeGreaterThan(0.3);
    expect(byId("x.slow").starved_s).toBeLessThan(1.1);
    // The WAVs load far faster than they play (a machine loaded enough could starve them too, but not for long).
    expect(byId("a.wav").starved_s ?? 0).toBeLessThan(0.1);
    expect(byId("b.wav").starved_s ?? 0).toBeLessThan(0.1);
    const warned = serve.stderr().split("\n").filter((l) => l.includes("waited") && l.includes("track=x.slow"));
    expect(warned).toEqual([expect.stringMatching(/warn: speaker: the output waited \d\.\d s for this track's audio: its decoder or its file gives it slower than real time part=speaker track=x\.slow media=x\.slow/)]);
    // Nothing was lost or added: the stall is a pause in the stream, not silence written into it.
    expect(readFileSync(join(serve.dir, "out.raw")).equals(await expectedOutput(tracks, OUT))).toBe(true);
    const printed = await runPacer(["ctl", "--server", serve.address, "status"]);
    expect(printed.stdout).toContain(`  played x.slow\tx.slow\twaited ${byId("x.slow").starved_s.toFixed(1)} s for its audio`);
  }, 15_000);

  test('with idle = "silence", the silence that fills the stall is a stall too', async () => {
    // After the first track, 0.2 s of audio, then nothing for 1 s, then 0.2 s more.
    const slow = `slow = { command = "head -c 35280 /dev/zero; sleep 1; head -c 35280 /dev/zero # {path}", format = "s16le:44100:2" }`;
    serve = await startSpeakerServe((dir) => [`output = "cmd:cat > ${dir}/out.raw"`, `idle = "silence"`], [slow], (media) => {
      wavTrack(media, "a.wav", "s16le:44100:2", 0.3, 440);
      writeFileSync(join(media, "w.slow"), "", { mode: 0o644 });
    });
    for (const name of ["a.wav", "w.slow"]) expect((await serve.request("queue", { path: name, id: name })).ok).toBe(true);
    const speaker = await serve.waitSpeaker((s) => s.finished.length === 2);
    // Before, silence kept the stream going, so the output never waited: no word, no starved_s.
    expect(speaker.finished[0].starved_s).toBeGreaterThan(0.3);
    const warned = serve.stderr().split("\n").filter((l) => l.includes("waited") && l.includes("track=w.slow"));
    expect(warned).toEqual([expect.stringMatching(/the output waited \d\.\d s for this track's audio: .* track=w\.slow /)]);
  }, 15_000);

  test("with two outputs, the one ahead starving is a stall, while one behind still has audio", async () => {
    // 1.5 s of audio at once, then nothing until 2.5 s (a 1 s stall once it has played), then 0.3 s more.
    const slow = `slow = { command = "head -c 264600 /dev/zero; sleep 2.5; head -c 52920 /dev/zero # {path}", format = "s16le:44100:2" }`;
    // The second output takes the stream at a third of its rate for 3 s (past its pipe's 64 KB): some
    // 0.6 s behind when the first waits. Then all it can, so the server stops at once.
    const behind = `cmd:i=0; while [ $i -lt 30 ]; do head -c 5880 > /dev/null; sleep 0.1; i=$((i+1)); done; cat > /dev/null`;
    serve = await startSpeakerServe((dir) => [`output = ["cmd:cat > ${dir}/out.raw", "${behind}"]`, "idle_close = 0.3"], [slow], (media) => {
      writeFileSync(join(media, "z.slow"), "", { mode: 0o644 });
    });
    expect((await serve.request("queue", { path: "z.slow", id: "z" })).ok).toBe(true);
    const speaker = await serve.waitSpeaker((s) => s.finished.length === 1);
    // The first output waited the whole 1 s, less a tick or two. Before, the stall was seen only
    // once the output behind (the playhead) had caught up too: never, here.
    expect(speaker.finished[0].starved_s).toBeGreaterThan(0.8);
    const warned = serve.stderr().split("\n").filter((l) => l.includes("waited"));
    expect(warned).toEqual([expect.stringMatching(/the output waited (0\.9|1\.\d) s for this track's audio: .* track=z /)]);
  }, 15_000);

  test("a decoder steadily slower than real time (a wait per block) is one warning for the stall, not one a block", async () => {
    // 0.1 s of audio every 0.2 s, eight times.
    const slow = `slow = { command = "for i in 1 2 3 4 5 6 7 8; do head -c 17640 /dev/zero; sleep 0.2; done # {path}", format = "s16le:44100:2" }`;
    serve = await startSpeakerServe((dir) => [`output = "cmd:cat > ${dir}/out.raw"`, "idle_close = 0.3"], [slow], (media) => {
      writeFileSync(join(media, "y.slow"), "", { mode: 0o644 });
    });
    expect((await serve.request("queue", { path: "y.slow", id: "y" })).ok).toBe(true);
    const speaker = await serve.waitSpeaker((s) => s.finished.length === 1 && s.output === "released");
    expect(speaker.finished[0].status).toBe("played");
    // About half of its 1.6 s was waited for.
    expect(speaker.finished[0].starved_s).toBeGreaterThan(0.4);
    const warned = serve.stderr().split("\n").filter((l) => l.includes("waited"));
    expect(warned).toEqual([expect.stringMatching(/warn: speaker: the output waited \d\.\d s for this track's audio \(\d+ waits less than 1 s apart\): .* track=y /)]);
  }, 15_000);
});
