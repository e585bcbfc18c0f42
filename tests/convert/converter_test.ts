/**
 * The converter's contract: bit-exact where nothing is lost, whole frames only,
 * stream-split invariant, no fresh buffers per block.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { createConverter, PartialFrameError } from "../../convert/converter.ts";
import { channelMap, MINUS_3_DB } from "../../convert/channels.ts";
import { TpdfDither, TPDF_TOTAL_NOISE_LSB2 } from "../../convert/dither.ts";
import { isLosslessIntegerPair } from "../../convert/samples.ts";
import {
  bitsPerSample,
  bytesPerSample,
  ENCODINGS,
  parseSampleFormat,
  type Encoding,
  type SampleFormat,
} from "../../protocol/sample_format.ts";

const INTEGER_ENCODINGS = ENCODINGS.filter((e) => e !== "f32le");

/** Reference reader, written independently of samples.ts with DataView. */
function readInts(e: Encoding, bytes: Uint8Array): number[] {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.length / bytesPerSample(e);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    switch (e) {
      case "s8": out.push(v.getInt8(i)); break;
      case "u8": out.push(v.getUint8(i) - 128); break;
      case "s16le": out.push(v.getInt16(2 * i, true)); break;
      case "s16be": out.push(v.getInt16(2 * i, false)); break;
      case "s24le": out.push(v.getUint16(3 * i, true) + v.getInt8(3 * i + 2) * 65536); break;
      case "s24be": out.push(v.getInt8(3 * i) * 65536 + v.getUint16(3 * i + 1, false)); break;
      case "s32le": out.push(v.getInt32(4 * i, true)); break;
      default: throw new Error(`not an integer encoding: ${e}`);
    }
  }
  return out;
}

/** Random bytes plus every extreme: min, max, zero, ±1 at each width. */
function sampleBytes(e: Encoding, samples: number): Uint8Array {
  const bytes = new Uint8Array(samples * bytesPerSample(e));
  crypto.getRandomValues(bytes);
  const bps = bytesPerSample(e);
  const extremes: number[][] = [
    new Array(bps).fill(0x00),
    new Array(bps).fill(0xff),
    [...new Array(bps - 1).fill(0xff), 0x7f],
    [...new Array(bps - 1).fill(0x00), 0x80],
  ];
  extremes.forEach((b, i) => {
    const le = e === "s16be" || e === "s24be" ? [...b].reverse() : b;
    bytes.set(le, i * bps);
  });
  return bytes;
}

function fmt(e: Encoding, rate = 48000, channels = 2): SampleFormat {
  return { encoding: e, rate, channels };
}

