/**
 * RIFF/WAVE (Microsoft RIFF spec, 1991; WAVE_FORMAT_EXTENSIBLE per the
 * "Multiple channel audio data and WAVE files" note). Parses the header of
 * a stream without seeking, so it works on stdin, and writes headers.
 *
 * ```
 * "RIFF" size "WAVE"  then chunks: id(4) size(4 LE) body (padded to even)
 *   "fmt " : format(2) channels(2) rate(4) byteRate(4) blockAlign(2) bits(2)
 *            [cbSize(2) validBits(2) channelMask(4) subFormat GUID(16)]
 *   "data" : interleaved little-endian samples
 * ```
 *
 * @example
 * ```ts
 * const header = wavHeader({ encoding: "s16le", rate: 44100, channels: 2 }, 4);
 * const parsed = parseWavHeader(new Uint8Array([...header, 1, 0, 2, 0]));
 * parsed.status === "ok" && parsed.dataOffset; // 44
 * ```
 */
import { compressedAudioName } from "./audio_magic.ts";
import { bytesPerFrame, bytesPerSample, type Encoding, type SampleFormat } from "./sample_format.ts";

const WAVE_FORMAT_PCM = 0x0001;
const WAVE_FORMAT_IEEE_FLOAT = 0x0003;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;
const RIFF_HEADER_SIZE = 12;
const CHUNK_HEADER_SIZE = 8;
const FMT_MIN_SIZE = 16;
const FMT_EXTENSIBLE_SIZE = 40;
/** Size fields of 0 or 0xFFFFFFFF mean "unknown length" when streaming (ffmpeg, sox on pipes). */
export const STREAMING_SIZE = 0xffffffff;
/**
 * The data size sox writes when it cannot know the length (`sox -n -t wav - synth …` to a pipe):
 * not a size. Taken for one, a file saved from that pipe was refused as lying, and a stream
 * claimed a duration of 3.4 hours. sox rounds it down to whole frames (0x7FFFEFFC for 24-bit
 * stereo or 16-bit 5.1, 0x7FFFEFFF for 24-bit mono), so it is recognised so rounded too.
 */
const SOX_UNKNOWN_SIZE = 0x7ffff000;
/**
 * Other writers' placeholders for a length they cannot know on a pipe, written in both sizes:
 * arecord's (alsa-utils, recording without a duration) is its 2 GiB cap 0x7FFFFFFF, rounded up
 * to even (1.2.8 writes 0x80000000 for any format); GStreamer's wavenc writes 0x7FFF0000. Taken
 * for sizes, a stream ended "2146179456 bytes short" and `probe -` said 11184.811 s, and a file
 * saved from that pipe was refused as lying, where sox and ffmpeg play it.
 */
const PIPE_WRITERS_UNKNOWN_SIZES = [0x7fffffff, 0x80000000, 0x7fff0000];
/** Give up looking for the data chunk after this many header bytes (a stream's: it is held in memory as it comes). */
export const MAX_WAV_HEADER_BYTES = 1 << 20;
/**
 * A file's: chunks before its data may be larger (cover art in an `id3 ` chunk, which ffmpeg
 * plays past); they are read once, from disk, and let go. They were refused past 1 MiB.
 */
export const MAX_WAV_FILE_HEADER_BYTES = 16 << 20;
/** A file's first read: the header of almost every WAV. */
const FIRST_FILE_HEAD_BYTES = 64 << 10;

/** A one-line problem with a WAV file. */
export class WavError extends Error {
  override name = "WavError";
}

export type WavHeaderResult =
  | {
      status: "ok";
      format: SampleFormat;
      /** Offset of the first sample byte. */
      dataOffset: number;
      /** Bytes of sample data in whole frames, or null when the header leaves it open (streaming). */
      dataBytes: number | null;
      /**
       * Bytes of data after the last whole frame (a writer's bug, or a header that lies about the
       * format): not samples, so not in dataBytes, but worth a word where the input ends.
       */
      partialFrameBytes: number;
      /** The header leaves the data size open (a writer on a pipe): the data runs to the end of the input. */
      dataToEnd: boolean;
    }
  | {
      status: "need-more";
      /** How many head bytes the walk needs next, where a chunk's size says so. */
      wants?: number;
    };

/**
 * Whether `head` starts as a WAV does: "RIFF", "RF64" (EBU Tech 3306), which ffmpeg writes
 * with `-rf64 always` and `pacer record` past 4 GiB, or "BW64" (ITU-R BS.2088, RF64 by another
 * name, from broadcast tools). What follows is for {@link parseWavHeader} to judge, so a RIFF that
 * is not WAVE, or a big-endian RIFX, is named as such (on stdin they were "not WAV").
 */
