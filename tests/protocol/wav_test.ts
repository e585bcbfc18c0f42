/** Story: pacer reads the WAV files real tools write, and names the problem in the ones it can't play. */
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isRiffHead, parseWavHeader, riffIdIn, wavHeader, WavError, wavRecordingHeader } from "../../protocol/wav.ts";
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

  test("WAVE_FORMAT_EXTENSIBLE with fewer valid bits than its containers plays at the container's width", () => {
    for (const [bits, validBits, encoding] of [[24, 20, "s24le"], [16, 12, "s16le"], [32, 20, "s32le"], [32, 24, "s32le"], [24, 24, "s24le"]] as const) {
      const h = Buffer.from(wavHeader({ encoding, rate: 48000, channels: 3 }, 0)); // 3 channels: extensible
      expect(h.readUInt16LE(20)).toBe(0xfffe);
      expect(h.readUInt16LE(34)).toBe(bits);
      h.writeUInt16LE(validBits, 38);
      expect(parse(h).format).toEqual({ encoding, rate: 48000, channels: 3 });
    }
    const lying = Buffer.from(wavHeader({ encoding: "s16le", rate: 48000, channels: 3 }, 0));
    lying.writeUInt16LE(24, 38);
    expect(() => parse(lying)).toThrow("x.wav: lying header: 24 valid bits in 16-bit containers");
  });

  test("on a stream it asks for more bytes, and leaves an open size open", () => {
    const h = Buffer.from(wavHeader({ encoding: "s16le", rate: 44100, channels: 2 }, 0));
    h.writeUInt32LE(0xffffffff, 40);
    expect(parseWavHeader(h.subarray(0, 20)).status).toBe("need-more");
    expect(parse(h).dataBytes).toBeNull();
  });

  test("an odd-sized chunk without its pad byte (a writer's slip) is read past; bytes that are no chunk id are named", () => {
    const h = Buffer.from(wavHeader({ encoding: "s16le", rate: 44100, channels: 2 }, 400));
    const odd = Buffer.concat([Buffer.from("junk"), Buffer.from([3, 0, 0, 0]), Buffer.from("abc")]); // no pad byte
    const unpadded = Buffer.concat([h.subarray(0, 36), odd, h.subarray(36), Buffer.alloc(400)]);
    expect(parse(unpadded, unpadded.length)).toMatchObject({ dataOffset: 36 + odd.length + 8, dataBytes: 400 });
    // A data size whose low byte is printable (0x40, "@") reads as an id where the pad was due: "ata@".
    const h2 = Buffer.from(wavHeader({ encoding: "s16le", rate: 44100, channels: 2 }, 0x2b140));
    const printableSize = Buffer.concat([h2.subarray(0, 36), odd, h2.subarray(36), Buffer.alloc(0x2b140)]);
    expect(parse(printableSize, printableSize.length)).toMatchObject({ dataOffset: 36 + odd.length + 8, dataBytes: 0x2b140 });
    // A pad byte that is there, though not zero, is still a pad byte before a known chunk.
    const oddPadded = Buffer.concat([odd, Buffer.from("x")]);
    const padded = Buffer.concat([h2.subarray(0, 36), oddPadded, h2.subarray(36), Buffer.alloc(0x2b140)]);
    expect(parse(padded, padded.length)).toMatchObject({ dataOffset: 36 + oddPadded.length + 8, dataBytes: 0x2b140 });
    const garbage = Buffer.concat([h.subarray(0, 36), Buffer.from([1, 2, 3, 4, 0xf0, 0xff, 0xff, 0x7f]), h.subarray(36), Buffer.alloc(400)]);
    expect(() => parse(garbage, garbage.length)).toThrow('x.wav: damaged header: no chunk begins at byte 36 (its id would be "????", its size 2147483632 bytes)');
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

describe("RF64 (EBU Tech 3306), as pacer record writes past 4 GiB", () => {
  const STUDIO: SampleFormat = { encoding: "s24le", rate: 48_000, channels: 2 };
  const FIVE_GIB = 5 * 2 ** 30 - ((5 * 2 ** 30) % 6);

  test("the data size comes from ds64, and a file that holds it all reads whole", () => {
    const header = wavRecordingHeader(STUDIO, FIVE_GIB);
    expect(String.fromCharCode(...header.subarray(0, 4))).toBe("RF64");
    const result = parseWavHeader(header, "day.wav", header.length + FIVE_GIB);
    expect(result).toEqual({ status: "ok", format: STUDIO, dataOffset: header.length, dataBytes: FIVE_GIB, partialFrameBytes: 0, dataToEnd: false });
    // Streaming (size unknown): still the ds64 size.
    expect(parseWavHeader(header, "day.wav")).toMatchObject({ dataBytes: FIVE_GIB });
  });

  test("BW64 (ITU-R BS.2088) is RF64 by another name: its size from ds64 too", () => {
    const header = wavRecordingHeader(STUDIO, FIVE_GIB);
    header.set([0x42, 0x57, 0x36, 0x34], 0); // "BW64"
    expect(parseWavHeader(header, "day.wav", header.length + FIVE_GIB)).toMatchObject({ format: STUDIO, dataBytes: FIVE_GIB });
  });

  test("RF64 cut short, or without its ds64, is refused in one line", () => {
    const header = wavRecordingHeader(STUDIO, FIVE_GIB);
    expect(() => parseWavHeader(header, "cut.wav", header.length + 1000)).toThrow(/cut.wav: truncated or lying header/);
    const noDs64 = header.slice();
    noDs64.set([0x4a, 0x55, 0x4e, 0x4b], 12); // "JUNK" where ds64 was
    expect(() => parseWavHeader(noDs64, "bad.wav")).toThrow("bad.wav: RF64 without a ds64 chunk before its data");
  });

  test("pacer probe and ffprobe agree on a sparse 5 GiB RF64 file's duration", async () => {
    if (!havePeer("ffprobe")) return;
    const dir = mkdtempSync(join(tmpdir(), "pacer-rf64-"));
    const path = join(dir, "day.wav");
    const header = wavRecordingHeader(STUDIO, FIVE_GIB);
    const { openSync, writeSync, ftruncateSync, closeSync, rmSync } = await import("node:fs");
    const fd = openSync(path, "w");
    writeSync(fd, header);
    ftruncateSync(fd, header.length + FIVE_GIB); // sparse: no 5 GiB written
    closeSync(fd);
    try {
      const ours = spawnSync(process.execPath, [join(import.meta.dir, "..", "..", "main.ts"), "probe", path], { encoding: "utf8" });
      expect(ours.status).toBe(0);
      const seconds = FIVE_GIB / 6 / 48_000;
      const probed = Number(ours.stdout.match(/duration:\s+([\d.]+) s/)![1]);
      expect(Math.abs(probed - seconds)).toBeLessThan(0.01);
      const ffprobe = spawnSync("ffprobe", ["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path], { encoding: "utf8" });
      const theirs = Number(ffprobe.stdout.trim());
      expect(Math.abs(theirs - seconds)).toBeLessThan(0.01);
      console.log(`RF64: probe says ${probed} s, ffprobe ${theirs.toFixed(3)} s, expected ${seconds.toFixed(3)} s`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the RIFF id that makes an input a WAV", () => {
  const bytes = (text: string) => new TextEncoder().encode(text);
  test("RIFF, RF64 and BW64 are WAV, and RIFX is for the parser to name; anything else, or a partial id, is not yet", () => {
    expect([isRiffHead(bytes("RIFF")), isRiffHead(bytes("RF64....")), isRiffHead(bytes("BW64")), isRiffHead(bytes("RIFX"))]).toEqual([true, true, true, true]);
    expect(isRiffHead(bytes("RIFY"))).toBe(false);
    expect(isRiffHead(bytes("RI"))).toBe(false);
  });
  test("an input still arriving waits while its first bytes could open either id", () => {
    expect(["", "R", "RI", "RF6", "RIF", "BW"].map((t) => riffIdIn(bytes(t)))).toEqual(["partial", "partial", "partial", "partial", "partial", "partial"]);
    expect(["G", "RX", "RIFY", "BX", "\u0047\u0040"].map((t) => riffIdIn(bytes(t)))).toEqual(["no", "no", "no", "no", "no"]);
    expect(riffIdIn(bytes("RF64abcdWAVE"))).toBe("riff");
  });
});
