/** Opening files: the head is read in two steps, and the second is taken only when the first is not enough. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openInput } from "../../sources/open_input.ts";
import { wavWithMetadata } from "../helpers/audio.ts";

const dir = mkdtempSync(join(tmpdir(), "pacer-open-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

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