export function isRiffHead(head: Uint8Array): boolean {
  return riffIdIn(head) === "riff";
}

const RIFF_IDS = ["RIFF", "RF64", "BW64", "RIFX"];
/** The 64-bit forms: the sizes that outgrow 32 bits are in a ds64 chunk. */
const DS64_IDS = ["RF64", "BW64"];

/**
 * {@link isRiffHead} for an input still arriving: "partial" while its first bytes (fewer than 4)
 * are still the start of a RIFF id, so a reader that must not take a WAV for samples waits.
 */
export function riffIdIn(head: Uint8Array): "riff" | "partial" | "no" {
  if (head.length >= 4) return RIFF_IDS.includes(tag(head, 0)) ? "riff" : "no";
  const id = String.fromCharCode(...head);
  return RIFF_IDS.some((known) => known.startsWith(id)) ? "partial" : "no";
}

/**
 * The encodings WAV files in the wild carry that are not PCM, by format tag (RFC 2361 and the
 * registered tags), so a refusal names what the file holds: a bare number sent users to a
 * reference table to learn that their file was A-law or MP3.
 */
const COMPRESSED_NAMES: ReadonlyMap<number, string> = new Map([
  [0x0002, "Microsoft ADPCM"],
  [0x0006, "G.711 A-law"],
  [0x0007, "G.711 μ-law"],
  [0x0011, "IMA ADPCM"],
  [0x0031, "GSM 6.10"],
  [0x0040, "G.721 ADPCM"],
  [0x0050, "MPEG audio (MP1/MP2)"],
  [0x0055, "MP3"],
  [0x0092, "AC-3 over S/PDIF"],
  [0x00ff, "AAC"],
  [0x0161, "WMA"],
  [0x0162, "WMA Pro"],
  [0x1610, "AAC (HE-AAC)"],
  [0x2000, "AC-3"],
  [0x2001, "DTS"],
  [0xf1ac, "FLAC"],
]);

/** One line for a WAV that is not PCM: what it holds, and the way to play it. */
function notPcm(name: string, formatTag: number): WavError {
  const hex = `0x${formatTag.toString(16).padStart(4, "0")}`;
  const known = COMPRESSED_NAMES.get(formatTag);
  const what = known ? `${known} (WAV format tag ${hex})` : `WAV format tag ${hex}`;
  return new WavError(`${name}: not PCM but ${what}, which pacer does not decode; convert it first (ffmpeg -i IN -c:a pcm_s16le OUT.wav)`);
}

function tag(b: Uint8Array, at: number): string {
  return String.fromCharCode(b[at]!, b[at + 1]!, b[at + 2]!, b[at + 3]!);
}

function encodingFor(formatTag: number, bits: number, name: string): Encoding {
  if (formatTag === WAVE_FORMAT_IEEE_FLOAT) {
    if (bits === 32) return "f32le";
    throw new WavError(`${name}: ${bits}-bit float WAV is not supported (only 32-bit float)`);
  }
  switch (bits) {
    case 8:
      return "u8"; // 8-bit WAV is unsigned by definition
    case 16:
      return "s16le";
    case 24:
      return "s24le";
    case 32:
      return "s32le";
  }
  throw new WavError(`${name}: ${bits}-bit integer PCM is not supported (8, 16, 24 or 32)`);
}

/**
 * Parses a WAV header from the first bytes of a stream. Returns
 * `need-more` until the data chunk header has arrived; throws WavError with
 * a one-line reason for anything that is not playable PCM. `totalBytes`,
 * when known (a file), lets it catch a data size that lies.
 */
