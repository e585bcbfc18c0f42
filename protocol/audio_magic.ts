/**
 * Compressed audio files told by their first bytes, so an input pacer does not decode is named
 * for what it is. A music library holds FLAC, MP3, Ogg and AAC beside its WAVs: `pacer play
 * song.flac` was told to "give --format for raw PCM", which plays the FLAC's bytes as noise.
 * Only unmistakable magic numbers count (a bare MPEG frame sync could be a PCM sample).
 *
 * @example
 * ```ts
 * compressedAudioName(new TextEncoder().encode("fLaC\0\0\0\x22")); // "FLAC"
 * ```
 */

const AT_START: readonly (readonly [string, string])[] = [
  ["fLaC", "FLAC"],
  ["ID3", "MP3 (ID3-tagged)"],
  ["OggS", "Ogg (Vorbis, Opus or FLAC)"],
  ["caff", "Core Audio (CAF)"],
  ["wvpk", "WavPack"],
  ["MAC ", "Monkey's Audio"],
  ["#!AMR", "AMR"],
  [".snd", "Sun/NeXT audio (AU)"],
];
/** The ASF header object's GUID: WMA. */
const ASF_GUID = [0x30, 0x26, 0xb2, 0x75, 0x8e, 0x66, 0xcf, 0x11];

function ascii(head: Uint8Array, at: number, length: number): string {
  return head.length < at + length ? "" : String.fromCharCode(...head.subarray(at, at + length));
}

/** What compressed audio `head` (an input's first 12 bytes or more) starts as, or null. */
export function compressedAudioName(head: Uint8Array): string | null {
  for (const [magic, name] of AT_START) if (ascii(head, 0, magic.length) === magic) return name;
  if (ascii(head, 0, 4) === "FORM" && ["AIFF", "AIFC"].includes(ascii(head, 8, 4))) return "AIFF (big-endian)";
  if (ascii(head, 4, 4) === "ftyp") return "MP4/M4A (AAC or ALAC)";
  if (ASF_GUID.every((b, i) => head[i] === b)) return "WMA (ASF)";
  return null;
}

/** The end of a line refusing `name`: what to do instead. */
export const DECODE_IT_FIRST = "decode it first (ffmpeg -i IN -f wav - | pacer play - …)";