describe("bit-exact integer conversions", () => {
  for (const from of INTEGER_ENCODINGS) {
    for (const to of INTEGER_ENCODINGS) {
      if (from === to || !isLosslessIntegerPair(from, to)) continue;
      test(`${from} → ${to} is a shift of every sample`, async () => {
        const conv = await createConverter(fmt(from), fmt(to));
        const input = sampleBytes(from, 20_000);
        const out = conv.convert(input);
        const shift = bitsPerSample(to) - bitsPerSample(from);
        const want = readInts(from, input).map((v) => v * 2 ** shift);
        expect(readInts(to, out)).toEqual(want);
      });
    }
  }

  test("s16le → s16be is a pure byte swap, and back", async () => {
    const there = await createConverter(fmt("s16le"), fmt("s16be"));
    const back = await createConverter(fmt("s16be"), fmt("s16le"));
    const input = Uint8Array.from([0x01, 0x02, 0xff, 0x80, 0x00, 0x7f, 0x34, 0x12]);
    const swapped = there.convert(input);
    expect([...swapped]).toEqual([0x02, 0x01, 0x80, 0xff, 0x7f, 0x00, 0x12, 0x34]);
    expect([...back.convert(swapped)]).toEqual([...input]);
  });

  test("u8 ↔ s8 flips the top bit", async () => {
    const conv = await createConverter(fmt("u8", 8000, 1), fmt("s8", 8000, 1));
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    expect([...conv.convert(all)]).toEqual([...all].map((b) => b ^ 0x80));
  });

  test("property: s16le → s16be → s16le returns any bytes unchanged", async () => {
    const there = await createConverter(fmt("s16le"), fmt("s16be"));
    const back = await createConverter(fmt("s16be"), fmt("s16le"));
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4096 }), (raw) => {
        const input = raw.subarray(0, raw.length - (raw.length % 4)); // whole stereo frames
        const round = back.convert(there.convert(input).slice());
        expect([...round]).toEqual([...input]);
      }),
    );
  });

  test("widening through the float path (with a channel copy) is exact too", async () => {
    for (const [from, to] of [["s16le", "s24le"], ["s24le", "f32le"], ["s16be", "s16le"]] as const) {
      const conv = await createConverter(fmt(from, 44100, 1), fmt(to, 44100, 2));
      const input = sampleBytes(from, 5000);
      const out = conv.convert(input);
      if (to === "f32le") {
        const floats = new Float32Array(out.slice().buffer);
        const ints = readInts(from, input);
        ints.forEach((v, i) => {
          expect(floats[2 * i]).toBe(v / 2 ** (bitsPerSample(from) - 1));
          expect(floats[2 * i + 1]).toBe(v / 2 ** (bitsPerSample(from) - 1));
        });
      } else {
        const shift = bitsPerSample(to) - bitsPerSample(from);
        expect(readInts(to, out)).toEqual(readInts(from, input).flatMap((v) => [v * 2 ** shift, v * 2 ** shift]));
      }
    }
  });

  test("f32 → s24 → f32 and s24 → f32 → s24 are lossless", async () => {
    const toFloat = await createConverter(fmt("s24le"), fmt("f32le"));
    const toInt = await createConverter(fmt("f32le"), fmt("s24le"));
    const input = sampleBytes("s24le", 10_000);
    expect([...toInt.convert(toFloat.convert(input).slice())]).toEqual([...input]);
  });
});

describe("narrowing", () => {
  test("s24 → s16 without dither rounds to nearest and clips", async () => {
    const conv = await createConverter(fmt("s24le", 48000, 1), fmt("s16le", 48000, 1), { dither: false });
    const input = sampleBytes("s24le", 10_000);
    const want = readInts("s24le", input).map((v) => Math.min(32767, Math.floor(v / 256 + 0.5)));
    expect(readInts("s16le", conv.convert(input))).toEqual(want);
  });

  test("s24 → s16 with dither stays within ±1 LSB of the rounded value, and a seed repeats it", async () => {
    const a = await createConverter(fmt("s24le", 48000, 1), fmt("s16le", 48000, 1), { seed: 7 });
    const b = await createConverter(fmt("s24le", 48000, 1), fmt("s16le", 48000, 1), { seed: 7 });
    const input = sampleBytes("s24le", 10_000);
    const outA = readInts("s16le", a.convert(input));
    expect(readInts("s16le", b.convert(input))).toEqual(outA);
    readInts("s24le", input).forEach((v, i) => {
      expect(Math.abs(outA[i] - v / 256)).toBeLessThanOrEqual(1.5);
    });
  });

  test("24-bit audio in 32-bit containers narrows to s24 exactly; one low bit set brings the dither back", async () => {
    const conv = await createConverter(fmt("s32le", 48000, 1), fmt("s24le", 48000, 1), { seed: 3 });
    const values = readInts("s24le", sampleBytes("s24le", 10_000));
    const padded = Buffer.alloc(values.length * 4);
    values.forEach((v, i) => padded.writeInt32LE(v * 256, i * 4));
    expect(readInts("s24le", conv.convert(padded))).toEqual(values);
    padded[0] = 1; // one sample of real 32-bit precision: the block is dithered
    expect(readInts("s24le", conv.convert(padded))).not.toEqual(values);
  });

  test("TPDF dither is triangular on (−1, 1) with variance 1/6", () => {
    const d = new TpdfDither(123);
    const n = 200_000;
    let sum = 0;
    let sq = 0;
    let inner = 0;
    for (let i = 0; i < n; i++) {
      const x = d.next();
      expect(Math.abs(x)).toBeLessThan(1);
      sum += x;
      sq += x * x;
      if (Math.abs(x) < 0.5) inner++;
    }
    expect(Math.abs(sum / n)).toBeLessThan(0.01);
    expect(sq / n).toBeCloseTo(1 / 6, 2);
    expect(inner / n).toBeCloseTo(0.75, 2); // triangular: P(|x| < ½) = 3/4
    expect(TPDF_TOTAL_NOISE_LSB2).toBeCloseTo(0.25, 10);
  });
});