export function parseWavHeader(
  b: Uint8Array,
  name = "WAV",
  totalBytes?: number,
  limit = MAX_WAV_HEADER_BYTES,
): WavHeaderResult {
  if (b.length < RIFF_HEADER_SIZE) {
    if (totalBytes !== undefined && totalBytes < RIFF_HEADER_SIZE) {
      throw new WavError(`${name}: truncated: ${totalBytes} bytes is too short for a WAV header`);
    }
    return { status: "need-more" };
  }
  const riff = tag(b, 0);
  if (riff === "RIFX") throw new WavError(`${name}: big-endian RIFX WAV is not supported`);
  if ((riff !== "RIFF" && !DS64_IDS.includes(riff)) || tag(b, 8) !== "WAVE") {
    // A FLAC or MP3 named .wav (a tagger's or converter's slip) is named for what it is; the way
    // to play it is the caller's to say (the speaker has its decoders, play a pipe).
    const compressed = compressedAudioName(b);
    throw new WavError(`${name}: not a WAV file (no RIFF/WAVE header)${compressed ? `: it is ${compressed}, which pacer does not decode` : ""}`);
  }
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const rf64 = DS64_IDS.includes(riff);
  /** RF64 (EBU Tech 3306): the data size, which no longer fits the data chunk's 32 bits, from ds64. */
  let ds64DataBytes: number | null = null;
  let format: SampleFormat | null = null;
  let at = RIFF_HEADER_SIZE;
  /** The chunk before was odd-sized: its writer may have left out the pad byte. */
  let odd = false;
  for (;;) {
    if (at + CHUNK_HEADER_SIZE > b.length) return needMore(b, name, totalBytes, limit, at + CHUNK_HEADER_SIZE);
    // A chunk id is four printable characters: one byte back, after an odd chunk, is its writer's slip.
    // Where both read as ids (the next chunk's size's low byte printable: "ata@"), a known one wins.
    if (odd && isChunkId(tag(b, at - 1)) && (!isChunkId(tag(b, at)) || (KNOWN_CHUNK_IDS.has(tag(b, at - 1)) && !KNOWN_CHUNK_IDS.has(tag(b, at))))) at -= 1;
    const id = tag(b, at);
    const size = view.getUint32(at + 4, true);
    const body = at + CHUNK_HEADER_SIZE;
    if (id === "data") {
      if (format === null) throw new WavError(`${name}: data chunk comes before the fmt chunk`);
      if (rf64 && ds64DataBytes === null) throw new WavError(`${name}: ${riff} without a ds64 chunk before its data`);
      const bytes = rf64 && size === STREAMING_SIZE ? ds64DataBytes! : size;
      const data = dataSize(bytes, body, format, name, totalBytes);
      const partialFrameBytes = data === null ? 0 : data % bytesPerFrame(format);
      const dataToEnd = sizeUnknown(bytes, bytesPerFrame(format));
      return { status: "ok", format, dataOffset: body, dataBytes: data === null ? null : data - partialFrameBytes, partialFrameBytes, dataToEnd };
    }
    if (body + size > b.length) {
      if (body + size > limit) {
        if (!isChunkId(id)) throw new WavError(`${name}: damaged header: no chunk begins at byte ${at} (its id would be "${printable(id)}", its size ${size} bytes)`);
        throw new WavError(`${name}: chunk "${printable(id)}" of ${size} bytes before the audio data is too large`);
      }
      return needMore(b, name, totalBytes, limit, body + size + (size & 1) + CHUNK_HEADER_SIZE);
    }
    if (id === "fmt ") format = parseFmt(view, body, size, name);
    if (id === "ds64" && rf64) ds64DataBytes = parseDs64(view, body, size, name);
    at = body + size + (size & 1); // chunks are padded to even length
    odd = (size & 1) === 1;
  }
}

/** Chunks WAV writers put before the audio: one of them one byte back, after an odd chunk, is its pad byte left out. */
const KNOWN_CHUNK_IDS = new Set(["data", "fmt ", "fact", "LIST", "JUNK", "PAD ", "bext", "iXML", "axml", "id3 ", "ID3 ", "cue ", "smpl", "inst", "PEAK", "cart", "chna", "ds64"]);

function isChunkId(id: string): boolean {
  return /^[\x20-\x7e]{4}$/.test(id);
}

/** The data size from an RF64 ds64 chunk (riffSize, dataSize, sampleCount: 64 bits each). */
function parseDs64(view: DataView, at: number, size: number, name: string): number {
  if (size < 24) throw new WavError(`${name}: ds64 chunk is ${size} bytes, shorter than the 24 required`);
  const bytes = view.getBigUint64(at + 8, true);
  if (bytes > BigInt(Number.MAX_SAFE_INTEGER)) throw new WavError(`${name}: ds64 says ${bytes} bytes of data`);
  return Number(bytes);
}

function needMore(b: Uint8Array, name: string, totalBytes: number | undefined, limit: number, wants: number): WavHeaderResult {
  if (totalBytes !== undefined && b.length >= totalBytes) {
    throw new WavError(`${name}: truncated: the file ends before its data chunk`);
  }
  if (b.length >= limit) throw new WavError(`${name}: no data chunk in the first ${limit} bytes`);
  return { status: "need-more", wants };
}

