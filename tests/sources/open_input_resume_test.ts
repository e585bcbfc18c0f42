/**
 * A server's play `offset` (a receiver resuming a stream that expired): the input opens where the
 * bytes the receiver has end, counted as they went out: a TS's packets, a PCM's frames on the wire.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openInput } from "../../sources/open_input.ts";
import { wireFrameBytes } from "../../server/play_op.ts";
import { writeWav } from "../helpers/audio.ts";
import { makeCbrTs } from "../helpers/mpeg_fixtures.ts";
import { PacerError, UsageError } from "../../foundation/errors.ts";

const dir = mkdtempSync(join(tmpdir(), "pacer-resume-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const TO = "rtp://127.0.0.1:5004";

describe("openInput resumed at an offset", () => {
  test("a TS resumes at the packet after the bytes had; one off a packet, or past the end, is refused", async () => {
    const path = join(dir, "a.ts");
    const ts = makeCbrTs({ bitrate: 1_000_000, duration: 1 });
    writeFileSync(path, ts);
    const resume = (bytes: number) => ({ bytes, wireFrameBytes: () => 1 });
    const opened = await openInput(path, { resume: resume(188 * 70) });
    const first = Buffer.alloc(188);
    opened.source.read(first, 0, 188);
    opened.source.close();
    expect(opened.startOffset).toBe(188 * 70);
    expect(first.equals(Buffer.from(ts.subarray(188 * 70, 188 * 71)))).toBe(true);
    await expect(openInput(path, { resume: resume(1000) })).rejects.toThrow(UsageError);
    await expect(openInput(path, { resume: resume(ts.length) })).rejects.toThrow(PacerError);
  });

  test("8-bit PCM goes out as L16: the receiver's bytes count two per sample, the file's one", async () => {
    const path = join(dir, "a.wav");
    const format = { encoding: "u8", rate: 8_000, channels: 2 } as const;
    writeWav(path, format, Buffer.alloc(8_000 * 2, 0x80));
    // 4000 bytes of L16 stereo on the wire are 1000 frames: 2000 bytes of the file's.
    const opened = await openInput(path, { resume: { bytes: 4_000, wireFrameBytes: (f) => wireFrameBytes(TO, f) } });
    opened.source.close();
    expect(opened.startOffset).toBe(2_000);
    await expect(openInput(path, { resume: { bytes: 4_002, wireFrameBytes: (f) => wireFrameBytes(TO, f) } })).rejects.toThrow("not on a frame");
    // pt=10 is 44.1 kHz: the wire's frames are not the file's.
    await expect(openInput(path, { resume: { bytes: 4_000, wireFrameBytes: (f) => wireFrameBytes(`${TO}?pt=10`, f) } })).rejects.toThrow('give "start"');
  });
});
