/**
 * `pacer record` of an input that is itself a WAV (a file, `arecord -t wav` on stdin, `pacer
 * acquire`'s PCM stream) into a `.wav`: the input's header is read off and its format taken.
 * Before, it was "the sample format is not known; give --format" (exit 1), and with --format the
 * header went into the recording as samples: a click, and after ffmpeg's 78-byte header every
 * stereo frame split in two (channels swapped). Real `pacer record` and `pacer acquire`
 * subprocesses, TCP on 127.0.0.1, real files.
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseWavHeader } from "../../protocol/wav.ts";
import { rampS16, wavWithMetadata } from "../helpers/audio.ts";
import { runPacer, startPacer } from "../helpers/pacer.ts";
import { connectWhenListening, freeTcpPort } from "../helpers/ports.ts";

let dir: string;
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), "pacer-record-wav-input-"))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A WAV as ffmpeg writes one, s16le:48000:2 with a LIST chunk before the data: a 78-byte header (not a whole frame). */
const ffmpegStyleWav = (samples: Uint8Array) => wavWithMetadata(26, samples, 48_000);

/** The recording's format and samples, as its own header says. */
function recorded(path: string): { format: string; samples: Buffer } {
  const file = readFileSync(path);
  const header = parseWavHeader(file, path, file.length);
  if (header.status !== "ok") throw new Error(`${path}: no whole WAV header`);
  const { encoding, rate, channels } = header.format;
  return { format: `${encoding}:${rate}:${channels}`, samples: file.subarray(header.dataOffset, header.dataOffset + header.dataBytes!) };
}

test("a WAV on stdin is recorded as the samples its header says, with no --format, and ffmpeg's 78-byte header is not among them", async () => {
  const samples = rampS16(48_000);
  const out = join(dir, "x.wav");
  const r = await runPacer(["record", "-", "--out", out], { stdin: ffmpegStyleWav(samples) });
  expect(r.stderr).toBe(`pacer: recorded 1 file, ${samples.length} bytes, ${r.stderr.match(/bytes, (\S+ s),/)?.[1]}, gaps 0 (lost packets 0, stalls 0), cc errors 0\n`);
  expect(r.code).toBe(0);
  const file = recorded(out);
  expect(file.format).toBe("s16le:48000:2");
  expect(file.samples.equals(samples)).toBe(true);
});

test("a WAV file given a --format its header contradicts: one warning, recorded as its header says", async () => {
  const samples = rampS16(4_800);
  const input = join(dir, "in.wav");
  writeFileSync(input, ffmpegStyleWav(samples));
  const out = join(dir, "x.wav");
  const r = await runPacer(["record", input, "--out", out, "--format", "s16le:44100:2"]);
  expect(r.stderr).toStartWith(`pacer: warn: ${input}: its WAV header says s16le:48000:2, not s16le:44100:2; recorded as its header says\npacer: recorded 1 file, ${samples.length} bytes`);
  expect(r.code).toBe(0);
  const file = recorded(out);
  expect(file.format).toBe("s16le:48000:2");
  expect(file.samples.equals(samples)).toBe(true);
});

test("a WAV header that arrives over TCP in pieces is waited for, then read off", async () => {
  const port = freeTcpPort();
  const out = join(dir, "x.wav");
  const child = startPacer(["record", `tcp://:${port}`, "--out", out, "--duration", "20"]);
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  child.stdin.end();
  const exit = new Promise<number | null>((resolve) => child.on("close", resolve));
  const samples = rampS16(4_800);
  const wav = ffmpegStyleWav(samples);
  const socket = await connectWhenListening(port);
  // The RIFF id alone, then the rest of the header and the first half frame, then the rest.
  for (const [from, to] of [[0, 3], [3, 80], [80, wav.length]] as const) {
    await new Promise<void>((resolve) => socket.write(wav.subarray(from, to), () => resolve()));
    await Bun.sleep(300);
  }
  socket.end();
  expect(await exit).toBe(0);
  expect(stderr).toStartWith(`pacer: recorded 1 file, ${samples.length} bytes`);
  expect(recorded(out).samples.equals(samples)).toBe(true);
});

test("pacer acquire to pacer record tcp://:PORT: the recording holds acquire's samples, not its stream header", async () => {
  const port = freeTcpPort();
  const samples = rampS16(9_600);
  const input = join(dir, "in.wav");
  writeFileSync(input, ffmpegStyleWav(samples));
  const out = join(dir, "x.wav");
  const recording = runPacer(["record", `tcp://:${port}`, "--out", out, "--duration", "20"]);
  await Bun.sleep(300); // acquire tries again until the recorder listens
  const acquired = await runPacer(["acquire", input, "--to", `tcp://127.0.0.1:${port}`]);
  expect(acquired.code).toBe(0);
  const r = await recording;
  expect(r.stderr).toStartWith(`pacer: recorded 1 file, ${samples.length} bytes`);
  expect(r.code).toBe(0);
  const file = recorded(out);
  expect(file.format).toBe("s16le:48000:2");
  expect(file.samples.equals(samples)).toBe(true);
}, 20_000);

test("an input that ends inside its WAV header is one line and exit 1, with no file", async () => {
  const out = join(dir, "x.wav");
  const r = await runPacer(["record", "-", "--out", out], { stdin: ffmpegStyleWav(rampS16(10)).subarray(0, 30) });
  expect(r.stderr).toBe("pacer: error: stdin: the input ended inside its WAV header\n");
  expect(r.code).toBe(1);
  expect(() => readFileSync(out)).toThrow();
});

test("--duration ending the recording while the header is still arriving says so: one line, exit 1, no file", async () => {
  const out = join(dir, "x.wav");
  const child = startPacer(["record", "-", "--out", out, "--duration", "1"]);
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const exit = new Promise<number | null>((resolve) => child.on("close", resolve));
  child.stdin.write(ffmpegStyleWav(rampS16(10)).subarray(0, 30)); // and nothing more, stdin left open
  expect(await exit).toBe(1);
  child.stdin.destroy();
  expect(stderr).toBe("pacer: error: stdin: stopped while its WAV header was still arriving\n");
  expect(() => readFileSync(out)).toThrow();
});
