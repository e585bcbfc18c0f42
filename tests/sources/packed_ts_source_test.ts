/**
 * Unwrapping TS in 192-byte units: the job reads plain 188-byte TS; from M2TS the clock gets each
 * packet's stamp in read order, from TS with trailers the trailers are dropped.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { M2TS_SIZE } from "../../protocol/mpeg_m2ts.ts";
import { TS_SIZE, TS_TRAILER_PACKING } from "../../protocol/mpegts.ts";
import { openFileSource } from "../../sources/file_source.ts";
import { m2tsSource } from "../../sources/m2ts_source.ts";
import { packedTsSource } from "../../sources/packed_ts_source.ts";
import { SOURCE_END, type Source } from "../../sources/source.ts";
import { garbageBytes, insertBytes, makeCbrTs, makeM2ts, makeTrailedTs } from "../helpers/mpeg_fixtures.ts";

const dir = mkdtempSync(join(tmpdir(), "pacer-m2ts-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Everything `source` gives, in reads of `size` bytes. */
function readAll(source: Source, size: number): Buffer {
  const parts: Buffer[] = [];
  const buf = Buffer.alloc(size);
  for (let n = source.read(buf, 0, size); n !== SOURCE_END; n = source.read(buf, 0, size)) parts.push(Buffer.from(buf.subarray(0, n)));
  return Buffer.concat(parts);
}

describe("m2tsSource", () => {
  const ts = makeCbrTs({ bitrate: 2_000_000, duration: 0.5 });
  const count = ts.length / TS_SIZE;
  const m2ts = makeM2ts(ts, (k) => 1000 + 7 * k);
  // Garbage between packets, and a cut-off packet at the end.
  const dirty = Buffer.concat([insertBytes(m2ts, 100 * M2TS_SIZE, garbageBytes(333)), m2ts.subarray(0, 150)]);
  const path = join(dir, "dirty.m2ts");
  writeFileSync(path, dirty);

  test("gives the TS packets and hands their stamps over in order, whatever the read size; garbage and the cut-off packet are left out", () => {
    for (const size of [1, 187, 188, 1316, 100_000]) {
      const stamps: number[] = [];
      const source = m2tsSource(openFileSource(path, 0, dirty.length), { arrived: (ats) => stamps.push(ats) });
      expect(readAll(source, size).equals(Buffer.from(ts))).toBe(true);
      expect(stamps).toEqual(Array.from({ length: count }, (_, k) => 1000 + 7 * k));
      expect(source.skippedBytes).toBe(333 + 150);
      source.close();
    }
  });

  test("a source packet cut short (the next starting inside it) is left out whole, header and all; the next one's TS packet comes intact", () => {
    const cutAt = 50 * M2TS_SIZE;
    const path = join(dir, "cut.m2ts");
    const cut = Buffer.concat([m2ts.subarray(0, cutAt + 100), m2ts.subarray(cutAt + M2TS_SIZE)]);
    writeFileSync(path, cut);
    for (const size of [188, 65_536]) {
      const source = m2tsSource(openFileSource(path, 0, cut.length), null);
      expect(readAll(source, size).equals(Buffer.concat([ts.subarray(0, 50 * TS_SIZE), ts.subarray(51 * TS_SIZE)]))).toBe(true);
      expect(source.skippedBytes).toBe(100);
      source.close();
    }
  });

  test("rewinds for --loop and seeks for --start by TS offsets", () => {
    const stamps: number[] = [];
    const source = m2tsSource(openFileSource(path, 0, dirty.length), { arrived: (ats) => stamps.push(ats) });
    readAll(source, 4096);
    expect(source.rewind()).toBe(true);
    stamps.length = 0;
    expect(readAll(source, 4096).equals(Buffer.from(ts))).toBe(true);
    source.seek(10 * TS_SIZE);
    stamps.length = 0;
    const buf = Buffer.alloc(TS_SIZE);
    expect(source.read(buf, 0, TS_SIZE)).toBe(TS_SIZE);
    expect(buf.equals(Buffer.from(ts.subarray(10 * TS_SIZE, 11 * TS_SIZE)))).toBe(true);
    expect(stamps[0]).toBe(1000 + 70);
    source.close();
  });
});

describe("packedTsSource with trailers", () => {
  test("gives the TS packets without their trailers, whatever the read size; garbage and a cut-off last unit are left out; seeks by TS offsets", () => {
    const ts = makeCbrTs({ bitrate: 2_000_000, duration: 0.5 });
    const trailed = makeTrailedTs(ts, (k) => 0x47474747 + k);
    const dirty = Buffer.concat([insertBytes(trailed, 100 * M2TS_SIZE, garbageBytes(333)), trailed.subarray(0, 150)]);
    const path = join(dir, "dirty_trailers.ts");
    writeFileSync(path, dirty);
    for (const size of [1, 188, 100_000]) {
      const source = packedTsSource(openFileSource(path, 0, dirty.length), TS_TRAILER_PACKING);
      expect(readAll(source, size).equals(Buffer.from(ts))).toBe(true);
      expect(source.skippedBytes).toBe(333 + 150);
      source.seek(10 * TS_SIZE);
      expect(readAll(source, 4096).equals(Buffer.from(ts.subarray(10 * TS_SIZE)))).toBe(true);
      source.close();
    }
  });
});
