/**
 * A `.ts` recording of a TS in larger units (DVB's 204-byte packets with Reed-Solomon parity,
 * M2TS's 192 with an arrival stamp first, 188 with a 4-byte trailer), found as `play` finds them:
 * recorded as they came, cut on their boundaries before a PAT, its packets' continuity checked.
 * Read as 188-byte packets, there were none: the summary said `no MPEG-TS packets found`.
 */
import { expect, test } from "bun:test";
import { makeM2ts, makeRsTs, makeTrailedTs } from "../helpers/mpeg_fixtures.ts";
import { recordTs } from "../helpers/ts_recording.ts";

/** 600 TS packets: a PAT every 50th, the rest on PID 0x101, continuity counters running. */
function tsWithPats(): Uint8Array {
  const out = new Uint8Array(600 * 188);
  for (let k = 0; k < 600; k++) {
    const pat = k % 50 === 0;
    const cc = pat ? k / 50 : k - Math.ceil(k / 50);
    out.set([0x47, pat ? 0x40 : 0x01, pat ? 0x00 : 0x01, 0x10 | (cc & 0x0f)], k * 188);
    out.fill(k & 0x3f, k * 188 + 4, (k + 1) * 188);
  }
  return out;
}

const UNITS: [string, Uint8Array, number, number][] = [
  ["204-byte (RS)", makeRsTs(tsWithPats()), 204, 0],
  ["M2TS", makeM2ts(tsWithPats(), (k) => k * 1000), 192, 4],
  ["188 + 4-byte trailer", makeTrailedTs(tsWithPats(), (k) => k), 192, 0],
];

for (const [name, stream, unit, syncAt] of UNITS) {
  test(`a TS in ${name} units: recorded as it came, cut before a PAT on a unit boundary, no warning`, async () => {
    const { summary, files } = await recordTs((input) => input.end(stream), { rotateBytes: 30_000 });
    expect(summary.error).toBeNull();
    expect(summary.notTs).toBeNull();
    expect(summary.ccErrors).toBe(0);
    expect(Buffer.concat(files).equals(Buffer.from(stream))).toBe(true);
    expect(files.length).toBeGreaterThanOrEqual(3);
    for (const file of files) {
      expect(file.length % unit).toBe(0);
      // Each file opens with a PAT's unit: sync byte, PID 0, payload_unit_start.
      expect([file[syncAt], file[syncAt + 1], file[syncAt + 2]]).toEqual([0x47, 0x40, 0x00]);
    }
  });
}

test("a TS in 204-byte units that comes a unit at a time (a datagram each) is found too", async () => {
  const stream = makeRsTs(tsWithPats().subarray(0, 60 * 188));
  const { summary, files } = await recordTs(async (input) => {
    for (let k = 0; k < 60; k++) {
      input.write(stream.subarray(k * 204, (k + 1) * 204));
      await Bun.sleep(1); // each read a unit, too few bytes alone to tell its size by
    }
    input.end();
  });
  expect(summary.notTs).toBeNull();
  expect(summary.ccErrors).toBe(0);
  expect(Buffer.concat(files).equals(Buffer.from(stream))).toBe(true);
});