/**
 * A WAV file's header, read through `readHead(bytes)` (the file's first `bytes`, fewer at its
 * end): `head` if the caller has read some already, else 64 KiB, then as much more as the
 * chunks before the data say, up to {@link MAX_WAV_FILE_HEADER_BYTES}. Throws WavError as
 * {@link parseWavHeader} does.
 */
export async function readWavFileHeader(
  readHead: (bytes: number) => Promise<Uint8Array>,
  size: number,
  name: string,
  head?: Uint8Array,
): Promise<Extract<WavHeaderResult, { status: "ok" }>> {
  head ??= await readHead(Math.min(size, FIRST_FILE_HEAD_BYTES));
  for (;;) {
    const header = parseWavHeader(head, name, size, MAX_WAV_FILE_HEADER_BYTES);
    if (header.status === "ok") return header;
    // parseWavHeader has thrown where the file or the limit ends first.
    const longer = await readHead(Math.min(size, MAX_WAV_FILE_HEADER_BYTES, Math.max(header.wants ?? 0, 2 * head.length)));
    if (longer.length <= head.length) throw new WavError(`${name}: truncated: the file ends before its data chunk`);
    head = longer;
  }
}

function printable(id: string): string {
  return id.replace(/[^\x20-\x7e]/g, "?");
}

/** The data's bytes, whole frames or not; null where a stream's header leaves it open. */
function dataSize(size: number, body: number, format: SampleFormat, name: string, totalBytes?: number): number | null {
  const frame = bytesPerFrame(format);
  // Streaming writers leave the size open; play to the end of the input.
  if (totalBytes === undefined) return sizeUnknown(size, frame) ? null : size;
  const available = totalBytes - body;
  if (sizeUnknown(size, frame)) return available;
  if (size > available) {
    throw new WavError(`${name}: truncated or lying header: data chunk says ${size} bytes but only ${available} follow`);
  }
  return size;
}

function sizeUnknown(size: number, frame: number): boolean {
  return (
    size === STREAMING_SIZE ||
    size === 0 ||
    size === SOX_UNKNOWN_SIZE ||
    size === SOX_UNKNOWN_SIZE - (SOX_UNKNOWN_SIZE % frame) ||
    PIPE_WRITERS_UNKNOWN_SIZES.includes(size)
  );
}

/**
 * The longest chunk after a stream's open-ended data taken for a trailer. GStreamer's wavenc, its
 * header's sizes unknown on a pipe, ends the stream with a LIST of its tags (12 bytes untagged).
 */
export const MAX_TRAILER_BYTES = 4096;

/** Chunks writers append after the data (tags, cue points, loops): as bytes, so a scan of samples allocates nothing. */
const TRAILER_IDS = ["LIST", "id3 ", "ID3 ", "cue ", "smpl", "inst", "iXML", "_PMX", "JUNK", "PAD ", "bext", "axml", "cart", "fact"].map((id) =>
  [0, 1, 2, 3].map((i) => id.charCodeAt(i)),
);

/**
 * Where in `b[from, to)`, the last bytes of a WAV's data that runs to the end of its stream, a
 * chunk begins that could end the stream (a known id, a size of at most MAX_TRAILER_BYTES, its
 * end not before `to`), or that could still become one (a known id's first bytes, its header cut
 * at `to`): the earliest such index, or `to` where none. `dataAt` is the data offset of
 * `b[from]`: a chunk begins at a whole frame, or one pad byte past odd-sized data. `ended`: no
 * byte follows `to`, so only a chunk that ends exactly there is one.
 */
export function trailerStart(b: Uint8Array, from: number, to: number, dataAt: number, frameBytes: number, ended: boolean): number {
  for (let i = Math.max(from, to - MAX_TRAILER_BYTES); i < to; i++) {
    const p = dataAt + (i - from);
    const r = p % frameBytes;
    if ((r === 0 || (r === 1 && p % 2 === 0)) && trailerAt(b, i, to, ended)) return i;
  }
  return to;
}

