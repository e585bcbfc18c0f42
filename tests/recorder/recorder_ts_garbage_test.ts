/**
 * Garbage between a `.ts` recording's packets costs no CC error, whatever its first byte: one
 * that starts with a sync byte (0x47, or a run of them) was taken for a packet, the real packet
 * it overlapped skipped as garbage, and that PID's next packet counted a CC error. The bytes are
 * kept as they came either way, and a packet really lost is still counted.
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { silentLogger } from "../../foundation/log.ts";
import { makeTempDir } from "../helpers/mpeg_fixtures.ts";
import { Recorder } from "../../recorder/recorder.ts";
import { streamSource } from "../../sources/stream_source.ts";

/** Packet `i` of PID 0x100, continuity counter `i` mod 16, with payload. */
function packet(i: number): Uint8Array {
  const p = new Uint8Array(188).fill(i & 0x3f, 4);
  p.set([0x47, 0x01, 0x00, 0x10 | (i & 0x0f)]);
  return p;
}

/** 200 packets with `garbage(k)` after every tenth, but for those `skip` leaves out. */
function stream(garbage: (k: number) => Uint8Array, skip = new Set<number>()): Buffer {
  const parts: Uint8Array[] = [];
  for (let i = 0; i < 200; i++) {
    if (!skip.has(i)) parts.push(packet(i));
    if (i % 10 === 9) parts.push(garbage((i - 9) / 10));
  }
  return Buffer.concat(parts);
}

async function record(bytes: Buffer) {
  const { dir, cleanup } = makeTempDir();
  try {
    const input = new PassThrough();
    const out = join(dir, "x.ts");
    const recorder = new Recorder(streamSource("test input", input), { pattern: out, kind: "ts", syncEveryMs: 1000, log: silentLogger });
    input.end(bytes);
    const summary = await recorder.done;
    expect(summary.error).toBeNull();
    expect(readFileSync(out).equals(bytes)).toBe(true);
    return summary;
  } finally {
    cleanup();
  }
}

test("runs of 0x47 between packets, 1 to 400 bytes long: no CC error, every byte kept", async () => {
  const lengths = [1, 2, 4, 100, 187, 189, 300, 400];
  const summary = await record(stream((k) => new Uint8Array(lengths[k % lengths.length]!).fill(0x47)));
  expect(summary.ccErrors).toBe(0);
  expect(summary.notTs).toBeNull();
});

test("garbage that starts with a sync byte and goes on as anything: no CC error", async () => {
  const summary = await record(stream((k) => new Uint8Array(50 + 30 * k).map((_, j) => (j === 0 ? 0x47 : (j * 73 + k) & 0xff))));
  expect(summary.ccErrors).toBe(0);
});

test("a packet really lost is still a CC error, and garbage after the packet before it costs none", async () => {
  const summary = await record(stream(() => new Uint8Array([0x47]), new Set([15, 77])));
  expect(summary.ccErrors).toBe(2);
});