describe("channel maps", () => {
  test("documented gains", () => {
    expect([...channelMap(1, 2).gains]).toEqual([1, 1]);
    expect([...channelMap(2, 1).gains]).toEqual([0.5, 0.5]);
    const g = MINUS_3_DB;
    expect([...channelMap(6, 2).gains]).toEqual([1, 0, g, 0, g, 0, 0, 1, g, 0, 0, g]);
    // ffmpeg's 3.0/2.1, 5.0, 6.1 and 7.1 as 5.1, each surround to its side: not channel i to output i mod 2.
    expect([...channelMap(3, 2).gains]).toEqual([1, 0, g, 0, 1, g]);
    expect([...channelMap(5, 2).gains]).toEqual([1, 0, g, g, 0, 0, 1, g, 0, g]);
    const h = g * g;
    expect([...channelMap(7, 2).gains]).toEqual([1, 0, g, 0, h, g, 0, 0, 1, g, 0, h, 0, g]);
    expect([...channelMap(8, 2).gains]).toEqual([1, 0, g, 0, g, 0, g, 0, 0, 1, g, 0, 0, g, 0, g]);
    const q = Math.SQRT1_2;
    expect([...channelMap(4, 2).gains]).toEqual([q, 0, q, 0, 0, q, 0, q]);
    expect(channelMap(1, 2).exact).toBe(true);
    expect(channelMap(2, 1).exact).toBe(false);
  });

  test("mono → stereo at s16 copies samples exactly (no dither on an exact map)", async () => {
    const conv = await createConverter(fmt("s16le", 44100, 1), fmt("s16le", 44100, 2));
    const input = sampleBytes("s16le", 3000);
    expect(readInts("s16le", conv.convert(input))).toEqual(readInts("s16le", input).flatMap((v) => [v, v]));
  });
});

describe("streaming", () => {
  test("identity returns the input itself", async () => {
    const conv = await createConverter(parseSampleFormat("s16le:44100:2"), parseSampleFormat("s16le:44100:2"));
    const input = new Uint8Array(400);
    expect(conv.identity).toBe(true);
    expect(conv.convert(input)).toBe(input);
    expect(conv.flush().length).toBe(0);
  });

  test("a partial frame is refused with a message saying what to do", async () => {
    const conv = await createConverter(fmt("s16le"), fmt("s24le"));
    expect(() => conv.convert(new Uint8Array(6))).toThrow(PartialFrameError);
    expect(() => conv.convert(new Uint8Array(6))).toThrow(/whole number of s16le:48000:2 frames/);
  });

  test("resampling gives the same bytes however the stream is split, and the exact length", async () => {
    const from = parseSampleFormat("s16le:48000:2");
    const to = parseSampleFormat("s16le:44100:2");
    const frames = 48_000 + 37;
    const input = sampleBytes("s16le", frames * 2);
    const whole = await createConverter(from, to, { seed: 3 });
    const expected = Buffer.concat([whole.convert(input).slice(), whole.flush()]); // a view lives until the next call
    expect(expected.length / 4).toBe(Math.ceil((frames * 44100) / 48000));

    const split = await createConverter(from, to, { seed: 3, maxInputBytes: 4096 });
    const parts: Uint8Array[] = [];
    let at = 0;
    for (const size of [1, 7, 1000, 1, 30_000, 3, 17_000]) {
      parts.push(split.convert(input.subarray(at * 4, (at + size) * 4)).slice());
      at += size;
    }
    parts.push(split.convert(input.subarray(at * 4)).slice(), split.flush().slice());
    expect(Buffer.concat(parts).equals(expected)).toBe(true);
  });

  test("blocks of one size come back in the same buffer (no allocation after warm-up)", async () => {
    const conv = await createConverter(fmt("s24le"), fmt("s16le", 44100), { seed: 1 });
    const block = sampleBytes("s24le", 1920);
    const first = conv.convert(block);
    const second = conv.convert(block);
    expect(second.buffer).toBe(first.buffer);
    const outputs = [];
    for (let i = 0; i < 10; i++) outputs.push(conv.convert(block));
    expect(new Set(outputs.map((o) => o.buffer)).size).toBe(1);
    expect(conv.outputFramesFor(960)).toBeGreaterThanOrEqual(882);
  });
});

