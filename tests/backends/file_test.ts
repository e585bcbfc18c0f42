/**
 * file: outputs: the stream lands on disk byte for byte, in whole frames per
 * write, and a full disk (/dev/full) or an unwritable path stops the
 * destination with a one-line message instead of a stack trace.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { closeSync, constants, existsSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BackendContext, StreamInfo, UnitTiming } from "../../backends/backend.ts";
import { fileBackend } from "../../backends/file.ts";
import { PacerError, UsageError } from "../../foundation/errors.ts";
import { silentLogger } from "../../foundation/log.ts";
import { parseSampleFormat } from "../../protocol/sample_format.ts";
import { ManualClock } from "../../scheduler/clock.ts";
import { Scheduler } from "../../scheduler/scheduler.ts";

const STREAM: StreamInfo = { kind: "pcm", format: parseSampleFormat("s16le:44100:2") };
const TIMING: UnitTiming = { sendUs: 0, frame: 0, marker: false, dueUs: 0 };

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "pacer-file-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function context(failures: Error[]): BackendContext {
  return { log: silentLogger, scheduler: new Scheduler(), fail: (e) => failures.push(e) };
}

describe("file: output", () => {
  test("writes exactly the bytes sent, in units of 100 ms of whole frames", async () => {
    const failures: Error[] = [];
    const path = join(dir, "capture.raw");
    const stream: StreamInfo = { ...STREAM, outFormat: parseSampleFormat("s24le:48000:2") };
    const backend = await fileBackend.create(`file:${path}`, stream, context(failures));
    expect(backend.format).toEqual(stream.outFormat!);
    expect(backend.unitBytes).toBe(4800 * 6);
    const bytes = crypto.getRandomValues(new Uint8Array(300_000 - 300_000 % 6));
    for (let at = 0; at < bytes.length; at += backend.unitBytes) {
      expect(backend.send(bytes.subarray(at, at + backend.unitBytes), TIMING)).toBe(Math.min(backend.unitBytes, bytes.length - at));
    }
    await backend.close();
    expect(failures).toEqual([]);
    expect(Buffer.from(readFileSync(path)).equals(Buffer.from(bytes))).toBe(true);
    expect(backend.counters.bytes).toBe(bytes.length);
  });

  test("a PCM unit is about 100 ms, at most 64 KiB and at least one frame, whatever the rate", async () => {
    const unitBytes = async (format: string) => {
      const backend = await fileBackend.create(`file:${join(dir, "unit.raw")}`, { ...STREAM, outFormat: parseSampleFormat(format) }, context([]));
      await backend.discard!();
      return backend.unitBytes;
    };
    // A pipe reader (`file:/dev/stdout | aplay`) gets 100 ms at a time, where 64 KiB at 8 kHz was 8.2 s.
    expect(await unitBytes("u8:8000:1")).toBe(800);
    expect(await unitBytes("s16le:44100:2")).toBe(4410 * 4);
    // At 1 Hz one frame, where 64 KiB of frames asked the job for 65536 s of input in one buffer.
    expect(await unitBytes("u8:1:1")).toBe(1);
    expect(await unitBytes("s16le:3:2")).toBe(4);
    // A high rate is held to 64 KiB: 10 ms of s32le:192000:8.
    expect(await unitBytes("s32le:192000:8")).toBe(Math.floor(65_536 / 32) * 32);
  });

  test("truncates an existing file", async () => {
    const path = join(dir, "again.raw");
    for (const size of [1000, 40]) {
      const backend = await fileBackend.create(`file:${path}`, STREAM, context([]));
      backend.send(new Uint8Array(size), TIMING);
      await backend.close();
    }
    expect(readFileSync(path).length).toBe(40);
  });

  test("an existing file is truncated at the first write, or at a close with nothing written; a discarded one stays as it was", async () => {
    const path = join(dir, "kept.raw");
    writeFileSync(path, "precious");
    const discarded = await fileBackend.create(`file:${path}`, STREAM, context([]));
    await discarded.discard!();
    expect(readFileSync(path, "utf8")).toBe("precious");
    const empty = await fileBackend.create(`file:${path}`, STREAM, context([]));
    expect(readFileSync(path, "utf8")).toBe("precious");
    await empty.close();
    expect(readFileSync(path).length).toBe(0);
    // One the open made is removed by discard.
    const fresh = join(dir, "fresh.raw");
    await (await fileBackend.create(`file:${fresh}`, STREAM, context([]))).discard!();
    expect(existsSync(fresh)).toBe(false);
  });

  test("a symlink whose target is missing is written through, making the target", async () => {
    const target = join(dir, "target.raw");
    const link = join(dir, "link.raw");
    symlinkSync(target, link);
    const backend = await fileBackend.create(`file:${link}`, STREAM, context([]));
    backend.send(new Uint8Array(40), TIMING);
    await backend.close();
    expect(readFileSync(target).length).toBe(40);
  });

  test("MPEG-TS units are whole 188-byte packets", async () => {
    const backend = await fileBackend.create(`file:${join(dir, "x.ts")}`, { kind: "mpegts" }, context([]));
    expect(backend.unitBytes % 188).toBe(0);
    expect(backend.format).toBeUndefined();
    await backend.close();
  });

  test("a full disk (/dev/full) fails the destination once with a one-line ENOSPC message", async () => {
    const failures: Error[] = [];
    const backend = await fileBackend.create("file:/dev/full", STREAM, context(failures));
    const unit = new Uint8Array(backend.unitBytes);
    expect(backend.send(unit, TIMING)).toBe(unit.length); // never an exception into the job
    expect(backend.send(unit, TIMING)).toBe(unit.length);
    expect(failures.length).toBe(1);
    expect(failures[0]).toBeInstanceOf(PacerError);
    // The job prints a failure after the destination's label, so the message does not repeat it.
    expect(`${backend.label}: ${failures[0]!.message}`).toBe("file:/dev/full: cannot write: no space left on device (ENOSPC)");
    expect(failures[0]!.message).not.toContain("/dev/full");
    await backend.close();
  });

  test("a path that cannot be opened is a PacerError before anything is sent", async () => {
    const target = `file:${join(dir, "no-such-dir", "x.raw")}`;
    const created = fileBackend.create(target, STREAM, context([]));
    await expect(created).rejects.toBeInstanceOf(PacerError);
    await expect(fileBackend.create(target, STREAM, context([]))).rejects.toThrow(
      `${target}: cannot open for writing: no such file or directory (ENOENT)`,
    );
  });

  test("a FIFO with no reader opens at once, is full until a reader comes, then takes what fits without blocking", async () => {
    const path = join(dir, "wait.fifo");
    expect(spawnSync("mkfifo", [path]).status).toBe(0);
    const scheduler = new Scheduler(new ManualClock());
    const failures: Error[] = [];
    const backend = await fileBackend.create(`file:${path}`, STREAM, { log: silentLogger, scheduler, fail: (e) => failures.push(e) });
    expect(backend.pushesBack).toBe(true);
    let ready = 0;
    expect(backend.full!(() => ready++)).toBe(true);
    expect(backend.send(new Uint8Array(backend.unitBytes), TIMING)).toBe(0);
    scheduler.runUntil(scheduler.now() + 200_000); // no reader yet: still waiting
    expect(ready).toBe(0);
    const reader = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      scheduler.runUntil(scheduler.now() + 100_000);
      expect(ready).toBe(1);
      expect(backend.full!(() => ready++)).toBe(false);
      // A pipe holds 64 KiB: more than that is taken only in part, in whole frames, and never blocks.
      const unit = crypto.getRandomValues(new Uint8Array(100_000));
      const taken = backend.send(unit, TIMING);
      expect(taken).toBeGreaterThan(0);
      expect(taken).toBeLessThan(unit.length);
      expect(taken % 4).toBe(0);
      const got = Buffer.alloc(unit.length);
      expect(readSync(reader, got)).toBe(taken);
      expect(got.subarray(0, taken).equals(unit.subarray(0, taken))).toBe(true);
      await backend.close();
    } finally {
      closeSync(reader);
    }
    expect(failures).toEqual([]);
  });

  test("file: with no path is a usage error", async () => {
    await expect(fileBackend.create("file:", STREAM, context([]))).rejects.toBeInstanceOf(UsageError);
  });
});
