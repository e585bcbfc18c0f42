/**
 * An SDP file given to `pacer play` as its input, as ffplay and VLC take one (a hostile try): it
 * is named for what it is, with the input URL that receives the stream it describes. Before, it
 * was "not WAV, MPEG-TS or MPEG-PS; give --format … or --bitrate", and with --format its text
 * played as PCM noise.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runPacer } from "../helpers/pacer.ts";

const dir = mkdtempSync(join(tmpdir(), "pacer-sdp-input-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("an SDP file as an input", () => {
  test("exit 2, naming the rtp://@ URL and --format that receive its first stream; --format does not play its text", async () => {
    const sdp = join(dir, "aes67.sdp");
    writeFileSync(sdp, [
      "v=0", "o=- 1 1 IN IP4 10.0.0.1", "s=desk", "t=0 0",
      "m=audio 5004 RTP/AVP 96", "c=IN IP4 239.1.2.3/32", "a=source-filter: incl IN IP4 239.1.2.3 10.0.0.1",
      "a=rtpmap:96 L24/48000/2", "m=video 5006 RTP/AVP 33", "",
    ].join("\r\n"));
    const line = `pacer: error: ${sdp}: an SDP file, which pacer does not read as an input; ` +
      "receive the stream it describes as rtp://@239.1.2.3:5004?source=10.0.0.1 --format s24be:48000:2\n";
    const out = join(dir, "noise.raw");
    const run = await runPacer(["play", sdp, "--to", `file:${out}`]);
    expect({ stderr: run.stderr, code: run.code }).toEqual({ stderr: line, code: 2 });
    const formatted = await runPacer(["play", sdp, "--format", "s16le:48000:2", "--to", `file:${out}`]);
    expect({ stderr: formatted.stderr, code: formatted.code }).toEqual({ stderr: line, code: 2 });
    expect(existsSync(out)).toBe(false);
  });

  test("unicast L16 at 44.1 kHz stereo (payload type 10) needs no --format: rtp://@:PORT", async () => {
    const sdp = join(dir, "ffmpeg.sdp");
    writeFileSync(sdp, "v=0\no=- 0 0 IN IP4 127.0.0.1\ns=No Name\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 41021 RTP/AVP 10\nb=AS:1411\n");
    const run = await runPacer(["play", sdp, "--to", `file:${join(dir, "x.raw")}`]);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(`pacer: error: ${sdp}: an SDP file, which pacer does not read as an input; receive the stream it describes as rtp://@:41021\n`);
  });
});
