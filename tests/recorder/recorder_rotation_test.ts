/**
 * A rotation whose next file cannot be made ends the recording with an error, and the summary's
 * bytes are what the one file on disk holds: the closed file is counted once (a review found
 * 56,400 bytes reported for 28,200 on disk, the closed file counted again).
 */
import { expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { silentLogger } from "../../foundation/log.ts";
import { patPackets } from "../helpers/mpeg_fixtures.ts";
import { Recorder } from "../../recorder/recorder.ts";
import { streamSource } from "../../sources/stream_source.ts";

const twoDigits = (n: number) => String(n).padStart(2, "0");

test("a rotation that cannot open its next file: an error, and bytes are the closed file's, counted once", async () => {
  const dir = mkdtempSync(join(tmpdir(), "pacer-rotation-"));
  try {
    const input = new PassThrough();
    // A folder a second (%S), a new file every 50 packets.
    const recorder = new Recorder(streamSource("test input", input), { pattern: join(dir, "%S", "x.ts"), kind: "ts", rotateBytes: 50 * 188, syncEveryMs: 1000, log: silentLogger });
    input.write(patPackets(30, 0));
    const deadline = Date.now() + 5000;
    while (readdirSync(dir).length === 0 && Date.now() < deadline) await Bun.sleep(5);
    const [first] = readdirSync(dir);
    expect(first).toBeDefined();
    // Every other second's folder name is taken by a plain file, and the next file is made in another second.
    for (let s = 0; s < 60; s++) if (twoDigits(s) !== first) writeFileSync(join(dir, twoDigits(s)), "");
    while (twoDigits(new Date().getSeconds()) === first) await Bun.sleep(5);
    input.end(patPackets(100, 30));
    const summary = await recorder.done;
    expect(summary.error).toContain("cannot create");
    const kept = join(dir, first!, "x.ts");
    expect(existsSync(kept)).toBe(true);
    const size = statSync(kept).size;
    expect(size).toBe(50 * 188); // cut at the 50th packet, as rotation asked
    expect(summary.bytes).toBe(size);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
