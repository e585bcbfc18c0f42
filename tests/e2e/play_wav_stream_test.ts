/**
 * WAV through a pipe, as users pipe it (a hostile try):
 *
 * - A WAV on stdin whose header gives its data size ends there, as a WAV file
 *   does. Before, a LIST chunk after the data was played as samples, and so
 *   was a second WAV piped after the first, header and all.
 * - sox writing WAV to a pipe puts 0x7FFFF000 where the data size goes
 *   (it cannot seek back). Saved to a file (`sox … -t wav - | cat > x.wav`),
 *   that was refused as a lying header; on stdin, probe said 12173.920 s.
 *   It now means "to the end", as 0xFFFFFFFF does. sox rounds it down to
 *   whole frames (0x7FFFEFFC for 24-bit stereo): that was still refused, and
 *   on stdin warned of a stream 2 GiB short.
 * - RF64 (EBU Tech 3306), as `ffmpeg -rf64 always` writes it to a pipe: it
 *   was told from its first bytes only as "RIFF", so on stdin, or in a file
 *   not named .wav, it was "not WAV, MPEG-TS or MPEG-PS", and with
 *   `--format` its header was played as samples.
 * - BW64 (ITU-R BS.2088, RF64 by another name) was "not a WAV file" (on stdin
 *   "not WAV, MPEG-TS or MPEG-PS", exit 2), and so was RIFX on stdin, where
 *   a file was named big-endian.
 * - A WAV whose data chunk is no whole number of frames (a file or on stdin)
 *   dropped its last bytes without the warning other PCM input gets; once
 *   that warning came, a play stopped before the file's end gave it too.
 * - A compressed WAV (A-law, MP3 in WAV) was refused by a bare format tag.
 * - arecord writes 0x80000000 where the data size goes when it records
 *   without a duration, GStreamer's wavenc 0x7FFF0000: on stdin that ended
 *   "2 GiB short", probe said 11184.811 s, and a file saved from the pipe
 *   was refused as lying.
 * - GStreamer's wavenc, its sizes so left open, ends the stream with a LIST of
 *   tags: that was played as 3 frames of noise, on stdin and from a file
 *   saved from the pipe.
 *
 * Real subprocesses and real files.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { wavHeader } from "../../protocol/wav.ts";
import { rampS16 } from "../helpers/audio.ts";
import { havePeer, runPacer, startPacer } from "../helpers/pacer.ts";

const dir = mkdtempSync(join(tmpdir(), "pacer-wav-stream-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const CD = { encoding: "s16le", rate: 44_100, channels: 2 } as const;
const samples = rampS16(4410);
const wav = Buffer.concat([wavHeader(CD, samples.length), samples]);

/** A LIST/INFO chunk, as taggers append after the data. */
function listChunk(): Buffer {
  const info = Buffer.concat([Buffer.from("INFOINAM"), Buffer.from([14, 0, 0, 0]), Buffer.from("trailing text\0")]);
  const size = Buffer.alloc(4);
  size.writeUInt32LE(info.length);
  return Buffer.concat([Buffer.from("LIST"), size, info]);
}

/** `wav` as sox writes it to a pipe: both size fields its "unknown" placeholder. */
function soxPipeWav(): Buffer {
  const out = Buffer.from(wav);
  out.writeUInt32LE(0x7ffff000 + 36, 4);
  out.writeUInt32LE(0x7ffff000, 40);
  return out;
}

/**
 * `wav` as `ffmpeg -rf64 always -f wav -` writes it: RF64, a ds64 chunk whose sizes are 0
 * (unknown on a pipe), and the data chunk's size 0xFFFFFFFF, pointing at ds64.
 */
function rf64PipeWav(): Buffer {
  const ds64 = Buffer.alloc(8 + 28);
  ds64.write("ds64", 0);
  ds64.writeUInt32LE(28, 4);
  const riff = Buffer.from(wav.subarray(0, 12));
  riff.write("RF64", 0);
  riff.writeUInt32LE(0xffffffff, 4);
  const rest = Buffer.from(wav.subarray(12));
  rest.writeUInt32LE(0xffffffff, rest.indexOf("data") + 4);
  return Buffer.concat([riff, ds64, rest]);
}

