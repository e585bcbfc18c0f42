/**
 * A live channel keeps its current source's first bytes (server/live/source_head.ts), so a job
 * joining a WAV stream part-way gets its header and a whole frame to start from. Story: acquire's
 * stereo WAV stream of unknown length, joined mid-frame; the same after a second source began;
 * and what gets no join: a TS source, a header not yet whole, a WAV whose declared data has ended.
 * A recording's cursor at a source's first byte finds its header in those bytes (wavStartOf).
 */
import { expect, test } from "bun:test";
import { parseWavHeader, STREAMING_SIZE, wavHeader, wavRecordingHeader } from "../../protocol/wav.ts";
import { HEAD_BYTES, SourceHead, wavStartOf } from "../../server/live/source_head.ts";
import { makeCbrTs } from "../helpers/mpeg_fixtures.ts";

const STEREO_16 = { encoding: "s16le", rate: 48_000, channels: 2 } as const;

test("joined mid-frame: the header, then the frame boundary at or before the live edge; a new source is its own", () => {
  const head = new SourceHead();
  const header = wavHeader(STEREO_16, STREAMING_SIZE);
  head.began(1000);
  head.arrived(header);
  head.arrived(new Uint8Array(4000));
  const dataAt = 1000 + header.length;
  expect(head.wavJoin(dataAt + 4000)).toEqual({ header, format: STEREO_16, from: dataAt + 4000 });
  expect(head.wavJoin(dataAt + 3999)?.from).toBe(dataAt + 3996);
  // A second source, 24-bit mono this time, with its header in two pieces.
  const next = wavHeader({ encoding: "s24le", rate: 48_000, channels: 1 }, STREAMING_SIZE);
  head.began(9000);
  head.arrived(next.subarray(0, 10));
  // Joined while its header is still arriving: from the source's first byte, all of it in hand.
  expect(head.wavJoin(9010)).toEqual({ header: new Uint8Array(0), format: null, from: 9000 });
  head.arrived(next.subarray(10));
  head.arrived(new Uint8Array(100));
  const mono24 = { encoding: "s24le", rate: 48_000, channels: 1 } as const;
  expect(head.wavJoin(9000 + next.length + 100)).toEqual({ header: next, format: mono24, from: 9000 + next.length + 99 });
});

test("no join for a TS source, before any source, or past a WAV's declared data", () => {
  const head = new SourceHead();
  expect(head.wavJoin(0)).toBeNull();
  head.began(0);
  head.arrived(makeCbrTs({ bitrate: 1_000_000, duration: 0.1 }));
  expect(head.wavJoin(5000)).toBeNull();
  const sized = wavHeader(STEREO_16, 400);
  head.began(20_000);
  head.arrived(sized);
  head.arrived(new Uint8Array(400));
  const join = head.wavJoin(20_000 + sized.length + 396)!;
  expect(join.from).toBe(20_000 + sized.length + 396);
  // The joiner's copy of the header declares what is left from there: 4 bytes, not 400.
  expect(new DataView(join.header.buffer).getUint32(sized.length - 4, true)).toBe(4);
  expect(new DataView(sized.buffer, sized.byteOffset).getUint32(sized.length - 4, true)).toBe(400);
  expect(head.wavJoin(20_000 + sized.length + 400)).toBeNull();
});

test("an RF64 source (a WAV past 4 GiB) is joined with its ds64 declaring what is left, its data chunk's -1 kept", () => {
  const head = new SourceHead();
  const size = 5 * 2 ** 30;
  const rf64 = wavRecordingHeader(STEREO_16, size);
  expect(new TextDecoder().decode(rf64.subarray(0, 4))).toBe("RF64");
  head.began(0);
  head.arrived(rf64);
  head.arrived(new Uint8Array(4000));
  const join = head.wavJoin(rf64.length + 4000)!;
  expect(join.from).toBe(rf64.length + 4000);
  // Before, its "R" was taken for RIFF's: 5 GiB less 4000, cut to 32 bits, went into the data
  // chunk's -1, and the ds64 still declared all 5 GiB.
  expect(parseWavHeader(join.header, "joined")).toMatchObject({ status: "ok", dataBytes: size - 4000 });
  expect(new DataView(join.header.buffer).getUint32(rf64.length - 4, true)).toBe(0xffffffff);
});

test("a source's header from its first bytes: found, waited for while it may still come, none once the source has ended without one", () => {
  const header = wavHeader(STEREO_16, STREAMING_SIZE);
  const first = Buffer.concat([header, new Uint8Array(400)]);
  expect(wavStartOf(first, false)).toEqual({ format: STEREO_16, dataOffset: header.length });
  expect(wavStartOf(first, true)).toEqual({ format: STEREO_16, dataOffset: header.length });
  expect(wavStartOf(header.subarray(0, 10), false)).toBe("wait");
  // Ended there (a later source began): no more of it will come.
  expect(wavStartOf(header.subarray(0, 10), true)).toBeNull();
  expect(wavStartOf(new Uint8Array(0), false)).toBe("wait");
  expect(wavStartOf(makeCbrTs({ bitrate: 1_000_000, duration: 0.1 }), false)).toBeNull();
  // A header whose data starts past the bytes looked at (a 5000-byte LIST chunk before it) is none here.
  const list = Buffer.alloc(8 + 5000);
  list.write("LIST", 0, "latin1");
  list.writeUInt32LE(5000, 4);
  const long = Buffer.concat([header.subarray(0, 36), list, header.subarray(36), new Uint8Array(400)]);
  expect(long.length).toBeGreaterThan(HEAD_BYTES);
  expect(wavStartOf(long, false)).toBeNull();
});

test("an RF64 whose data chunk holds a size of its own (not -1) is joined with that size declaring what is left, and its ds64 too", () => {
  const head = new SourceHead();
  const rf64 = wavRecordingHeader(STEREO_16, 5 * 2 ** 30);
  const view = new DataView(rf64.buffer, rf64.byteOffset, rf64.length);
  // As a writer that went RF64 from the start writes a short file: the sizes that fit, in both places.
  view.setUint32(rf64.length - 4, 8000, true);
  view.setBigUint64(28, 8000n, true);
  head.began(0);
  head.arrived(rf64);
  head.arrived(new Uint8Array(4000));
  const join = head.wavJoin(rf64.length + 4000)!;
  // Before, nothing was rewritten: the joiner's header declared all 8000 bytes, 4000 past the end.
  expect(parseWavHeader(join.header, "joined")).toMatchObject({ status: "ok", dataBytes: 4000 });
  const joined = new DataView(join.header.buffer, join.header.byteOffset, join.header.length);
  expect(joined.getUint32(rf64.length - 4, true)).toBe(4000);
  expect(joined.getBigUint64(28, true)).toBe(4000n);
});
