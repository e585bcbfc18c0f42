/**
 * ALSA through real libasound, on a machine without a sound card: the test
 * asoundrc's `file` PCM records exactly what pacer wrote and plays back a
 * known file for capture.
 *
 * The checks run in this process: the helper setenv()s ALSA_CONFIG_PATH in the
 * C environment before each open (Bun's process.env does not reach getenv(),
 * and libasound re-reads its config whenever that path changes), which is
 * simpler and faster than a subprocess per case. One case also spawns a child
 * with `rc.env`, the way end-to-end tests will run pacer.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import {
  AlsaBusyError,
  AlsaFormatError,
  AlsaNoDeviceError,
  AlsaPcm,
  alsaErrorFor,
  listPcms,
} from "../../backends/alsa/pcm.ts";
import { EBUSY, libasoundUnavailable, SND_PCM_STATE_PAUSED, SND_PCM_STATE_PREPARED, SND_PCM_STATE_RUNNING } from "../../backends/alsa/libasound.ts";
import { bytesPerFrame, ENCODINGS, type Encoding, type SampleFormat } from "../../protocol/sample_format.ts";
import { TEST_PCM, TEST_PCM_DESCRIPTION, TEST_PCM_S16_ONLY, TEST_PCM_STEREO_ONLY, writeTestAsoundrc, type TestAsoundrc } from "../helpers/asoundrc.ts";

const CAPTURE_FORMAT: SampleFormat = { encoding: "s16le", rate: 48000, channels: 2 };
const TONE_SECONDS = 0.25;

/** A 997 Hz sine at half scale, the right channel a quarter-cycle ahead, encoded as `f` says. */
function tone(f: SampleFormat, seconds: number): Uint8Array {
  const frames = Math.round(f.rate * seconds);
  const out = new Uint8Array(frames * bytesPerFrame(f));
  const view = new DataView(out.buffer);
  let at = 0;
  for (let i = 0; i < frames; i++) {
    for (let ch = 0; ch < f.channels; ch++) {
      const x = 0.5 * Math.sin(2 * Math.PI * 997 * (i / f.rate) + (ch * Math.PI) / 2);
      at = encodeSample(view, at, f.encoding, x);
    }
  }
  return out;
}

function encodeSample(view: DataView, at: number, encoding: Encoding, x: number): number {
  switch (encoding) {
    case "s8":
      view.setInt8(at, Math.round(x * 127));
      return at + 1;
    case "u8":
      view.setUint8(at, 128 + Math.round(x * 127));
      return at + 1;
    case "s16le":
    case "s16be":
      view.setInt16(at, Math.round(x * 32767), encoding === "s16le");
      return at + 2;
    case "s24le": {
      const v = Math.round(x * 8388607) & 0xffffff;
      view.setUint8(at, v & 0xff);
      view.setUint8(at + 1, (v >> 8) & 0xff);
      view.setUint8(at + 2, v >> 16);
      return at + 3;
    }
    case "s24be": {
      const v = Math.round(x * 8388607) & 0xffffff;
      view.setUint8(at, v >> 16);
      view.setUint8(at + 1, (v >> 8) & 0xff);
      view.setUint8(at + 2, v & 0xff);
      return at + 3;
    }
    case "s32le":
      view.setInt32(at, Math.round(x * 2147483647), true);
      return at + 4;
    case "f32le":
      view.setFloat32(at, x, true);
      return at + 4;
  }
}

/** Writes all of `bytes`, polling availFrames like a backend would on its timer. */
async function playAll(pcm: AlsaPcm, bytes: Uint8Array): Promise<void> {
  const total = bytes.byteLength / pcm.bytesPerFrame;
  let done = 0;
  while (done < total) {
    const avail = pcm.availFrames();
    const written = pcm.write(bytes.subarray(done * pcm.bytesPerFrame), total - done);
    expect(written).toBeLessThanOrEqual(avail);
    done += written;
    if (written === 0) await Bun.sleep((pcm.periodFrames * 1000) / pcm.actualRate);
  }
}

const skip = libasoundUnavailable() !== null;
let rc: TestAsoundrc;
let captureSource: Uint8Array;