/** `wav` as another writer leaves it on a pipe: `size` in the data size, and the RIFF size to match. */
function placeholderWav(size: number): Buffer {
  const out = Buffer.from(wav);
  out.writeUInt32LE(size, 40);
  out.writeUInt32LE(size + 36, 4);
  return out;
}

/** `rf64PipeWav()` under another 64-bit form's id (BW64), or the first id changed (RIFX). */
function withRiffId(bytes: Buffer, id: string): Buffer {
  const out = Buffer.from(bytes);
  out.write(id, 0);
  return out;
}

/** `wav` with 3 bytes more data than whole frames, as its data size says. */
function partialFrameWav(): Buffer {
  const out = Buffer.concat([wav, Buffer.from([1, 2, 3, 0])]); // the chunk's pad byte after them
  out.writeUInt32LE(samples.length + 3, 40);
  out.writeUInt32LE(out.length - 8, 4);
  return out;
}

async function playStdin(stdin: Uint8Array, name: string): Promise<{ code: number | null; stderr: string; written: Buffer }> {
  const out = join(dir, name);
  const run = await runPacer(["play", "-", "--to", `file:${out}`], { stdin });
  return { code: run.code, stderr: run.stderr, written: readFileSync(out) };
}

/** `bytes` played from stdin and from a file `name`.wav: what each wrote, said and exited with. */
async function playPipedAndSaved(bytes: Buffer, name: string) {
  const piped = await playStdin(bytes, `${name}-stdin.raw`);
  const path = join(dir, `${name}.wav`);
  writeFileSync(path, bytes);
  const out = join(dir, `${name}-file.raw`);
  const run = await runPacer(["play", path, "--to", `file:${out}`]);
  return { path, piped, saved: { code: run.code, stderr: run.stderr, written: readFileSync(out) } };
}

