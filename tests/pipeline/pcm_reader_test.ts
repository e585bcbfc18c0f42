/**
 * A PCM destination's reader on its own: units of whole output frames from the shared read-ahead
 * buffer, converted to the backend's format, timed by the frames given out, gaps counted.
 */
import { describe, expect, test } from "bun:test";
import { createConverter } from "../../convert/converter.ts";
import { parseSampleFormat } from "../../protocol/sample_format.ts";
import { PcmReader } from "../../pipeline/pcm_reader.ts";
import { ReadAheadBuffer } from "../../pipeline/read_ahead.ts";
import type { SharedInput } from "../../pipeline/unit_reader.ts";
import { rampS16, swap16 } from "../helpers/audio.ts";

/** A job's input as a reader sees it: `load` moves the next bytes of `media` into the buffer. */
function sharedInput(media: Uint8Array, capacity = 64 * 1024) {
  let loaded = 0;
  const input = {
    ring: new ReadAheadBuffer(capacity),
    loadMark: 0,
    inputEnded: false,
    loadsAsked: 0,
    requestLoad() {
      this.loadsAsked++;
    },
    load(bytes: number) {
      const position = input.ring.writablePosition();
      const room = input.ring.writableRoom();
      const n = Math.min(bytes, room, media.length - loaded);
      input.ring.data.set(media.subarray(loaded, loaded + n), position);
      input.ring.commit(n);
      loaded += n;
      if (loaded === media.length) input.inputEnded = true;
    },
  };
  return input satisfies SharedInput;
}

const MONO_8K = parseSampleFormat("s16le:8000:1");

