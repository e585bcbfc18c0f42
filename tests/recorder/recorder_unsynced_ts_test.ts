/**
 * A `.ts` recording of a stream with no TS packets (here random bytes; a TS in 204-byte units
 * had stood for one, and is now found as such: recorder_ts_units_test.ts) still rotates: a due
 * cut falls where the bytes are once the PAT's wait is over. It had waited for a packet boundary that never came, so `--rotate` and `--keep` did
 * nothing and one file grew until the disk was full. And a stop (--duration, a signal) keeps
 * such a stream's last bytes: 187 of them had been held back as an unfinished packet and lost.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { silentLogger } from "../../foundation/log.ts";
import { garbageBytes, makeTempDir } from "../helpers/mpeg_fixtures.ts";
import { recordedFiles as recorded } from "../helpers/ts_recording.ts";
import { PAT_WAIT_MS, Recorder } from "../../recorder/recorder.ts";
import { streamSource } from "../../sources/stream_source.ts";

test("a .ts of no packets is cut at --rotate SIZE, once the PAT's wait is over, and loses no byte", async () => {
  const { dir, cleanup } = makeTempDir();
  try {
    const input = new PassThrough();
    const recorder = new Recorder(streamSource("test input", input), { pattern: join(dir, "x.ts"), kind: "ts", rotateBytes: 64 * 1024, syncEveryMs: 1000, log: silentLogger });
    const stream = Buffer.from(garbageBytes(102_000));
    const first = stream.subarray(0, 204 * 340); // past 64 KiB: the cut falls due at the next read
    input.write(first);
    const deadline = Date.now() + 3000;
    while (recorder.bytesWritten < 64 * 1024 && Date.now() < deadline) await Bun.sleep(5);
    input.write(stream.subarray(first.length, 204 * 345));
    await Bun.sleep(PAT_WAIT_MS + 200);
    input.end(stream.subarray(204 * 345));
    const summary = await recorder.done;
    expect(summary.error).toBeNull();
    const files = recorded(dir);
    expect(files.length).toBe(2);
    // Cut at the third read's first byte (less the last read's tail, held for a packet's end).
    expect(files[0]!.length).toBeGreaterThanOrEqual(64 * 1024);
    expect(files[0]!.length).toBeLessThanOrEqual(204 * 345);
    expect(Buffer.concat(files).equals(stream)).toBe(true);
  } finally {
    cleanup();
  }
});

test("a .ts of no packets that a stop ends keeps its last bytes", async () => {
  const { dir, cleanup } = makeTempDir();
  try {
    const input = new PassThrough();
    const recorder = new Recorder(streamSource("test input", input), { pattern: join(dir, "x.ts"), kind: "ts", syncEveryMs: 1000, log: silentLogger });
    const stream = Buffer.from(garbageBytes(204 * 40)); // past the head the units are told by
    input.write(stream);
    const deadline = Date.now() + 3000;
    while (recorder.bytesWritten === 0 && Date.now() < deadline) await Bun.sleep(5);
    await Bun.sleep(50); // the read is in hand: nothing more comes
    recorder.stop();
    const summary = await recorder.done;
    expect(summary.error).toBeNull();
    expect(Buffer.concat(recorded(dir)).equals(stream)).toBe(true);
    expect(summary.bytes).toBe(stream.length);
  } finally {
    cleanup();
  }
});