describe("WAV on a pipe", () => {
  test("a chunk after the data is not played", async () => {
    const run = await playStdin(Buffer.concat([wav, listChunk()]), "list.raw");
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.written.equals(samples)).toBe(true);
  });

  test("a second WAV piped after the first is not played as samples", async () => {
    const run = await playStdin(Buffer.concat([wav, wav]), "two.raw");
    expect(run.code).toBe(0);
    expect(run.written.equals(samples)).toBe(true);
  });

  test("sox's unknown-length placeholder: saved to a file it plays, and on stdin its length is unknown", async () => {
    const path = join(dir, "sox-pipe.wav");
    writeFileSync(path, soxPipeWav());
    const out = join(dir, "sox-file.raw");
    const run = await runPacer(["play", path, "--to", `file:${out}`]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(readFileSync(out).equals(samples)).toBe(true);

    const piped = await playStdin(soxPipeWav(), "sox-stdin.raw");
    expect(piped.code).toBe(0);
    expect(piped.written.equals(samples)).toBe(true);
    const probe = await runPacer(["probe", "-"], { stdin: soxPipeWav() });
    expect(probe.stdout).toContain("duration:  unknown");
  });

  test("sox's placeholder rounded to whole frames (24-bit stereo and mono, 16-bit 5.1): the file plays, stdin does not warn", async () => {
    if (!havePeer("sox")) return;
    for (const [bits, channels] of [[24, 2], [24, 1], [16, 6]] as const) {
      const synth = ["-D", "-n", "-r", "8000", "-c", String(channels), "-b", String(bits)];
      const piped = spawnSync("sh", ["-c", `sox ${synth.join(" ")} -t wav - synth 0.1 sine 440 | cat`]).stdout;
      expect(piped.readUInt32LE(piped.indexOf("data") + 4)).toBe(0x7ffff000 - (0x7ffff000 % ((bits / 8) * channels)));
      const raw = spawnSync("sox", [...synth, "-t", "raw", "-", "synth", "0.1", "sine", "440"]).stdout;
      const path = join(dir, `sox-${bits}-${channels}.wav`);
      writeFileSync(path, piped);
      const out = join(dir, `sox-${bits}-${channels}.raw`);
      const run = await runPacer(["play", path, "--to", `file:${out}`]);
      expect({ bits, channels, stderr: run.stderr, code: run.code }).toEqual({ bits, channels, stderr: "", code: 0 });
      expect(readFileSync(out).equals(raw)).toBe(true);
      const streamed = await playStdin(piped, `sox-${bits}-${channels}-stdin.raw`);
      expect({ bits, channels, stderr: streamed.stderr }).toEqual({ bits, channels, stderr: "" });
      expect(streamed.written.equals(raw)).toBe(true);
    }
  });

  test("RF64 as ffmpeg pipes it plays: on stdin, from a file of any name, and with --format it keeps its header's", async () => {
    const rf64 = rf64PipeWav();
    const piped = await playStdin(rf64, "rf64-stdin.raw");
    expect({ stderr: piped.stderr, code: piped.code }).toEqual({ stderr: "", code: 0 });
    expect(piped.written.equals(samples)).toBe(true);

    const path = join(dir, "rf64.bin");
    writeFileSync(path, rf64);
    const out = join(dir, "rf64-file.raw");
    const run = await runPacer(["play", path, "--to", `file:${out}`]);
    expect({ stderr: run.stderr, code: run.code }).toEqual({ stderr: "", code: 0 });
    expect(readFileSync(out).equals(samples)).toBe(true);

    const formatted = await runPacer(["play", path, "--format", "s16le:44100:2", "--to", `file:${out}`]);
    expect(formatted.stderr).toContain("is WAV, s16le:44100:2, by its own header");
    expect(formatted.code).toBe(2);
  });

  test("BW64 plays as RF64 does, on stdin and from a file; RIFX on stdin is named, not taken for unknown data", async () => {
    const { piped, saved } = await playPipedAndSaved(withRiffId(rf64PipeWav(), "BW64"), "bw64");
    for (const run of [piped, saved]) {
      expect({ stderr: run.stderr, code: run.code }).toEqual({ stderr: "", code: 0 });
      expect(run.written.equals(samples)).toBe(true);
    }
    const rifx = await runPacer(["play", "-", "--to", `file:${join(dir, "rifx.raw")}`], { stdin: withRiffId(wav, "RIFX") });
    expect({ stderr: rifx.stderr, code: rifx.code }).toEqual({ stderr: "pacer: error: stdin: big-endian RIFX WAV is not supported\n", code: 1 });
  });

  test("data that is no whole number of frames: the frames play, and the rest is said once, from a file and on stdin", async () => {
    const warning = (label: string) => `pacer: warn: ${label}: ended 3 bytes into a 4-byte frame, which was not played (does the format fit the input?)\n`;
    const { path, piped, saved } = await playPipedAndSaved(partialFrameWav(), "partial");
    expect({ stderr: saved.stderr, code: saved.code }).toEqual({ stderr: warning(path), code: 0 });
    expect({ stderr: piped.stderr, code: piped.code }).toEqual({ stderr: warning("stdin"), code: 0 });
    for (const run of [piped, saved]) expect(run.written.equals(samples)).toBe(true);

    // Followed by another input, the frame is completed with silence instead, and only that is said.
    const out = join(dir, "partial-then.raw");
    const whole = join(dir, "whole.wav");
    writeFileSync(whole, wav);
    const then = await runPacer(["play", "-", whole, "--to", `file:${out}`], { stdin: partialFrameWav() });
    expect({ stderr: then.stderr, code: then.code }).toEqual({
      stderr: "pacer: warn: stdin ended 3 bytes into a 4-byte frame; 1 byte of silence complete it, so the next input plays aligned\n",
      code: 0,
    });
    expect(readFileSync(out).length).toBe(2 * samples.length + 4);
  });

  test("a play stopped before the file's end says nothing of its last partial frame, which it never came to", async () => {
    // 3 s of s16le stereo and 3 bytes more; stopped once a second of it has played.
    const seconds = Buffer.from(wavHeader({ encoding: "s16le", rate: 44100, channels: 2 }, 3 * 44_100 * 4 + 3));
    const path = join(dir, "long-partial.wav");
    writeFileSync(path, Buffer.concat([seconds, Buffer.alloc(3 * 44_100 * 4 + 4)]));
    const out = join(dir, "long-partial.raw");
    const play = startPacer(["play", path, "--to", `file:${out}`]);
    let stderr = "";
    play.stderr.on("data", (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => play.on("close", resolve));
    const deadline = Date.now() + 3_000;
    while (!(existsSync(out) && statSync(out).size >= 44_100 * 4) && Date.now() < deadline) await Bun.sleep(20);
    play.kill("SIGTERM");
    expect(await exited).toBe(143);
    expect(statSync(out).size).toBeLessThan(3 * 44_100 * 4);
    // It said "ended 3 bytes into a 4-byte frame, which was not played" of a file it stopped 2 s short of.
    expect(stderr).toBe("");
  });

  test("a compressed WAV is refused in one line that names its encoding", async () => {
    const alaw = Buffer.from(wavHeader({ encoding: "u8", rate: 8000, channels: 1 }, 800));
    alaw.writeUInt16LE(6, 20); // WAVE_FORMAT_ALAW: 8 bits a sample, as u8's header has
    const path = join(dir, "alaw.wav");
    writeFileSync(path, Buffer.concat([alaw, Buffer.alloc(800, 0xd5)]));
    const run = await runPacer(["play", path, "--to", `file:${join(dir, "alaw.raw")}`]);
    expect({ stderr: run.stderr, code: run.code }).toEqual({
      stderr: `pacer: error: ${path}: not PCM but G.711 A-law (WAV format tag 0x0006), which pacer does not decode; convert it first (ffmpeg -i IN -c:a pcm_s16le OUT.wav)\n`,
      code: 1,
    });
  });

  test("arecord's and GStreamer's placeholders for an unknown length: on stdin no warning and no duration, saved to a file it plays", async () => {
    // What arecord 1.2 and GStreamer's wavenc write to a pipe, where they are here.
    const written = [
      ["arecord", "timeout 2 arecord -q -D null -f S16_LE -r 44100 -c 2 -t wav 2>/dev/null | head -c 44", 0x80000000],
      ["gst-launch-1.0", "gst-launch-1.0 -q audiotestsrc num-buffers=1 ! audio/x-raw,format=S16LE,rate=44100,channels=2 ! wavenc ! fdsink fd=1 2>/dev/null | head -c 44", 0x7fff0000],
    ] as const;
    for (const [tool, line, size] of written) {
      if (!havePeer(tool)) continue;
      const head = spawnSync("sh", ["-c", line]).stdout;
      if (head.length === 44) expect({ tool, size: head.readUInt32LE(40) }).toEqual({ tool, size });
    }
    for (const size of [0x80000000, 0x7fffffff, 0x7fff0000]) {
      const { piped, saved } = await playPipedAndSaved(placeholderWav(size), `placeholder-${size}`);
      for (const run of [piped, saved]) {
        expect({ size, stderr: run.stderr, code: run.code }).toEqual({ size, stderr: "", code: 0 });
        expect(run.written.equals(samples)).toBe(true);
      }
    }
    const probe = await runPacer(["probe", "-"], { stdin: placeholderWav(0x7fff0000) });
    expect(probe.stdout).toContain("duration:  unknown");
  });

  test("GStreamer's wavenc on a pipe: the LIST of tags it ends the stream with is not played, on stdin or saved to a file", async () => {
    // Its header's sizes are 0x7FFF0000 ("to the end"), and at the end of stream it writes "LIST", 4, "INFO".
    if (havePeer("gst-launch-1.0")) {
      const line = "gst-launch-1.0 -q audiotestsrc num-buffers=5 ! audio/x-raw,format=S16LE,rate=44100,channels=2 ! wavenc ! fdsink fd=1 2>/dev/null | cat";
      const piped = spawnSync("sh", ["-c", line]).stdout;
      expect(piped.subarray(-12).toString("latin1")).toBe("LIST\x04\x00\x00\x00INFO");
      const run = await playStdin(piped, "gst.raw");
      expect({ stderr: run.stderr, code: run.code }).toEqual({ stderr: "", code: 0 });
      expect(run.written.equals(piped.subarray(44, -12))).toBe(true);
    }
    const { piped, saved } = await playPipedAndSaved(Buffer.concat([placeholderWav(0x7fff0000), listChunk()]), "placeholder-list");
    for (const run of [piped, saved]) {
      expect({ stderr: run.stderr, code: run.code }).toEqual({ stderr: "", code: 0 });
      expect(run.written.equals(samples)).toBe(true);
    }
  });
});
