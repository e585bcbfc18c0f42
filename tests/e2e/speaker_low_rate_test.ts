/**
 * A WAV at a very low rate (a few Hz: legal, and tiny on disk) queued behind a playing track,
 * through a real `pacer serve` writing to `cmd:cat`. Each 4096-frame block it reads upsamples to
 * 11,025 times as many frames: converted in one go, a 16 KB file held the server's only thread
 * for 7 s (1 Hz: 26 s and 2 GB) while the track before it played, so that track lost its end and
 * the control socket went unanswered. Converted a slice at a time, the server answers throughout.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createConverter } from "../../convert/converter.ts";
import { parseSampleFormat } from "../../protocol/sample_format.ts";
import { writeWav } from "../helpers/audio.ts";
import { endSpeakerServe, expectedOutput, type SpeakerServe, startSpeakerServe, type TestTrack, wavTrack } from "./speaker_fixture.ts";

// f32, so no dither enters and the comparison is byte for byte.
const OUT = parseSampleFormat("f32le:44100:2");
const FRAME = 8;
const SLOW = parseSampleFormat("s16le:4:1");
/** Two blocks of 4 Hz mono: 2048 s long, 16 KB on disk. */
const SLOW_SAMPLES = new Uint8Array(2 * 8192).map((_, i) => (i * 37) % 251);
let serve: SpeakerServe | null = null;

afterEach(async () => {
  await endSpeakerServe(serve);
  serve = null;
});

describe("speaker: a track at a very low rate", () => {
  test("loading it while another plays holds nothing up: the server answers, the track before plays whole, and the slow one plays from its start", async () => {
    let a: TestTrack;
    serve = await startSpeakerServe(
      (dir) => [`output = "cmd:cat > ${dir}/out.raw"`, `format = "f32le:44100:2"`, "idle_close = 0.3", "buffer_seconds = 1"],
      [],
      (media) => {
        a = wavTrack(media, "a.wav", "s16le:44100:2", 1.5, 440);
        writeWav(join(media, "slow.wav"), SLOW, SLOW_SAMPLES);
      },
    );
    for (const name of ["a.wav", "slow.wav"]) expect((await serve.request("queue", { path: name, id: name })).ok).toBe(true);
    // Status asked for all along, while a.wav plays and slow.wav loads behind it.
    let longest = 0;
    let last = Date.now();
    for (;;) {
      const speaker = (await serve.request("status")).result.speaker;
      const now = Date.now();
      longest = Math.max(longest, now - last);
      last = now;
      if (speaker.playing?.id === "slow.wav" && speaker.playing.position >= 0.5) break;
      await Bun.sleep(50);
    }
    // Before: about 7 s without an answer.
    expect(longest).toBeLessThan(1000);
    expect((await serve.request("cancel", { id: "slow.wav" })).ok).toBe(true);
    const speaker = await serve.waitSpeaker((s) => s.output === "released" && s.finished.length === 2);
    const played = speaker.finished.find((t: { id: string }) => t.id === "a.wav");
    expect(played).toEqual({ id: "a.wav", path: "a.wav", status: "played" });
    const got = readFileSync(join(serve.dir, "out.raw"));
    const head = await expectedOutput([a!], OUT);
    expect(got.subarray(0, head.length).equals(head)).toBe(true);
    // Then the slow track from its start, as its first frames convert on their own (a slice at a
    // time is the same stream: the resampler carries its state from one to the next).
    const slow = got.subarray(head.length);
    expect(slow.length).toBeGreaterThan(0.4 * 44100 * FRAME);
    const converter = await createConverter(SLOW, OUT);
    const want = Buffer.from(converter.convert(SLOW_SAMPLES.subarray(0, 64 * 2)));
    const common = Math.min(slow.length, want.length);
    expect(common).toBeGreaterThan(0.4 * 44100 * FRAME);
    expect(slow.subarray(0, common).equals(want.subarray(0, common))).toBe(true);
  }, 60_000);
});
