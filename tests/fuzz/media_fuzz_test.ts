/**
 * Fuzzing the media parsers (issue 16): WAV (RIFF, RF64), MPEG-TS and M2TS, MPEG-PS, and RTP on
 * receive. Structured inputs (a valid stream with bytes overwritten, cut short or extended) get past
 * the first checks; random bytes cover the rest. Each parser either reads the input or refuses it
 * with its own error; nothing else may escape, no case may hang, memory stays bounded.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { ArrivalClock, PcrClock, ScrClock } from "../../protocol/mpeg_timing.ts";
import { detectContainer, probePs, probeTs, tsPackingOf } from "../../protocol/mpeg_probe.ts";
import { M2TS_PACKING } from "../../protocol/mpeg_m2ts.ts";
import { RTP_HEADER_SIZE, rtpSetHeader, rtpSetSeqnum, rtpSetSsrc, rtpSetTimestamp } from "../../protocol/rtp.ts";
import { bytesPerFrame } from "../../protocol/sample_format.ts";
import { parseWavHeader, WavError, wavHeader, wavRecordingHeader } from "../../protocol/wav.ts";
import { RtpReorder } from "../../sources/rtp_reorder.ts";
import { makeCbrPs, makeCbrTs, makeM2ts } from "../helpers/mpeg_fixtures.ts";
import { FUZZ_TIMEOUT_MS, fuzz, mutated, refusal } from "./fuzz.ts";

const CD = { encoding: "s16le", rate: 44_100, channels: 2 } as const;

function withData(header: Uint8Array, dataBytes: number): Uint8Array {
  const out = new Uint8Array(header.length + dataBytes);
  out.set(header);
  return out;
}

/** Splits `bytes` into chunks at the given cut points, for clocks that observe a stream piece by piece. */
function chunks(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let from = 0;
  for (const p of [...points, bytes.length]) {
    if (p > from) out.push(bytes.subarray(from, p));
    from = Math.max(from, p);
  }
  return out;
}

/** Times at increasing offsets never go back, and are numbers. */
function expectMonotonic(timeAt: (offset: number) => number, end: number): void {
  let last = -Infinity;
  for (let offset = 0; offset <= end + 4096; offset += 997) {
    const t = timeAt(offset);
    expect(Number.isNaN(t)).toBe(false);
    expect(t).toBeGreaterThanOrEqual(last);
    last = t;
  }
}

describe("fuzz: WAV headers", () => {
  const bases = [
    withData(wavHeader(CD, 4000), 4000),
    withData(wavHeader({ encoding: "f32le", rate: 48_000, channels: 1 }, 400), 400),
    withData(wavRecordingHeader({ encoding: "s24le", rate: 48_000, channels: 2 }, 5 * 2 ** 30), 600),
  ];
  test("a header is read or refused with a WavError; what is read describes playable PCM", () => {
    const input = fc.tuple(fc.oneof(...bases.map((b) => mutated(b))), fc.boolean());
    fuzz("wav", input, ([bytes, knowSize]) => {
      const result = refusal(() => parseWavHeader(bytes, "fuzz.wav", knowSize ? bytes.length : undefined), [WavError]);
      if (result?.status !== "ok") return;
      expect(bytesPerFrame(result.format)).toBeGreaterThan(0);
      expect(result.format.rate).toBeGreaterThan(0);
      expect(result.dataOffset).toBeGreaterThanOrEqual(12);
      expect(result.dataOffset).toBeLessThanOrEqual(bytes.length);
    });
  }, FUZZ_TIMEOUT_MS);
});

describe("fuzz: MPEG", () => {
  const ts = makeCbrTs({ bitrate: 1_000_000, duration: 0.2, pcrIntervalMs: 10 });
  const m2ts = makeM2ts(ts.subarray(0, 188 * 60), (k) => k * 40_000);
  const ps = makeCbrPs({ muxRate: 125_000, duration: 0.5, packSize: 2048 });

  test("TS and M2TS: probing never throws; the PCR clock's times never go back", () => {
    const input = fc.tuple(fc.oneof(mutated(ts), mutated(m2ts)), fc.array(fc.nat(), { maxLength: 8 }));
    fuzz("mpeg-ts", input, ([bytes, cuts]) => {
      detectContainer(bytes);
      const packing = tsPackingOf(bytes);
      const probe = probeTs(bytes, { packing });
      expect(probe.packets).toBeGreaterThanOrEqual(0);
      probeTs(bytes, { packing: M2TS_PACKING });
      const pcr = new PcrClock();
      const arrival = new ArrivalClock();
      let offset = 0;
      for (const chunk of chunks(bytes, cuts)) {
        pcr.observe(chunk, offset);
        arrival.observe(chunk, offset);
        offset += chunk.length;
      }
      expectMonotonic((o) => pcr.timeAt(o), bytes.length);
    });
  }, FUZZ_TIMEOUT_MS);

  test("PS: probing never throws; the SCR clock's times never go back", () => {
    const input = fc.tuple(mutated(ps), fc.array(fc.nat(), { maxLength: 8 }));
    fuzz("mpeg-ps", input, ([bytes, cuts]) => {
      detectContainer(bytes);
      probePs(bytes);
      const scr = new ScrClock();
      let offset = 0;
      for (const chunk of chunks(bytes, cuts)) {
        scr.observe(chunk, offset);
        offset += chunk.length;
      }
      expectMonotonic((o) => scr.timeAt(o), bytes.length);
    });
  }, FUZZ_TIMEOUT_MS);
});

describe("fuzz: RTP on receive", () => {
  /** A datagram: a valid header with a chosen seq/ssrc, then damage. */
  const datagram = fc
    .record({
      seq: fc.integer({ min: 0, max: 0xffff }),
      ssrc: fc.constantFrom(1, 2, 0xdeadbeef),
      payload: fc.uint8Array({ maxLength: 1400 }),
      damage: fc.array(fc.tuple(fc.nat({ max: 15 }), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }),
      cut: fc.option(fc.nat({ max: 20 }), { nil: undefined }),
    })
    .map(({ seq, ssrc, payload, damage, cut }) => {
      const p = new Uint8Array(RTP_HEADER_SIZE + payload.length);
      rtpSetHeader(p, 33);
      rtpSetSeqnum(p, seq);
      rtpSetTimestamp(p, seq * 90);
      rtpSetSsrc(p, ssrc);
      p.set(payload, RTP_HEADER_SIZE);
      for (const [at, v] of damage) p[at] = v;
      return cut === undefined ? p : p.subarray(0, cut);
    });

  test("the reorder window takes any datagrams: never throws, never delivers more than it got", () => {
    const input = fc.array(fc.tuple(datagram, fc.nat({ max: 50 })), { maxLength: 200 });
    fuzz("rtp-receive", input, (packets) => {
      let delivered = 0;
      let pushed = 0;
      const reorder = new RtpReorder({ deliver: (payload) => (delivered += payload.length), onLoss: () => {}, window: 16 });
      let now = 0;
      for (const [p, dt] of packets) {
        now += dt;
        pushed += Math.max(0, p.length - RTP_HEADER_SIZE);
        reorder.push(p, now);
      }
      reorder.tick(now + 10_000);
      reorder.flush();
      expect(delivered).toBeLessThanOrEqual(pushed);
      for (const n of [reorder.lost, reorder.late, reorder.duplicates, reorder.malformed]) expect(n).toBeGreaterThanOrEqual(0);
    });
  }, FUZZ_TIMEOUT_MS);
});
