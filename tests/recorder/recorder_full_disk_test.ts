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

/** Runs `body` with a small tmpfs and a scratch folder, both gone after; skips where no tmpfs can be mounted. */
async function onSmallDisk(bytes: number, body: (disk: string, scratch: string) => Promise<void>): Promise<void> {
  const disk = mountSmallDisk(bytes);
  if ("skip" in disk) {
    console.warn(disk.skip);
    return;
  }
  const scratch = mkdtempSync(join(tmpdir(), "pacer-full-disk-"));
  try {
    await body(disk.dir, scratch);
  } finally {
    disk.unmount();
    rmSync(scratch, { recursive: true, force: true });
  }
}

test("a full disk: the summary's bytes are the bytes the cut-back file holds", () =>
  onSmallDisk(256 * 1024, async (diskDir, scratch) => {
    const input = join(scratch, "in.ts");
    // Read as a live input comes (seven packets a datagram), so the write the disk stops is one of many.
    writeFileSync(input, tsPackets(4000)); // 752,000 bytes, three times the disk
    const out = join(diskDir, "full.ts");
    const recorder = new Recorder(streamSource(input, createReadStream(input, { highWaterMark: 1316 })), { pattern: out, kind: "ts", syncEveryMs: 1000, log: silentLogger });
    const summary = await recorder.done;
    expect(summary.error).toContain("no space left on device");
    const size = statSync(out).size;
    expect(size % 188).toBe(0);
    expect(size).toBeGreaterThan(100_000);
    expect(summary.bytes).toBe(size);
  }));

test("a disk already full: the file that got no byte is removed, and the error says so", () =>
  onSmallDisk(64 * 1024, async (diskDir, scratch) => {
    fillUp(join(diskDir, "filler"));
    const input = join(scratch, "in.ts");
    writeFileSync(input, tsPackets(100));
    const out = join(diskDir, "empty.ts");
    const recorder = new Recorder(streamSource(input, createReadStream(input)), { pattern: out, kind: "ts", syncEveryMs: 1000, log: silentLogger });
    const summary = await recorder.done;
    expect(summary.error).toBe(`${out}: cannot write: no space left on device; the empty file was removed`);
    expect(summary.files.count).toBe(0);
    expect(summary.files.names).toEqual([]);
    expect(summary.bytes).toBe(0);
    expect(existsSync(out)).toBe(false);
  }));
