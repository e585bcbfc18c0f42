/**
 * Story: a user picks what an rtp:// output carries with format=, pt=, pkt= and ptime=. 24-bit
 * input or a 24-bit format= goes out as L24 with a dynamic type; ptime= sizes packets by time
 * (AES67's 1 ms, 0.125 ms, 4 ms) and refuses a time that is not a whole number of frames; L16's
 * choices are as before.
 */
import { describe, expect, test } from "bun:test";
import { UsageError } from "../../../foundation/errors.ts";
import { parseEndpoint } from "../../../foundation/net/endpoint.ts";
import { planPayload } from "../../../backends/rtp/payload_plan.ts";
import { parseSampleFormat } from "../../../protocol/sample_format.ts";
import { buildSdp, type SdpMedia } from "../../../protocol/sdp.ts";
import type { StreamInfo } from "../../../backends/backend.ts";

const pcm = (spec: string): StreamInfo => ({ kind: "pcm", format: parseSampleFormat(spec) });
const media: SdpMedia = { kind: "audio", address: "127.0.0.1", port: 5004, payloadType: 96, encoding: "L24/96000/1" };
const plan = (url: string, stream: StreamInfo) => planPayload(url, parseEndpoint(url), stream);
const refusal = (url: string, stream: StreamInfo): string => {
  try {
    plan(url, stream);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as Error).message;
  }
  throw new Error(`${url} was accepted`);
};

describe("L24 (RFC 3190)", () => {
  test("24-bit input goes out as L24 on a dynamic type, in s24be", () => {
    const p = plan("rtp://127.0.0.1:5004", pcm("s24le:48000:2"));
    expect(p.encoding).toBe("L24/48000/2");
    expect(p.payloadType).toBe(96);
    expect(p.format).toEqual({ encoding: "s24be", rate: 48_000, channels: 2 });
    expect(p.unitBytes).toBe(Math.floor(1400 / 6) * 6);
  });

  test("format=s24be: converts 16-bit input to L24; format=s16be: 24-bit input to L16", () => {
    expect(plan("rtp://127.0.0.1:5004?format=s24be:48000:2", pcm("s16le:44100:2")).encoding).toBe("L24/48000/2");
    expect(plan("rtp://127.0.0.1:5004?format=s16be:48000:1", pcm("s24le:48000:2")).encoding).toBe("L16/48000/1");
  });

  test("16-bit input stays L16 with the static types at 44.1 kHz, as before", () => {
    const p = plan("rtp://127.0.0.1:5004", pcm("s16le:44100:2"));
    expect([p.encoding, p.payloadType, p.unitBytes]).toEqual(["L16/44100/2", 10, 1400]);
    expect(plan("rtp://127.0.0.1:5004", pcm("f32le:48000:2")).encoding).toBe("L16/48000/2");
  });

  test("L24 refuses a static payload type; other encodings name both L16 and L24", () => {
    expect(refusal("rtp://127.0.0.1:5004?pt=11&format=s24be:48000:1", pcm("s24le:48000:1"))).toContain("pt=10/11 or format=");
    expect(refusal("rtp://127.0.0.1:5004?pt=20", pcm("s24le:48000:1"))).toContain("L24 has no static payload type");
    expect(refusal("rtp://127.0.0.1:5004?format=f32le:48000:2", pcm("s16le:48000:2"))).toContain("s24be:RATE:CHANNELS");
  });
});

describe("ptime=MS", () => {
  test("1, 0.125 and 4 ms at 48 kHz are 48, 6 and 192 frames", () => {
    for (const [ptime, frames] of [["1", 48], ["0.125", 6], ["4", 192]] as const) {
      const p = plan(`rtp://127.0.0.1:5004?format=s24be:48000:2&ptime=${ptime}`, pcm("s24le:48000:2"));
      expect(p.unitBytes).toBe(frames * 6);
    }
    expect(plan("rtp://127.0.0.1:5004?ptime=1", pcm("s16le:48000:2")).unitBytes).toBe(48 * 4);
  });

  test("a time as SDPs write it (three decimals) names its whole frames: AES67's 0.333 ms, and the 0.063 pacer writes for 0.0625", () => {
    // Before, only a time within 1e-6 frames passed: AES67's 333 µs had to be typed as 0.33333333.
    expect(plan("rtp://127.0.0.1:5004?format=s24be:48000:2&ptime=0.333", pcm("s24le:48000:2")).unitBytes).toBe(16 * 6);
    expect(plan("rtp://127.0.0.1:5004?format=s24be:96000:2&ptime=0.333", pcm("s24le:48000:2")).unitBytes).toBe(32 * 6);
    const p = plan("rtp://127.0.0.1:5004?format=s24be:96000:1&ptime=0.0625", pcm("s24le:48000:2"));
    expect(p.unitBytes).toBe(6 * 3);
    expect(buildSdp({ sessionId: 1, origin: "127.0.0.1", media: [{ ...media, ptimeMs: 0.0625 }] })).toContain("a=ptime:0.063\r\n");
    expect(plan("rtp://127.0.0.1:5004?format=s24be:96000:1&ptime=0.063", pcm("s24le:48000:2")).unitBytes).toBe(6 * 3);
    // Further off than the third decimal is still refused, naming the nearest whole-frame times.
    expect(refusal("rtp://127.0.0.1:5004?ptime=1", pcm("s16le:44100:2"))).toContain("44.1 frames at 44100 Hz; choose a whole number of frames (0.998 or 1.02)");
    expect(refusal("rtp://127.0.0.1:5004?format=s24be:48000:2&ptime=0.33", pcm("s24le:48000:2"))).toContain("(0.313 or 0.333)");
  });

  test("a time that is not a whole number of frames, pkt= beside it, or ptime= on MPEG is refused", () => {
    expect(refusal("rtp://127.0.0.1:5004?ptime=0.125", pcm("s16le:44100:2"))).toContain("5.5125 frames");
    expect(refusal("rtp://127.0.0.1:5004?ptime=1&pkt=288", pcm("s24le:48000:2"))).toContain("not both");
    expect(refusal("rtp://127.0.0.1:5004?ptime=0", pcm("s24le:48000:2"))).toContain("packet time in ms");
    expect(refusal("rtp://127.0.0.1:5004?ptime=1ms", pcm("s24le:48000:2"))).toContain("packet time in ms");
    expect(refusal("rtp://127.0.0.1:5004?ptime=1", { kind: "mpegts" })).toContain("ptime= is for PCM");
  });
});