describe("a PCM reader", () => {
  test("gives the input in units of whole frames, waits (asking for a load) for a whole unit, and ends on a short one", () => {
    const media = rampS16(1000, 1); // 2000 bytes
    const input = sharedInput(media);
    const reader = new PcmReader(input, 0, MONO_8K, null, 320);
    const unit = Buffer.alloc(320);
    expect(reader.inputBytesPerUnit).toBe(320);
    expect(reader.unitUs).toBe(20_000);

    input.load(300);
    expect(reader.next(unit)).toBe(0);
    expect(input.loadsAsked).toBe(1);
    expect(reader.ended()).toBe(false);

    input.load(2000);
    const out: Buffer[] = [];
    for (let length = reader.next(unit); length > 0; length = reader.next(unit)) {
      out.push(Buffer.from(unit.subarray(0, length)));
      reader.advance(length);
    }
    expect(out.map((u) => u.length)).toEqual([320, 320, 320, 320, 320, 320, 80]);
    expect(Buffer.concat(out).equals(media)).toBe(true);
    expect(reader.frame).toBe(1000);
    expect(reader.mediaUs()).toBe(125_000);
    expect(reader.ended()).toBe(true);
  });

  test("a backend that took part of a unit is offered the rest first, counted in whole frames", () => {
    const media = rampS16(400, 1);
    const input = sharedInput(media);
    input.load(media.length);
    const reader = new PcmReader(input, 0, MONO_8K, null, 320);
    const unit = Buffer.alloc(320);
    expect(reader.next(unit)).toBe(320);
    reader.advance(101); // 50 frames and half a sample: the half is offered again
    expect(reader.frame).toBe(50);
    expect(reader.next(unit)).toBe(320);
    expect(unit.equals(media.subarray(100, 420))).toBe(true);
  });

  test("a live input stalled inside a unit: nextPartial gives the whole frames there are, converted; the stream then goes on seamlessly", async () => {
    const media = rampS16(1200, 2); // 4800 bytes
    const input = sharedInput(media);
    const from = parseSampleFormat("s16le:48000:2");
    const converter = await createConverter(from, parseSampleFormat("s16be:48000:2"));
    const reader = new PcmReader(input, 0, from, converter, 960);
    const unit = Buffer.alloc(960);
    const out: Buffer[] = [];
    const take = (length: number) => {
      out.push(Buffer.from(unit.subarray(0, length)));
      reader.advance(length);
    };
    // Two units and a half, and one byte of the next frame: then the input stalls.
    input.load(2 * 960 + 480 + 1);
    for (let length = reader.next(unit); length > 0; length = reader.next(unit)) take(length);
    expect(out.length).toBe(2);
    const part = reader.nextPartial(unit);
    expect(part).toBe(480); // whole frames only: the odd byte waits for the rest of its frame
    take(part);
    expect(reader.nextPartial(unit)).toBe(0);
    input.load(media.length);
    for (let length = reader.next(unit); length > 0; length = reader.next(unit)) take(length);
    expect(Buffer.concat(out).equals(swap16(media))).toBe(true);
    expect(reader.frame).toBe(1200);
  });

  test("a live input that stalls gives out a resampler's tail too, and what comes after stays on the sample clock", async () => {
    // Two bursts of 0.1 s at 44.1 kHz with a stall between, to a 48 kHz backend: a speaker's queue
    // that ran dry. The resampler's last ~1 ms waited for more input: it went out at idle_close.
    const media = rampS16(2 * 4410, 1);
    const input = sharedInput(media);
    const from = parseSampleFormat("s16le:44100:1");
    const converter = await createConverter(from, parseSampleFormat("s16le:48000:1"), { dither: false });
    const reader = new PcmReader(input, 0, from, converter, 960);
    const unit = Buffer.alloc(960);
    let frames = 0;
    const drain = (stalled: boolean) => {
      for (let length = reader.next(unit); length > 0; length = reader.next(unit)) (frames += length / 2), reader.advance(length);
      for (let length = reader.nextPartial(unit, stalled); length > 0; length = reader.nextPartial(unit, stalled)) (frames += length / 2), reader.advance(length);
    };
    input.load(4410 * 2);
    drain(false); // a unit the backend took in part: the tail stays, for the input goes on
    expect(frames).toBeLessThan(4800);
    drain(true);
    expect(frames).toBe(4800);
    expect(reader.frame).toBe(4800);
    input.load(4410 * 2);
    drain(true);
    expect(frames).toBe(9600);
    expect(reader.nextPartial(unit, true)).toBe(0); // nothing more to flush: no silence made up
  });

  test("converts to the backend's format (s16le to s16be, bit for bit)", async () => {
    const media = rampS16(480, 2);
    const input = sharedInput(media);
    input.load(media.length);
    const from = parseSampleFormat("s16le:48000:2");
    const converter = await createConverter(from, parseSampleFormat("s16be:48000:2"));
    const reader = new PcmReader(input, 0, from, converter, 960);
    const unit = Buffer.alloc(960);
    const out: Buffer[] = [];
    for (let length = reader.next(unit); length > 0; length = reader.next(unit)) {
      out.push(Buffer.from(unit.subarray(0, length)));
      reader.advance(length);
    }
    expect(Buffer.concat(out).equals(swap16(media))).toBe(true);
    expect(reader.ended()).toBe(true);
  });

  test("skipping ahead (its output fell too far behind) drops what was staged, lands on a whole frame and counts the time dropped", () => {
    const media = rampS16(1000, 1); // 2000 bytes, 2 per frame
    const input = sharedInput(media);
    input.load(media.length);
    const reader = new PcmReader(input, 0, MONO_8K, null, 320);
    const unit = Buffer.alloc(320);
    expect(reader.next(unit)).toBe(320);
    reader.advance(100); // 50 frames out; 110 frames staged and waiting
    // The job needs the buffer below byte 901 (mid-frame): the reader moves on to byte 902.
    expect(reader.skipTo(901)).toBe(((451 - 50) * 1e6) / 8000);
    expect(reader.position).toBe(902);
    expect(reader.frame).toBe(451);
    expect(reader.next(unit)).toBe(320);
    expect(unit.equals(media.subarray(902, 1222))).toBe(true);
    // Given up on: the rest goes, counted, and the reader has ended.
    reader.advance(320);
    expect(reader.dropRest()).toBe(((1000 - 611) * 1e6) / 8000);
    expect(reader.frame).toBe(1000);
    expect(reader.ended()).toBe(true);
    expect(reader.outputUs(160)).toBe(10_000);
  });

  test("after a gap the frame count moves on by the time lost, so RTP timestamps stay on the clock", () => {
    const reader = new PcmReader(sharedInput(new Uint8Array(0)), 0, MONO_8K, null, 320);
    reader.skipGap(12_500);
    expect(reader.frame).toBe(100);
    expect(reader.mediaUs()).toBe(12_500);
  });
});
