/**
 * Gapless, end to end (issue 11): a real `pacer serve` with a speaker writing to `cmd:cat > out.raw`,
 * three tracks of different rates and depths queued with `pacer ctl` — a 44.1 kHz 16-bit WAV, a
 * 48 kHz 24-bit WAV and a 32 kHz mono FLAC through the configured `flac` decoder. The file must be
 * exactly the three tracks converted one by one and concatenated: the resampled track's delay is
 * accounted for by converting it as the speaker does (the resampler is zero-delay and its flush
 * gives exactly ⌈frames × 44100 / 48000⌉ frames), so the comparison is byte for byte. The output is
 * f32le so no dither enters; the same holds for s16 with a fixed seed (tests/speaker/).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseSampleFormat } from "../../protocol/sample_format.ts";
import { havePeer, runPacer } from "../helpers/pacer.ts";
import { expectedOutput, FLAC_DECODER, flacTrack, type SpeakerServe, startSpeakerServe, type TestTrack, wavTrack } from "./speaker_fixture.ts";

const OUT = parseSampleFormat("f32le:44100:2");
const hasFlac = havePeer("flac");

describe.skipIf(!hasFlac)("speaker: gapless through pacer serve and pacer ctl", () => {
  let serve: SpeakerServe;
  let tracks: TestTrack[];
  let out: string;

  beforeAll(async () => {
    serve = await startSpeakerServe(
      (dir) => [`output = "cmd:cat > ${dir}/out.raw"`, `format = "f32le:44100:2"`, "idle_close = 0.3", "buffer_seconds = 2"],
      [FLAC_DECODER("s16le:32000:1")],
      (media) => {
        tracks = [
          wavTrack(media, "a.wav", "s16le:44100:2", 0.8, 440),
          wavTrack(media, "b.wav", "s24le:48000:2", 0.6, 550),
          flacTrack(media, "c.flac", "s16le:32000:1", 0.5, 330),
        ];
      },
    );
    out = join(serve.dir, "out.raw");
  });
  afterAll(async () => {
    serve.client.close();
    await serve.stop();
    serve.cleanup();
  });

  test("out.raw equals the three tracks converted one by one and concatenated, not a frame more or less", async () => {
    for (const t of tracks) {
      const run = await runPacer(["ctl", "--server", serve.address, "queue", t.name, "--id", t.name]);
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(new RegExp(`^${t.name.replace(".", "\\.")}\\tqueued at \\d`));
    }
    // All three played, then idle_close released the output: cat has exited and out.raw is complete.
    const speaker = await serve.waitSpeaker((s) => s.finished.length === 3 && s.output === "released");
    expect(speaker.finished.map((t: { id: string; status: string }) => `${t.id} ${t.status}`)).toEqual(["c.flac played", "b.wav played", "a.wav played"]);
    expect(existsSync(out)).toBe(true);
    const got = readFileSync(out);
    const want = await expectedOutput(tracks, OUT);
    expect(got.length).toBe(want.length);
    // Where they differ, if anywhere: the frame index tells which boundary went wrong.
    const frame = 8;
    let firstDiff = -1;
    for (let i = 0; i < want.length; i += 4) if (got.readUInt32LE(i) !== want.readUInt32LE(i)) ((firstDiff = i / frame), (i = want.length));
    expect(firstDiff).toBe(-1);
  }, 30_000);
});
