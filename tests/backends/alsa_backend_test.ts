/**
 * The alsa: output through real libasound, against the test asoundrc's
 * `pacer_test` file PCM (which records exactly what was played), plus the
 * failures a user meets: an unknown device, a format the device does not take, bad options,
 * a host without libasound. `pacer devices` is checked here too.
 *
 * Not covered: the busy-device wait. No PCM on a card-less machine can be
 * made busy (file and null PCMs are not exclusive); tests/backends/alsa_test.ts
 * checks that EBUSY is classified as AlsaBusyError.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { libasoundUnavailable } from "../../backends/alsa/libasound.ts";
import { alsaBackend, createAlsaBackend } from "../../backends/alsa/alsa.ts";
import type { BackendContext, StreamInfo, UnitTiming } from "../../backends/backend.ts";
import { PacerError, UsageError } from "../../foundation/errors.ts";
import { runDevices } from "../../cli/devices.ts";
import { createLogger } from "../../foundation/log.ts";
import { parseSampleFormat } from "../../protocol/sample_format.ts";
import { Scheduler } from "../../scheduler/scheduler.ts";
import { TEST_PCM, TEST_PCM_DESCRIPTION, TEST_PCM_S16_ONLY, TEST_PCM_STEREO_ONLY, writeTestAsoundrc, type TestAsoundrc } from "../helpers/asoundrc.ts";
import { runPacer } from "../helpers/pacer.ts";

const STREAM: StreamInfo = { kind: "pcm", format: parseSampleFormat("s16le:48000:2") };
const TIMING: UnitTiming = { sendUs: 0, frame: 0, marker: false, dueUs: 0 };

function context(lines: string[] = [], failures: Error[] = []): BackendContext {
  return {
    log: createLogger({ level: "debug", write: (line) => lines.push(line) }),
    scheduler: new Scheduler(),
    fail: (e) => failures.push(e),
  };
}

const skip = libasoundUnavailable() !== null;
let rc: TestAsoundrc;
beforeAll(() => {
  rc = writeTestAsoundrc();
});
beforeEach(() => rc.useInThisProcess());
afterAll(() => rc.cleanup());

describe.skipIf(skip)("alsa: output", () => {
  test("plays to pacer_test and the file PCM records exactly the bytes sent", async () => {
    const failures: Error[] = [];
    const backend = await alsaBackend.create(`alsa:${TEST_PCM}`, STREAM, context([], failures));
    expect(backend.format).toEqual(STREAM.format!);
    expect(backend.unitBytes).toBe(960 * 4); // one 20 ms period
    expect(backend.aheadUs).toBe(40_000); // two periods
    const bytes = crypto.getRandomValues(new Uint8Array(48_000 * 4)); // one second
    for (let at = 0; at < bytes.length; ) {
      const unit = bytes.subarray(at, Math.min(at + backend.unitBytes, bytes.length));
      const taken = backend.send(unit, TIMING);
      expect(taken % 4).toBe(0); // whole frames only
      at += taken;
      if (taken < unit.length) await Bun.sleep(2);
    }
    await backend.close();
    expect(failures).toEqual([]);
    expect(backend.counters.bytes).toBe(bytes.length);
    expect(backend.counters.errors.underrun).toBeUndefined();
    expect(Buffer.from(readFileSync(rc.outFile)).equals(Buffer.from(bytes))).toBe(true);
  });

  test("--out-format and the buffer/period options decide the format, unit and lead", async () => {
    const stream: StreamInfo = { ...STREAM, outFormat: parseSampleFormat("s24le:44100:1") };
    const backend = await alsaBackend.create(`alsa:${TEST_PCM}?buffer=50&period=10`, stream, context());
    expect(backend.format).toEqual(stream.outFormat!);
    expect(backend.unitBytes).toBe(441 * 3);
    expect(backend.aheadUs).toBe(20_000);
    await backend.close();
  });

  test("an unknown device is a PacerError that points at pacer devices", async () => {
    const created = alsaBackend.create("alsa:pacer_no_such_pcm", STREAM, context());
    await expect(created).rejects.toBeInstanceOf(PacerError);
    await expect(alsaBackend.create("alsa:pacer_no_such_pcm", STREAM, context())).rejects.toThrow(
      /^alsa:pacer_no_such_pcm: no such PCM .*see "pacer devices"$/,
    );
  });

  test("a device that refuses the encoding opens in the nearest it takes, and says so", async () => {
    // A card's hw: PCM takes a few encodings; f32le to one was "does not accept sample encoding f32le", exit 1.
    const stream: StreamInfo = { kind: "pcm", format: parseSampleFormat("f32le:48000:2") };
    const lines: string[] = [];
    const backend = await alsaBackend.create(`alsa:${TEST_PCM_S16_ONLY}`, stream, context(lines));
    expect(backend.format).toEqual(parseSampleFormat("s24le:48000:2")); // as many bits as f32le's mantissa
    expect(lines.filter((l) => l.includes("warn"))).toEqual([
      `pacer: warn: alsa:${TEST_PCM_S16_ONLY} takes s24le:48000:2, not f32le:48000:2; the stream is converted to it`,
    ]);
    await backend.close();
  });

  test("mono plays to a device that takes only stereo: each sample on both channels", async () => {
    // Before, "alsa:pacer_stereo_only does not accept 1 channels", exit 1: a mono file could not play to a card.
    const mono = new Int16Array(4800).map((_, i) => (i * 37) % 30000 - 15000);
    const run = await runPacer(["play", "-", "--format", "s16le:48000:1", "--to", `alsa:${TEST_PCM_STEREO_ONLY}`], {
      env: rc.env,
      stdin: new Uint8Array(mono.buffer),
    });
    expect(run.stderr).toBe(
      `pacer: warn: alsa:${TEST_PCM_STEREO_ONLY} takes s16le:48000:2, not s16le:48000:1; the stream is converted to it dest=alsa:${TEST_PCM_STEREO_ONLY}\n`,
    );
    expect(run.code).toBe(0);
    const heard = new Int16Array(new Uint8Array(readFileSync(rc.stereoFile)).buffer);
    expect(heard.length).toBe(mono.length * 2);
    expect(heard.filter((_, i) => i % 2 === 0)).toEqual(mono);
    expect(heard.filter((_, i) => i % 2 === 1)).toEqual(mono);
  });

  test("a buffer shorter than two default periods gets half of it as its period; a period that does not fit twice is refused", async () => {
    // Units go two periods ahead: with buffer=10 the 20 ms default period was opened as asked
    // (the file PCM allows it), a unit twice the buffer; buffer=1 ran 1.1 s behind in 1 s of play.
    const short = await alsaBackend.create(`alsa:${TEST_PCM}?buffer=10`, STREAM, context());
    expect(short.unitBytes).toBe(240 * 4);
    expect(short.aheadUs).toBe(10_000);
    await short.close();
    await expect(alsaBackend.create(`alsa:${TEST_PCM}?buffer=10&period=20`, STREAM, context())).rejects.toThrow(
      /^"alsa:pacer_test\?buffer=10&period=20": period=20 does not fit buffer=10 twice/,
    );
    await expect(alsaBackend.create(`alsa:${TEST_PCM}?buffer=30&period=20`, STREAM, context())).rejects.toBeInstanceOf(UsageError);
  });

  test("a device that fails mid-stream is one line that names it once", async () => {
    // A file PCM whose file cannot be created: libasound fails the first write with EIO.
    appendFileSync(rc.path, `pcm.pacer_unwritable { type file; slave.pcm "null"; file ${JSON.stringify(join(rc.dir, "no/such/dir/x.raw"))}; format "raw" }\n`);
    const run = await runPacer(["play", "-", "--format", "s16le:48000:2", "--to", "alsa:pacer_unwritable?buffer=40"], {
      env: rc.env,
      stdin: new Uint8Array(48_000),
    });
    expect(run.code).toBe(1);
    const lines = run.stderr.split("\n").filter((line) => line.startsWith("pacer: error:"));
    expect(lines).toEqual(["pacer: error: alsa:pacer_unwritable?buffer=40: Input/output error while writing"]);
  });

  test("a PCM libasound does not know is pacer's one line; libasound's own line comes under --verbose only", async () => {
    const play = (...global: string[]) =>
      runPacer([...global, "play", "-", "--format", "s16le:48000:2", "--to", "alsa:pacer_nosuch"], { env: rc.env, stdin: new Uint8Array(4800) });
    const quiet = await play();
    expect(quiet.code).toBe(1);
    // It printed "ALSA lib pcm.c:…:(snd_pcm_open_noupdate) Unknown PCM pacer_nosuch" before pacer's line.
    expect(quiet.stderr).toBe(`pacer: error: alsa:pacer_nosuch: no such PCM or device (No such file or directory) while opening it for playback; see "pacer devices"\n`);
    const verbose = await play("--verbose");
    expect(verbose.code).toBe(1);
    expect(verbose.stderr).toMatch(/^pacer: debug: ALSA lib pcm\.c:\d+:\(snd_pcm_open_noupdate\) Unknown PCM …$/m);
  });

  test("malformed options, a bad --device-wait and non-PCM input are usage errors", async () => {
    const ctx = context();
    await expect(alsaBackend.create(`alsa:${TEST_PCM}?latency=5`, STREAM, ctx)).rejects.toThrow(/unknown option "latency"/);
    // follow=1 is the speaker's (it reopens the device per track); play's device opens once.
    await expect(alsaBackend.create(`alsa:${TEST_PCM}?follow=1`, STREAM, ctx)).rejects.toThrow(/follow=1 is for the speaker's queue/);
    await expect(alsaBackend.create(`alsa:${TEST_PCM}?wait=soon`, STREAM, ctx)).rejects.toBeInstanceOf(UsageError);
    await expect(alsaBackend.create(`alsa:${TEST_PCM}?period=0`, STREAM, ctx)).rejects.toBeInstanceOf(UsageError);
    await expect(alsaBackend.create("alsa:", STREAM, ctx)).rejects.toThrow(/alsa: needs a device/);
    await expect(alsaBackend.create(`alsa:${TEST_PCM}`, { kind: "mpegts" }, ctx)).rejects.toBeInstanceOf(UsageError);
    await expect(alsaBackend.create(`alsa:${TEST_PCM}`, { ...STREAM, deviceWaitS: -1 }, ctx)).rejects.toThrow(/--device-wait=-1/);
  });

  test("pacer devices with an ALSA configuration that does not load says so and names it, exit 1", async () => {
    // It said "alsa:*: Invalid argument while listing PCMs", or for a missing include "alsa:*: no
    // such PCM or device … while listing PCMs; see "pacer devices"": pacer devices sending you to itself.
    const broken = join(rc.dir, "broken.asoundrc");
    const missing = join(rc.dir, "missing.asoundrc");
    writeFileSync(broken, "pcm.x { type\n");
    writeFileSync(missing, "</no/such/alsa.conf>\n");
    for (const [path, why] of [[broken, "Invalid argument"], [missing, "No such file or directory"]] as const) {
      const run = await runPacer(["devices"], { env: { ...rc.env, ALSA_CONFIG_PATH: path } });
      expect(run.stderr).toBe(
        `pacer: error: cannot list the ALSA PCMs (${why}): libasound could not load its configuration, ALSA_CONFIG_PATH=${path}; "pacer --verbose devices" shows its own lines\n`,
      );
      expect(run.code).toBe(1);
      expect(run.stdout).toBe("");
    }
  });

  test("pacer devices lists the test PCM as NAME<TAB>DESCRIPTION (io)", () => {
    let printed = "";
    const code = runDevices(createLogger({ level: "error", write: () => {} }), [], (text) => (printed += text));
    expect(code).toBe(0);
    expect(printed.split("\n")).toContain(`${TEST_PCM}\t${TEST_PCM_DESCRIPTION} (both)`);
  });
});

describe("alsa: output on a host without libasound", () => {
  const why = "libasound.so.2 not found: install libasound2 to use alsa: outputs (simulated)";
  const noAlsa = createAlsaBackend(() => why);

  test("the factory reports why at selection time", () => {
    expect(noAlsa.unavailable?.()).toBe(why);
    expect(alsaBackend.unavailable?.()).toBe(libasoundUnavailable());
  });

  test("create fails with the same message, as a PacerError", async () => {
    await expect(noAlsa.create(`alsa:${TEST_PCM}`, STREAM, context())).rejects.toThrow(why);
    await expect(noAlsa.create(`alsa:${TEST_PCM}`, STREAM, context())).rejects.toBeInstanceOf(PacerError);
  });
});