beforeAll(() => {
  captureSource = tone(CAPTURE_FORMAT, TONE_SECONDS);
  rc = writeTestAsoundrc({ inFile: captureSource });
});
beforeEach(() => rc.useInThisProcess());
afterAll(() => rc.cleanup());

describe.skipIf(skip)("alsa: PCM through libasound", () => {
  for (const encoding of ENCODINGS) {
    for (const rate of [44100, 48000]) {
      test(`plays a ${encoding} tone at ${rate} Hz and the file PCM records the same bytes`, async () => {
        const format: SampleFormat = { encoding, rate, channels: 2 };
        const bytes = tone(format, TONE_SECONDS);
        const pcm = AlsaPcm.open(TEST_PCM, { stream: "playback", format });
        expect(pcm.actualRate).toBe(rate);
        expect(pcm.format).toEqual(format);
        // The defaults ask for ~100 ms of buffer in ~20 ms periods.
        expect(pcm.bufferFrames).toBe(Math.round(rate / 10));
        expect(pcm.periodFrames).toBe(Math.round(rate / 50));
        await playAll(pcm, bytes);
        await pcm.close();
        expect(pcm.underruns).toBe(0);
        expect(Buffer.from(readFileSync(rc.outFile)).equals(Buffer.from(bytes))).toBe(true);
      });
    }
  }

  test("close plays out a tail shorter than the start threshold", async () => {
    const format: SampleFormat = { encoding: "s16le", rate: 44100, channels: 1 };
    const bytes = tone(format, 0.001); // 44 frames, well under one 882-frame period
    const pcm = AlsaPcm.open(TEST_PCM, { stream: "playback", format });
    expect(pcm.write(bytes, 44)).toBe(44);
    expect(pcm.state()).toBe(SND_PCM_STATE_PREPARED); // not started yet
    await pcm.close();
    expect(Buffer.from(readFileSync(rc.outFile)).equals(Buffer.from(bytes))).toBe(true);
  });

  test("pause holds a running device (snd_pcm_pause) past its buffer's length; resumed, every frame is written once", async () => {
    const format: SampleFormat = { encoding: "s16le", rate: 44100, channels: 2 };
    const bytes = tone(format, 0.6);
    const half = bytes.byteLength / 2 - ((bytes.byteLength / 2) % bytesPerFrame(format));
    const pcm = AlsaPcm.open(TEST_PCM, { stream: "playback", format });
    await playAll(pcm, bytes.subarray(0, half));
    expect(pcm.state()).toBe(SND_PCM_STATE_RUNNING);
    expect(pcm.pause(true)).toBe("paused");
    expect(pcm.state()).toBe(SND_PCM_STATE_PAUSED);
    expect(pcm.pause(true)).toBe(null); // already held
    await Bun.sleep(300); // three times the 100 ms buffer
    expect(pcm.pause(false)).toBe("paused");
    expect(pcm.state()).toBe(SND_PCM_STATE_RUNNING);
    await playAll(pcm, bytes.subarray(half));
    await pcm.close();
    expect(pcm.underruns).toBe(0);
    expect(Buffer.from(readFileSync(rc.outFile)).equals(Buffer.from(bytes))).toBe(true);
    // A stream that is not running needs no pause.
    const idle = AlsaPcm.open(TEST_PCM, { stream: "playback", format });
    expect(idle.pause(true)).toBe(null);
    await idle.close({ drain: false });
  });

  test("write takes whole frames, never more than are available, and refuses a short buffer", async () => {
    const format: SampleFormat = { encoding: "s24le", rate: 48000, channels: 2 };
    const pcm = AlsaPcm.open(TEST_PCM, { stream: "playback", format, bufferUs: 50_000, periodUs: 10_000 });
    expect(pcm.bufferFrames).toBe(2400);
    const bytes = tone(format, 1);
    const avail = pcm.availFrames();
    expect(pcm.write(bytes, 48000)).toBe(avail);
    expect(() => pcm.write(bytes.subarray(0, 11), 2)).toThrow(RangeError); // 2 frames need 12 bytes
    expect(() => pcm.write(bytes, 1.5)).toThrow(RangeError);
    await pcm.close({ drain: false });
    await pcm.close(); // a second close is harmless
    expect(() => pcm.write(bytes, 1)).toThrow(/closed/);
  });

  test("captures the file PCM's infile, byte for byte", async () => {
    const pcm = AlsaPcm.open(TEST_PCM, { stream: "capture", format: CAPTURE_FORMAT });
    expect(pcm.actualRate).toBe(CAPTURE_FORMAT.rate);
    const got = new Uint8Array(captureSource.byteLength);
    const total = got.byteLength / pcm.bytesPerFrame;
    let frames = 0;
    for (let polls = 0; frames < total && polls < 1000; polls++) {
      const n = pcm.read(got.subarray(frames * pcm.bytesPerFrame));
      frames += n;
      if (n === 0) await Bun.sleep(5);
    }
    await pcm.close();
    expect(frames).toBe(total);
    expect(pcm.overruns).toBe(0);
    expect(Buffer.from(got).equals(Buffer.from(captureSource))).toBe(true);
  });

  test("an unknown PCM name throws AlsaNoDeviceError naming it", () => {
    const open = () => AlsaPcm.open("pacer_no_such_pcm", { stream: "playback", format: CAPTURE_FORMAT });
    expect(open).toThrow(AlsaNoDeviceError);
    expect(open).toThrow(/alsa:pacer_no_such_pcm: no such PCM/);
  });

  test("a card number that is not there (EINVAL from libasound) is AlsaNoDeviceError saying so, not a bare Invalid argument", () => {
    for (const name of ["hw:99,0", "plughw:42"]) {
      const open = () => AlsaPcm.open(name, { stream: "playback", format: CAPTURE_FORMAT });
      expect(open).toThrow(AlsaNoDeviceError);
      expect(open).toThrow(`alsa:${name}: cannot open it for playback (Invalid argument): no such card or device, arguments the PCM does not take`);
    }
  });

  test("a device that refuses the encoding throws AlsaFormatError naming both", () => {
    const format: SampleFormat = { encoding: "f32le", rate: 48000, channels: 2 };
    const open = () => AlsaPcm.open(TEST_PCM_S16_ONLY, { stream: "playback", format });
    expect(open).toThrow(AlsaFormatError);
    expect(open).toThrow(/alsa:pacer_s16_only does not accept sample encoding f32le \(FLOAT_LE\)/);
    // Without `nearest` (capture: --format is what gets recorded) the refusal says what would do.
    expect(open).toThrow(/\(FLOAT_LE\) \(Invalid argument\); it takes s8, u8, s16le, s16be, s24le, s24be, s32le$/);
    expect(() => AlsaPcm.open(TEST_PCM_STEREO_ONLY, { stream: "playback", format: { ...format, encoding: "s16le", channels: 1 } })).toThrow(
      /^alsa:pacer_stereo_only does not accept 1 channel \(Invalid argument\); it takes 2 channels$/,
    );
  });

  test("EBUSY is classified as the retryable AlsaBusyError", () => {
    // No PCM on a card-less machine can be made busy (file and null are not
    // exclusive), so this checks the classification only.
    const err = alsaErrorFor("hw:0,0", EBUSY, "opening it for playback");
    expect(err).toBeInstanceOf(AlsaBusyError);
    expect(err.message).toBe(
      "alsa:hw:0,0 is busy (Device or resource busy) while opening it for playback: another program holds it; retry later",
    );
  });

  test("listPcms shows the test PCM with its hint description", () => {
    const pcms = listPcms();
    expect(pcms).toContainEqual({ name: TEST_PCM, description: TEST_PCM_DESCRIPTION, io: "both" });
    expect(pcms.map((p) => p.name)).toContain("null");
  });

  test("a child process given rc.env sees the same configuration", async () => {
    const script = `import { listPcms } from ${JSON.stringify(new URL("../../backends/alsa/pcm.ts", import.meta.url).pathname)};
console.log(listPcms().map((p) => p.name).join("\\n"));`;
    const child = Bun.spawn([process.execPath, "-e", script], { env: rc.env, stdout: "pipe", stderr: "pipe" });
    const out = await new Response(child.stdout).text();
    expect(await child.exited).toBe(0);
    expect(out.split("\n")).toContain(TEST_PCM);
  });
});
