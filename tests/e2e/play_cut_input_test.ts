/**
 * Inputs played back to back where one ends inside a unit (a hostile try):
 * a stream cut 1 byte into a PCM frame, a TS file cut inside a packet. The
 * cut unit is completed (silence, TS stuffing) and said in one warning, so
 * the next input plays aligned and byte for byte.
 *
 * Before, the next input followed the stray bytes directly: PCM after a
 * stdin cut 1 byte into a frame was read one byte off, every sample of it
 * noise; the next TS file's first packet (its PAT) was skipped as garbage.
 *
 * Real subprocesses and real files.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TS_SIZE } from "../../protocol/mpegts.ts";
import { rampS16 } from "../helpers/audio.ts";
import { makeCbrTs, sameButSeamMends } from "../helpers/mpeg_fixtures.ts";
import { runPacer } from "../helpers/pacer.ts";

const dir = mkdtempSync(join(tmpdir(), "pacer-cut-input-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** s16le stereo: 4 bytes a frame. */
const FRAME = 4;

describe("an input that ends inside a unit, followed by another", () => {
  test("raw PCM on stdin cut 1 byte into a frame: the next file plays aligned", async () => {
    const cut = rampS16(2000).subarray(0, 1000 * FRAME + 1);
    const next = rampS16(4410);
    const nextPath = join(dir, "next.raw");
    writeFileSync(nextPath, next);
    const out = join(dir, "pcm-out.raw");
    const run = await runPacer(["play", "-", nextPath, "--format", "s16le:44100:2", "--to", `file:${out}`], { stdin: cut });
    expect(run.code).toBe(0);
    expect(run.stderr).toBe(
      "pacer: warn: stdin ended 1 byte into a 4-byte frame; 3 bytes of silence complete it, so the next input plays aligned\n",
    );
    const written = readFileSync(out);
    expect(written.length).toBe(1001 * FRAME + next.length);
    expect(written.subarray(0, cut.length).equals(cut)).toBe(true);
    expect([...written.subarray(cut.length, 1001 * FRAME)]).toEqual([0, 0, 0]);
    expect(written.subarray(1001 * FRAME).equals(next)).toBe(true);
  });

  test("a TS file cut inside its last packet: the next file's packets all go out whole", async () => {
    const ts = makeCbrTs({ bitrate: 1_000_000, duration: 0.3 });
    const cutPath = join(dir, "cut.ts");
    const kept = 100 * TS_SIZE + 181;
    writeFileSync(cutPath, ts.subarray(0, kept));
    const nextPath = join(dir, "next.ts");
    writeFileSync(nextPath, ts);
    const out = join(dir, "ts-out.ts");
    const run = await runPacer(["play", cutPath, nextPath, "--to", `file:${out}`]);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe(
      `pacer: warn: ${cutPath} ended 181 bytes into a 188-byte packet; 7 bytes of stuffing complete it, so the next input plays aligned\n`,
    );
    const written = readFileSync(out);
    expect(written.length).toBe(101 * TS_SIZE + ts.length);
    expect(written.subarray(0, kept).equals(Buffer.from(ts.subarray(0, kept)))).toBe(true);
    // The next file whole, its counters going on from the first's (ts_seams.ts).
    expect(sameButSeamMends(written.subarray(101 * TS_SIZE), ts)).toBe(true);
  });

  test("a TS file cut at both ends (a capture begun inside a packet): its packets are counted from its first, so its last goes out completed and a whole one is left alone", async () => {
    const ts = makeCbrTs({ bitrate: 1_000_000, duration: 0.3 });
    const nextPath = join(dir, "next-after-lead.ts");
    writeFileSync(nextPath, ts);
    const lead = 5; // the tail of a packet before the first whole one
    // Counted from byte 0, the cut last packet was "186 bytes into" one: 2 bytes of stuffing left
    // it 5 short, and it was lost as garbage.
    const cutPath = join(dir, "cut-both.ts");
    writeFileSync(cutPath, ts.subarray(TS_SIZE - lead, 101 * TS_SIZE + 181));
    const out = join(dir, "ts-cut-both-out.ts");
    const run = await runPacer(["play", cutPath, nextPath, "--to", `file:${out}`]);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe(
      `pacer: warn: ${cutPath} + ${nextPath}: ${lead} bytes at byte 0 are not MPEG-TS packets; skipped, so datagrams stay packet-aligned\n` +
        `pacer: warn: ${cutPath} ended 181 bytes into a 188-byte packet; 7 bytes of stuffing complete it, so the next input plays aligned\n`,
    );
    const written = readFileSync(out);
    expect(written.length).toBe(101 * TS_SIZE + ts.length);
    expect(written.subarray(0, 100 * TS_SIZE + 181).equals(Buffer.from(ts.subarray(TS_SIZE, 101 * TS_SIZE + 181)))).toBe(true);
    expect(sameButSeamMends(written.subarray(101 * TS_SIZE), ts)).toBe(true);

    // Whole packets after the lead: nothing to complete, and no stuffing skipped as garbage.
    const wholePath = join(dir, "lead-whole.ts");
    writeFileSync(wholePath, ts.subarray(TS_SIZE - lead, 101 * TS_SIZE));
    const whole = await runPacer(["play", wholePath, nextPath, "--to", `file:${out}`]);
    expect(whole.code).toBe(0);
    expect(whole.stderr).toBe(`pacer: warn: ${wholePath} + ${nextPath}: ${lead} bytes at byte 0 are not MPEG-TS packets; skipped, so datagrams stay packet-aligned\n`);
    expect(readFileSync(out).length).toBe(100 * TS_SIZE + ts.length);
  });
});