function trailerAt(b: Uint8Array, at: number, to: number, ended: boolean): boolean {
  const left = to - at;
  if (left < CHUNK_HEADER_SIZE && ended) return false; // a header cut short is no chunk
  let known = false;
  for (let k = 0; k < TRAILER_IDS.length; k++) {
    const id = TRAILER_IDS[k]!;
    let i = 0;
    while (i < 4 && i < left && b[at + i] === id[i]) i++;
    if (i === 4 || i === left) known = true;
  }
  if (!known || left < CHUNK_HEADER_SIZE) return known;
  const size = (b[at + 4]! | (b[at + 5]! << 8) | (b[at + 6]! << 16)) + b[at + 7]! * 0x1000000;
  const padded = CHUNK_HEADER_SIZE + size + (size & 1);
  if (padded > MAX_TRAILER_BYTES) return false;
  // A writer may leave out an odd chunk's pad byte.
  if (ended) return left === padded || left === CHUNK_HEADER_SIZE + size;
  return left <= padded;
}

function parseFmt(view: DataView, at: number, size: number, name: string): SampleFormat {
  if (size < FMT_MIN_SIZE) throw new WavError(`${name}: fmt chunk is ${size} bytes, shorter than the 16 required`);
  let formatTag = view.getUint16(at, true);
  const channels = view.getUint16(at + 2, true);
  const rate = view.getUint32(at + 4, true);
  const byteRate = view.getUint32(at + 8, true);
  const blockAlign = view.getUint16(at + 12, true);
  const bits = view.getUint16(at + 14, true);
  if (formatTag === WAVE_FORMAT_EXTENSIBLE) {
    if (size < FMT_EXTENSIBLE_SIZE) throw new WavError(`${name}: WAVE_FORMAT_EXTENSIBLE fmt chunk is only ${size} bytes`);
    // Fewer valid bits than the container (20 in 24, 24 in 32, 12 in 16) are its top bits, the
    // rest zero: the samples play as the container's width. They were refused but for 24 in 32.
    const validBits = view.getUint16(at + 18, true);
    if (validBits > bits) {
      throw new WavError(`${name}: lying header: ${validBits} valid bits in ${bits}-bit containers`);
    }
    formatTag = view.getUint16(at + 24, true); // first two bytes of the SubFormat GUID
  }
  if (formatTag !== WAVE_FORMAT_PCM && formatTag !== WAVE_FORMAT_IEEE_FLOAT) {
    throw notPcm(name, formatTag);
  }
  if (channels < 1 || channels > 64) throw new WavError(`${name}: header says ${channels} channels`);
  if (rate < 1 || rate > 768_000) throw new WavError(`${name}: header says a sample rate of ${rate} Hz`);
  const encoding = encodingFor(formatTag, bits, name);
  const format: SampleFormat = { encoding, rate, channels };
  const expectedAlign = bytesPerSample(encoding) * channels;
  if (blockAlign !== expectedAlign) {
    throw new WavError(`${name}: lying header: block align ${blockAlign} but ${channels} × ${bits}-bit needs ${expectedAlign}`);
  }
  if (byteRate !== rate * blockAlign) {
    throw new WavError(`${name}: lying header: byte rate ${byteRate} but ${rate} Hz × ${blockAlign} bytes is ${rate * blockAlign}`);
  }
  return format;
}

/** A canonical 44-byte header (68 with WAVE_FORMAT_EXTENSIBLE for > 2 channels or 24/32-bit). */
export function wavHeader(format: SampleFormat, dataBytes: number): Uint8Array {
  const extensible = format.channels > 2;
  const fmtSize = extensible ? FMT_EXTENSIBLE_SIZE : FMT_MIN_SIZE;
  const headerSize = RIFF_HEADER_SIZE + CHUNK_HEADER_SIZE + fmtSize + CHUNK_HEADER_SIZE;
  const out = new Uint8Array(headerSize);
  const view = new DataView(out.buffer);
  const ascii = (at: number, s: string) => {
    for (let i = 0; i < 4; i++) out[at + i] = s.charCodeAt(i);
  };
  const float = format.encoding === "f32le";
  const tagValue = float ? WAVE_FORMAT_IEEE_FLOAT : WAVE_FORMAT_PCM;
  const sampleBytes = bytesPerSample(format.encoding);
  const blockAlign = sampleBytes * format.channels;
  ascii(0, "RIFF");
  view.setUint32(4, Math.min(0xffffffff, headerSize - 8 + dataBytes), true);
  ascii(8, "WAVE");
  ascii(12, "fmt ");
  view.setUint32(16, fmtSize, true);
  view.setUint16(20, extensible ? WAVE_FORMAT_EXTENSIBLE : tagValue, true);
  view.setUint16(22, format.channels, true);
  view.setUint32(24, format.rate, true);
  view.setUint32(28, format.rate * blockAlign, true);
  view.setUint16(32, blockAlign, true);
  view.setUint16(34, sampleBytes * 8, true);
  let at = 36;
  if (extensible) {
    view.setUint16(36, 22, true);
    view.setUint16(38, sampleBytes * 8, true);
    view.setUint32(40, 0, true); // no speaker positions claimed
    // KSDATAFORMAT_SUBTYPE_PCM / _IEEE_FLOAT: {0000000X-0000-0010-8000-00aa00389b71}
    const guidTail = [0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71];
    view.setUint16(44, tagValue, true);
    out.set(guidTail, 46);
    at = 60;
  }
  ascii(at, "data");
  view.setUint32(at + 4, Math.min(0xffffffff, dataBytes), true);
  return out;
}

