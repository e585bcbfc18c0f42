/**
 * A WAV's open-ended data on a stream (sources/wav_trailer.ts): a chunk that ends the stream
 * exactly (GStreamer's LIST of tags) is not given as samples; bytes that only looked like the
 * start of one are given as soon as more arrive. A real stream source over a pipe-like stream.
 */
import { expect, test } from "bun:test";
import { PassThrough } from "node:stream";
import { SOURCE_END, type Source } from "../../sources/source.ts";
import { streamSource } from "../../sources/stream_source.ts";
import { trailerHeld } from "../../sources/wav_trailer.ts";
import { rampS16 } from "../helpers/audio.ts";

/** GStreamer's wavenc's last bytes on a pipe: "LIST", size 4, "INFO". */
const GST_LIST = Buffer.from("LIST\x04\x00\x00\x00INFO", "latin1");

/** Everything `source` gives, `length` at a time, once the pipe has ended. */
async function drain(source: Source, length: number): Promise<Buffer> {
  const target = Buffer.alloc(length);
  const parts: Buffer[] = [];
  for (;;) {
    const n = source.read(target, 0, length);
    if (n === SOURCE_END) return Buffer.concat(parts);
    if (n === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    else parts.push(Buffer.from(target.subarray(0, n)));
  }
}

function piped(pieces: Buffer[]): Source {
  const pipe = new PassThrough();
  const source = trailerHeld(streamSource("stdin", pipe), 4);
  for (const piece of pieces) pipe.write(piece);
  pipe.end();
  return source;
}

test("a LIST that ends the stream is not given, whether it comes whole or cut, read in blocks or in bytes", async () => {
  const samples = rampS16(1000);
  for (const length of [65536, 4096, 5, 1]) {
    expect((await drain(piped([samples, GST_LIST]), length)).equals(samples)).toBe(true);
    const cut = [samples.subarray(0, 1000), samples.subarray(1000), GST_LIST.subarray(0, 2), GST_LIST.subarray(2, 9), GST_LIST.subarray(9)];
    expect((await drain(piped(cut), length)).equals(samples)).toBe(true);
  }
});

test("samples that only look like a trailer are all given: its id and size in the middle, or a chunk cut at the end", async () => {
  const samples = rampS16(1000);
  GST_LIST.copy(samples, 400); // a frame boundary: held until the bytes after show it ends nothing
  for (const length of [65536, 7]) {
    expect((await drain(piped([samples.subarray(0, 412), samples.subarray(412)]), length)).equals(samples)).toBe(true);
    const cutChunk = Buffer.concat([samples, GST_LIST.subarray(0, 10)]);
    expect((await drain(piped([cutChunk]), length)).equals(cutChunk)).toBe(true);
    const longer = Buffer.concat([samples, GST_LIST, Buffer.alloc(4)]); // its size says 4, 8 follow
    expect((await drain(piped([longer]), length)).equals(longer)).toBe(true);
  }
});

test("bytes that could begin a trailer are held only until more arrive", async () => {
  const pipe = new PassThrough();
  const source = trailerHeld(streamSource("stdin", pipe), 4);
  const target = Buffer.alloc(4096);
  const samples = rampS16(100);
  pipe.write(Buffer.concat([samples, GST_LIST.subarray(0, 8)]));
  await new Promise((resolve) => setTimeout(resolve, 5));
  expect(source.read(target, 0, target.length)).toBe(samples.length);
  expect(source.read(target, 0, target.length)).toBe(0); // "LIST" and a size of 4: it may end the stream
  pipe.write(Buffer.from("INFOdata"));
  await new Promise((resolve) => setTimeout(resolve, 5));
  expect(source.read(target, 0, target.length)).toBe(16); // 4 bytes past its end: samples after all
  pipe.end();
});
