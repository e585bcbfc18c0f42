/** Opening files: the head is read in two steps, and the second is taken only when the first is not enough. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openInput } from "../../sources/open_input.ts";

const dir = mkdtempSync(join(tmpdir(), "pacer-open-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A 16-bit stereo 44.1 kHz WAV with a `LIST` chunk of `metadataBytes` before its samples. */
function wavWithMetadata(metadataBytes: number, samples: Buffer): Buffer {
  const fmt = Buffer.alloc(24);
  fmt.write("fmt ", 0);
  fmt.writeUInt32LE(16, 4);
  fmt.writeUInt16LE(1, 8); // PCM
  fmt.writeUInt16LE(2, 10);
  fmt.writeUInt32LE(44_100, 12);
  fmt.writeUInt32LE(44_100 * 4, 16);
  fmt.writeUInt16LE(4, 20);
  fmt.writeUInt16LE(16, 22);
  const list = Buffer.alloc(8 + metadataBytes, 0x20);
  list.write("LIST", 0);
  list.writeUInt32LE(metadataBytes, 4);
  const data = Buffer.alloc(8);
  data.write("data", 0);
  data.writeUInt32LE(samples.length, 4);
  const riff = Buffer.alloc(12);
  riff.write("RIFF", 0);
  riff.writeUInt32LE(4 + fmt.length + list.length + data.length + samples.length, 4);
  riff.write("WAVE", 8);
  return Buffer.concat([riff, fmt, list, data, samples]);
}

describe("openInput on files", () => {
  test("a WAV whose samples start past the first 64 KiB (a 200 KB metadata chunk) opens at the right offset", async () => {
    const samples = Buffer.alloc(44_100 * 4, 7);
    const path = join(dir, "tagged.wav");
    writeFileSync(path, wavWithMetadata(200_000, samples));
    const opened = await openInput(path);
    const first = Buffer.alloc(64);
    expect(opened.source.read(first, 0, first.length)).toBe(first.length);
    opened.source.close();
    expect([...first].every((b) => b === 7)).toBe(true); // samples, not the metadata's spaces
    expect(opened.info.format).toEqual({ encoding: "s16le", rate: 44_100, channels: 2 });
    expect(opened.info.mediaBytes).toBe(samples.length);
    expect(opened.info.durationUs).toBe(1_000_000);
  });
});