describe("float input that is not audio", () => {
  /** Stereo f32le at 48 kHz: a 1 kHz tone at −6 dB with NaN, ±Infinity and 3e38 in it. */
  function hostileFloats(frames: number): Uint8Array {
    const floats = new Float32Array(frames * 2);
    for (let i = 0; i < frames; i++) floats[2 * i] = floats[2 * i + 1] = 0.5 * Math.sin((2 * Math.PI * 1000 * i) / 48000);
    floats[2 * 1000] = NaN;
    floats[2 * 2000 + 1] = Infinity;
    floats[2 * 3000] = -Infinity;
    floats[2 * 4000 + 1] = 3e38;
    return new Uint8Array(floats.buffer);
  }

  test("NaN, ±Infinity and huge values never come out of a float conversion as NaN or Infinity", async () => {
    const input = hostileFloats(6000);
    for (const to of [fmt("f32le", 44100, 2), fmt("f32le", 48000, 1), fmt("f32le", 96000, 6)]) {
      const conv = await createConverter(fmt("f32le"), to);
      const out = new Float32Array(conv.convert(input).slice().buffer);
      const bad = out.filter((x) => !Number.isFinite(x)).length;
      expect({ to, bad }).toEqual({ to, bad: 0 });
    }
  });

  test("NaN decodes as silence, ±Infinity as a bounded over, the rest unchanged", async () => {
    const conv = await createConverter(fmt("f32le", 48000, 2), fmt("f32le", 48000, 1));
    const input = new Float32Array([NaN, NaN, Infinity, 0, -Infinity, -Infinity, 0.25, 0.75]);
    const out = new Float32Array(conv.convert(new Uint8Array(input.buffer)).slice().buffer);
    expect([...out]).toEqual([0, 32768, -65536, 0.5]);
  });
});

describe("extreme rate ratios", () => {
  test("a 1 Hz input converts to 48 kHz (the converter's first reservation was 1.6 G frames: Out of memory)", async () => {
    const conv = await createConverter(fmt("s16le", 1, 1), fmt("s16le", 48000, 2), { seed: 1 });
    const first = conv.convert(new Uint8Array(6)).length; // 3 frames
    const rest = conv.flush().length;
    expect(Math.abs((first + rest) / 4 - 3 * 48000)).toBeLessThanOrEqual(1);
  });

  test("a block past the first reservation grows it: 64 KiB of 8 kHz mono to 768 kHz", async () => {
    const conv = await createConverter(fmt("s16le", 8000, 1), fmt("f32le", 768000, 1));
    const frames = 32768;
    const out = conv.convert(new Uint8Array(frames * 2)).length / 4 + conv.flush().length / 4;
    expect(Math.abs(out - frames * 96)).toBeLessThanOrEqual(1);
  });
});
