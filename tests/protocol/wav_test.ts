/** Story: pacer reads the WAV files real tools write, and names the problem in the ones it can't play. */
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseWavHeader, wavHeader, WavError } from "../../protocol/wav.ts";
import type { SampleFormat } from "../../protocol/sample_format.ts";
import { havePeer } from "../helpers/pacer.ts";

const dir = mkdtempSync(join(tmpdir(), "pacer-wav-"));

function parse(bytes: Uint8Array, total?: number) {
  const r = parseWavHeader(bytes, "x.wav", total);
  if (r.status !== "ok") throw new Error("need more");
  return r;
}

describe("WAV header", () => {
  const cases: [string, SampleFormat][] = [
    ["u8", { encoding: "u8", rate: 8000, channels: 1 }],
    ["s16le", { encoding: "s16le", rate: 44100, channels: 2 }],
    ["s24le", { encoding: "s24le", rate: 48000, channels: 2 }],
    ["s32le", { encoding: "s32le", rate: 96000, channels: 2 }],
    ["f32le", { encoding: "f32le", rate: 48000, channels: 1 }],
    ["extensible 6ch", { encoding: "s16le", rate: 48000, channels: 6 }],
  ];
  for (const [name, format] of cases) {
    test(`round-trips ${name}`, () => {
      const h = wavHeader(format, 600);
      const r = parse(new Uint8Array([...h, ...new Uint8Array(600)]), h.length + 600);
      expect(r.format).toEqual(format);
      expect(r.dataOffset).toBe(h.length);
      expect(r.dataBytes).toBe(600);
    });
  }

  test("reads ffmpeg's WAVs: 24-bit extensible and float, with extra chunks", () => {
    if (!havePeer("ffmpeg")) return;
    for (const [codec, channels, encoding] of [
      ["pcm_s24le", 6, "s24le"],
      ["pcm_f32le", 2, "f32le"],
    ] as const) {
      const path = join(dir, `${codec}.wav`);
      const r = spawnSync("ffmpeg", ["-loglevel", "error", "-f", "lavfi", "-i", "sine=f=440:d=0.1:r=48000", "-ac", String(channels), "-c:a", codec, "-metadata", "title=x", "-y", path]);
      expect(r.status).toBe(0);
      const bytes = readFileSync(path);
      const parsed = parse(bytes, bytes.length);
      expect(parsed.format).toEqual({ encoding, rate: 48000, channels });
      expect(parsed.dataBytes).toBe(4800 * channels * (encoding === "s24le" ? 3 : 4));
    }
  });

  test("on a stream it asks for more bytes, and leaves an open size open", () => {
    const h = Buffer.from(wavHeader({ encoding: "s16le", rate: 44100, channels: 2 }, 0));
    h.writeUInt32LE(0xffffffff, 40);
    expect(parseWavHeader(h.subarray(0, 20)).status).toBe("need-more");
    expect(parse(h).dataBytes).toBeNull();
  });

  test("bad headers get one line naming the problem", () => {
    const good = Buffer.from(wavHeader({ encoding: "s16le", rate: 44100, channels: 2 }, 400));
    const withData = (b: Buffer) => Buffer.concat([b, Buffer.alloc(400)]);
    const problems: [Buffer, string][] = [
      [Buffer.from("not a wav file at all....."), "not a WAV file"],
      [(() => { const b = Buffer.from(good); b.writeUInt16LE(0x55, 20); return withData(b); })(), "not PCM"],
      [(() => { const b = Buffer.from(good); b.writeUInt16LE(3, 32); return withData(b); })(), "block align"],
      [(() => { const b = Buffer.from(good); b.writeUInt32LE(1, 28); return withData(b); })(), "byte rate"],
      [(() => { const b = Buffer.from(good); b.writeUInt32LE(9_999_999, 40); return withData(b); })(), "data chunk says 9999999 bytes"],
      [good.subarray(0, 30), "truncated"],
    ];
    for (const [bytes, expected] of problems) {
      let message = "";
      try {
        parseWavHeader(bytes, "x.wav", bytes.length);
      } catch (error) {
        expect(error).toBeInstanceOf(WavError);
        message = (error as Error).message;
      }
      expect(message).toContain(expected);
      expect(message).not.toContain("\n");
    }
  });
});
