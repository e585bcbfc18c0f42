/**
 * A recording that fills its disk says how many bytes it kept, and that is the file's size: the
 * file is cut back to whole packets, and the count must follow it (a server's `last.bytes`). A
 * recording that starts on a disk already full keeps nothing: its file is removed, not left empty.
 */
import { expect, test } from "bun:test";
import { createReadStream, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "../../foundation/log.ts";
import { Recorder } from "../../recorder/recorder.ts";
import { streamSource } from "../../sources/stream_source.ts";
import { fillUp, mountSmallDisk } from "../helpers/tmpfs.ts";

/** `count` TS packets on one PID with a running continuity counter. */
function tsPackets(count: number): Uint8Array {
  const out = new Uint8Array(count * 188);
  for (let i = 0; i < count; i++) {
    const at = i * 188;
    out.set([0x47, 0x01, 0x00, 0x10 | (i & 0x0f)], at);
    out.fill(i & 0xff, at + 4, at + 188);
  }
  return out;
}

test("a full disk: the summary's bytes are the bytes the cut-back file holds", async () => {
  const disk = mountSmallDisk(256 * 1024);
  if ("skip" in disk) {
    console.warn(disk.skip);
    return;
  }
  const scratch = mkdtempSync(join(tmpdir(), "pacer-full-disk-"));
  try {
    const input = join(scratch, "in.ts");
    // Read as a live input comes (seven packets a datagram), so the write the disk stops is one of many.
    writeFileSync(input, tsPackets(4000)); // 752,000 bytes, three times the disk
    const out = join(disk.dir, "full.ts");
    const recorder = new Recorder(streamSource(input, createReadStream(input, { highWaterMark: 1316 })), { pattern: out, kind: "ts", syncEveryMs: 1000, log: silentLogger });
    const summary = await recorder.done;
    expect(summary.error).toContain("no space left on device");
    const size = statSync(out).size;
    expect(size % 188).toBe(0);
    expect(size).toBeGreaterThan(100_000);
    expect(summary.bytes).toBe(size);
  } finally {
    disk.unmount();
    rmSync(scratch, { recursive: true, force: true });
  }
});

test("a disk already full: the file that got no byte is removed, and the error says so", async () => {
  const disk = mountSmallDisk(64 * 1024);
  if ("skip" in disk) {
    console.warn(disk.skip);
    return;
  }
  const scratch = mkdtempSync(join(tmpdir(), "pacer-full-disk-"));
  try {
    fillUp(join(disk.dir, "filler"));
    const input = join(scratch, "in.ts");
    writeFileSync(input, tsPackets(100));
    const out = join(disk.dir, "empty.ts");
    const recorder = new Recorder(streamSource(input, createReadStream(input)), { pattern: out, kind: "ts", syncEveryMs: 1000, log: silentLogger });
    const summary = await recorder.done;
    expect(summary.error).toBe(`${out}: cannot write: no space left on device; the empty file was removed`);
    expect(summary.files.count).toBe(0);
    expect(summary.files.names).toEqual([]);
    expect(summary.bytes).toBe(0);
    expect(existsSync(out)).toBe(false);
  } finally {
    disk.unmount();
    rmSync(scratch, { recursive: true, force: true });
  }
});