/** A JUNK chunk's body in a recording header: the room a ds64 chunk takes when the file passes 4 GiB. */
const DS64_BODY_SIZE = 28;
/** Past this, the RIFF and data sizes no longer fit 32 bits: the header becomes RF64. */
const RIFF_LIMIT = 0xffffffff;

/**
 * The header of a WAV being recorded, the same length whatever `dataBytes` is, so it can be
 * rewritten in place as the file grows: RIFF with a JUNK chunk reserving room for a ds64 chunk,
 * which becomes RF64 with that ds64 (EBU Tech 3306) once the sizes pass 32 bits.
 *
 * ```
 * "RIFF" size "WAVE" "JUNK" 28 <28 zero bytes> "fmt " ... "data" size
 * "RF64" -1   "WAVE" "ds64" 28 riffSize(8) dataSize(8) sampleCount(8) table(4)=0 "fmt " ... "data" -1
 * ```
 */
export function wavRecordingHeader(format: SampleFormat, dataBytes: number): Uint8Array {
  const plain = wavHeader(format, 0);
  const size = plain.length + CHUNK_HEADER_SIZE + DS64_BODY_SIZE;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  out.set(plain.subarray(0, RIFF_HEADER_SIZE), 0);
  out.set(plain.subarray(RIFF_HEADER_SIZE), RIFF_HEADER_SIZE + CHUNK_HEADER_SIZE + DS64_BODY_SIZE);
  const riffSize = size - 8 + dataBytes;
  const ascii = (at: number, s: string) => {
    for (let i = 0; i < 4; i++) out[at + i] = s.charCodeAt(i);
  };
  const dataSizeAt = size - 4;
  if (riffSize <= RIFF_LIMIT) {
    ascii(12, "JUNK");
    view.setUint32(16, DS64_BODY_SIZE, true);
    view.setUint32(4, riffSize, true);
    view.setUint32(dataSizeAt, dataBytes, true);
    return out;
  }
  ascii(0, "RF64");
  view.setUint32(4, RIFF_LIMIT, true);
  ascii(12, "ds64");
  view.setUint32(16, DS64_BODY_SIZE, true);
  view.setBigUint64(20, BigInt(riffSize), true);
  view.setBigUint64(28, BigInt(dataBytes), true);
  view.setBigUint64(36, BigInt(Math.floor(dataBytes / bytesPerFrame(format))), true);
  view.setUint32(44, 0, true); // no table entries
  view.setUint32(dataSizeAt, RIFF_LIMIT, true);
  return out;
}

/**
 * Rewrites, in place, the data size that a parsed header (`dataOffset` from parseWavHeader)
 * declares, so a copy of it declares `dataBytes`: the data chunk's size, and in an RF64 or BW64
 * its ds64's dataSize (the chunk EBU Tech 3306 puts first), which readers take where the data
 * chunk says -1; a data chunk that holds a size of its own gets the new one too. Other
 * sizes (RIFF's, the sample count) are left: readers go by the data size. A RIFX is left as it is.
 */
export function declareDataBytes(header: Uint8Array, dataOffset: number, dataBytes: number): void {
  const view = new DataView(header.buffer, header.byteOffset, header.length);
  const id = tag(header, 0);
  if (id !== "RIFF" && !DS64_IDS.includes(id)) return;
  // RIFF's size, or an RF64's where its writer put one that fits (what readers take before ds64).
  if (id === "RIFF" || view.getUint32(dataOffset - 4, true) !== RIFF_LIMIT) view.setUint32(dataOffset - 4, dataBytes, true);
  // ds64 too, with the chunk's -1 or beside a size that fits: both then say the same.
  if (DS64_IDS.includes(id) && tag(header, 12) === "ds64") view.setBigUint64(28, BigInt(dataBytes), true);
}
