/**
 * A job on a manual clock: load events fill the read-ahead buffer, each destination's send events
 * drain it, and every byte of the input reaches every output once, in order, whatever the chunk
 * size and rate. Real files in, real `file:` and `udp:` outputs; only time is simulated.
 */
import { afterAll, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import "../../backends/all.ts";
import { silentLogger } from "../../foundation/log.ts";
import { DEFAULT_CHUNK_BYTES, Job, loadMarkBytes } from "../../pipeline/job.ts";
import { ManualClock } from "../../scheduler/clock.ts";
import { Scheduler } from "../../scheduler/scheduler.ts";
import { openInput } from "../../sources/open_input.ts";
import { streamSource } from "../../sources/stream_source.ts";
import { PassThrough } from "node:stream";
import { TS_SIZE, TS_SYNC } from "../../protocol/mpegts.ts";
import { garbageBytes, insertBytes, makeCbrTs, sameButSeamMends } from "../helpers/mpeg_fixtures.ts";
import { rampS16, writeWav } from "../helpers/audio.ts";
import { udpReceiver } from "../helpers/udp_receiver.ts";

const dir = mkdtempSync(join(tmpdir(), "pacer-job-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function runJob(input: string, outputs: string[], options: { chunkBytes?: number; bitrate?: number } = {}) {
  const scheduler = new Scheduler(new ManualClock(1_000_000));
  const opened = await openInput(input, { bitrate: options.bitrate });
  const job = await Job.create({
    input: opened.info,
    source: opened.source,
    byteClock: opened.byteClock,
    outputs,
    scheduler,
    log: silentLogger,
    chunkBytes: options.chunkBytes,
  });
  let mostHeld = 0;
  const ring = job.ring;
  const commit = ring.commit.bind(ring);
  ring.commit = (n: number) => {
    commit(n);
    mostHeld = Math.max(mostHeld, ring.end - ring.start);
  };
  job.start();
  const end = scheduler.now() + (opened.info.durationUs ?? 0) + 2_000_000;
  while (scheduler.now() < end && job.destinations.some((d) => d.active)) scheduler.runUntil(scheduler.now() + 10_000);
  const result = await job.done;
  // start() loads the first chunk itself; every later load is a scheduled event.
  const loads = 1 + scheduler.lateness("load").count;
  return { job, result, loads, mostHeld, ring };
}

describe("a job on a manual clock", () => {
  test("property: every byte reaches a file: output once and in order, whatever the chunk size and rate", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 64 }).map((k) => k * 2048 + 1),
        fc.constantFrom(500_000, 1_500_000, 8_000_000),
        async (chunkBytes, bitrate) => {
          const ts = makeCbrTs({ bitrate, duration: 0.6 });
          const input = join(dir, `in-${bitrate}.ts`);
          writeFileSync(input, ts);
          const out = join(dir, `out-${chunkBytes}-${bitrate}.ts`);
          const { result, mostHeld, ring } = await runJob(input, [`file:${out}`], { chunkBytes });
          expect(result.failures).toEqual([]);
          expect(Buffer.compare(readFileSync(out), Buffer.from(ts))).toBe(0);
          expect(mostHeld).toBeLessThanOrEqual(ring.capacity);
        },
      ),
      { numRuns: 12 },
    );
  });

  test("the read-ahead buffer is one chunk plus 100 ms of stream (at least 64 KiB), or two chunks at an unknown rate", async () => {
    expect(loadMarkBytes(187_500, DEFAULT_CHUNK_BYTES)).toBe(64 * 1024);
    expect(loadMarkBytes(1_000_000, DEFAULT_CHUNK_BYTES)).toBe(100_000);
    expect(loadMarkBytes(50_000_000, DEFAULT_CHUNK_BYTES)).toBe(DEFAULT_CHUNK_BYTES);
    expect(loadMarkBytes(0, DEFAULT_CHUNK_BYTES)).toBe(DEFAULT_CHUNK_BYTES);

    const ts = makeCbrTs({ bitrate: 1_500_000, duration: 2 });
    const input = join(dir, "mark.ts");
    writeFileSync(input, ts);
    const rx = await udpReceiver();
    try {
      const { job, loads } = await runJob(input, [`udp://127.0.0.1:${rx.port}`]);
      expect(job.ring.capacity).toBe(DEFAULT_CHUNK_BYTES + 64 * 1024);
      // 2 s at 1.5 Mbit/s is 375,000 bytes: three loads of a chunk (the last one short, meeting the end of file).
      expect(loads).toBe(Math.ceil(ts.length / DEFAULT_CHUNK_BYTES));
      // All of it went out (on a manual clock it leaves in one burst, more than a socket buffer holds,
      // so what arrives is checked by the end-to-end tests instead).
      expect(job.totals().bytes).toBe(ts.length);
    } finally {
      rx.close();
    }
  });

  test("an input with nothing to read yet (a pipe) does not spin: the job waits on the clock, then sends what comes", async () => {
    const scheduler = new Scheduler(new ManualClock(1_000_000));
    const pipe = new PassThrough();
    const source = streamSource("-", pipe);
    let reads = 0;
    const read = source.read.bind(source);
    // A load that wakes a starving destination for nothing used to be answered by another load at
    // the same instant, forever; bounded here so a regression fails instead of hanging.
    source.read = (target, at, length) => {
      if (++reads > 10_000) throw new Error("the job is spinning on an empty input");
      return read(target, at, length);
    };
    const format = { encoding: "s16le", rate: 8_000, channels: 1 } as const;
    const out = join(dir, "pipe-out.raw");
    const job = await Job.create({ input: { label: "-", kind: "pcm", format }, source, outputs: [`file:${out}`], scheduler, log: silentLogger });
    job.start();
    scheduler.runUntil(scheduler.now() + 200_000);
    // One retry every 2 ms while starving (its first second), each asking for one load: about 100 in 200 ms.
    expect(reads).toBeLessThan(250);
    const samples = Buffer.alloc(16_000);
    for (let i = 0; i < samples.length; i++) samples[i] = i & 0xff;
    pipe.end(samples);
    await Bun.sleep(20);
    for (let i = 0; i < 300 && job.destinations.some((d) => d.active); i++) {
      scheduler.runUntil(scheduler.now() + 10_000);
      await Bun.sleep(0);
    }
    const result = await job.done;
    expect(result.inputError).toBeNull();
    expect(readFileSync(out).equals(samples)).toBe(true);
  });

  test("a destination starving for long looks less and less often after a second (down to every 50 ms), and still sends at once what comes", async () => {
    const scheduler = new Scheduler(new ManualClock(1_000_000));
    const pipe = new PassThrough();
    const format = { encoding: "s16le", rate: 8_000, channels: 1 } as const;
    const out = join(dir, "idle-out.raw");
    const job = await Job.create({ input: { label: "-", kind: "pcm", format }, source: streamSource("-", pipe), outputs: [`file:${out}`], scheduler, log: silentLogger });
    job.start();
    scheduler.runUntil(scheduler.now() + 10_000_000);
    // Every 2 ms, an idle output (a speaker's open session) was 5000 send events in 10 s, each a
    // precise sleep that kept the loop from its file system work. Now 500 in the first second (a
    // live input's stall as before), then about 180 in the next nine.
    const looks = scheduler.lateness("send").count;
    expect(looks).toBeGreaterThan(600);
    expect(looks).toBeLessThan(760);
    const samples = Buffer.alloc(1_600, 7);
    pipe.end(samples);
    await Bun.sleep(20);
    const arrivedAt = scheduler.now();
    for (let i = 0; i < 100 && job.destinations.some((d) => d.active); i++) {
      scheduler.runUntil(scheduler.now() + 1_000);
      await Bun.sleep(0);
    }
    await job.done;
    expect(readFileSync(out).equals(samples)).toBe(true);
    // 0.1 s of audio, sent from its arrival on: not held back by a look 50 ms away.
    expect(scheduler.now() - arrivedAt).toBeLessThan(150_000);
  });

  test("property: garbage between TS packets is left out, exactly, and every datagram is whole packets, for any chunking", async () => {
    const clean = makeCbrTs({ bitrate: 1_500_000, duration: 0.5 });
    const packets = clean.length / TS_SIZE;
    await fc.assert(
      fc.asyncProperty(
        // Runs of garbage at least three packets apart (and from the start), with two packets after
        // the last: a packet is known by the sync bytes 188 bytes on, so a lone packet before, between
        // or after runs cannot be told from garbage (the scanner's rule; tests/protocol/mpegts_test.ts).
        fc.uniqueArray(fc.integer({ min: 0, max: packets - 2 }), { minLength: 1, maxLength: 4 }).map((ps) => {
          const kept: number[] = [];
          for (const p of ps.sort((a, b) => a - b)) {
            const previous = kept.at(-1);
            if (previous === undefined ? p === 0 || p >= 3 : p - previous >= 3) kept.push(p);
          }
          return kept;
        }),
        fc.integer({ min: 1, max: 700 }),
        fc.integer({ min: 1, max: 40 }).map((k) => k * 1024 + 7),
        async (where, garbageLength, chunkBytes) => {
          let dirty: Uint8Array = clean;
          // Insert from the back, so earlier packet positions stay put.
          for (const p of [...where].reverse()) dirty = insertBytes(dirty, p * TS_SIZE, garbageBytes(garbageLength, p + 1));
          const input = join(dir, "dirty.ts");
          writeFileSync(input, dirty);
          const out = join(dir, "dirty-out.ts");
          const rx = await udpReceiver();
          try {
            const { result } = await runJob(input, [`file:${out}`, `udp://127.0.0.1:${rx.port}`], { chunkBytes });
            expect(result.failures).toEqual([]);
            expect(readFileSync(out).equals(Buffer.from(clean))).toBe(true);
            await Bun.sleep(5);
            for (const p of rx.packets) {
              expect(p.data.length).toBeLessThanOrEqual(7 * TS_SIZE);
              expect(p.data.length % TS_SIZE).toBe(0);
              for (let at = 0; at < p.data.length; at += TS_SIZE) expect(p.data[at]).toBe(TS_SYNC);
            }
          } finally {
            rx.close();
          }
        },
      ),
      { numRuns: 25 },
    );
  }, 30_000);

  test("garbage is left out of a file: output byte for byte", async () => {
    const clean = makeCbrTs({ bitrate: 1_500_000, duration: 0.5 });
    const dirty = insertBytes(insertBytes(clean, 40 * TS_SIZE, garbageBytes(1000, 3)), 0, garbageBytes(77, 5));
    const input = join(dir, "dirty-file.ts");
    writeFileSync(input, dirty);
    const out = join(dir, "clean-out.ts");
    const { result, job } = await runJob(input, [`file:${out}`], { chunkBytes: 5000 });
    expect(result.failures).toEqual([]);
    expect(readFileSync(out).equals(Buffer.from(clean))).toBe(true);
    expect(job.skips.total).toBe(1077);
    // Paced by --bitrate instead of the PCRs: the packets are still found, the garbage still left out.
    const byRate = join(dir, "clean-by-rate.ts");
    const paced = await runJob(input, [`file:${byRate}`], { chunkBytes: 5000, bitrate: 1_500_000 });
    expect(paced.result.failures).toEqual([]);
    expect(readFileSync(byRate).equals(Buffer.from(clean))).toBe(true);
  });

  test("--loop over a file cut inside its last packet: the cut-off tail is left out and every loop starts on a whole packet", async () => {
    const whole = makeCbrTs({ bitrate: 1_500_000, duration: 0.3 });
    const cut = whole.subarray(0, whole.length - 88); // the last packet keeps 100 bytes
    const input = join(dir, "cut-loop.ts");
    writeFileSync(input, cut);
    const out = join(dir, "cut-loop-out.ts");
    const scheduler = new Scheduler(new ManualClock(1_000_000));
    const opened = await openInput(input);
    const job = await Job.create({ input: opened.info, source: opened.source, byteClock: opened.byteClock, outputs: [`file:${out}`], scheduler, log: silentLogger, loop: true });
    job.start();
    while (job.loops < 4) scheduler.runUntil(scheduler.now() + 10_000);
    await job.stop();
    const sent = readFileSync(out);
    const packets = whole.subarray(0, whole.length - TS_SIZE); // what each loop should carry
    expect(sent.length % TS_SIZE).toBe(0);
    expect(sent.length).toBeGreaterThan(2 * packets.length);
    for (let at = 0; at < sent.length; at += TS_SIZE) {
      const k = (at / TS_SIZE) % (packets.length / TS_SIZE);
      // Each loop's packets are the file's, their counters and time base mended at the seam (ts_seams.ts).
      expect(sameButSeamMends(sent.subarray(at, at + TS_SIZE), packets.subarray(k * TS_SIZE, (k + 1) * TS_SIZE))).toBe(true);
    }
    expect(job.skips.total).toBeGreaterThanOrEqual(3 * 100);
  });

  test("garbage larger than the read-ahead buffer, anywhere, is passed over without stalling", async () => {
    const clean = makeCbrTs({ bitrate: 1_500_000, duration: 2 });
    for (const [packet, length] of [[0, 200_000], [500, 150_000], [1000, 300_000]] as const) {
      const input = join(dir, `big-garbage-${packet}.ts`);
      writeFileSync(input, insertBytes(clean, packet * TS_SIZE, garbageBytes(length, 3)));
      const out = join(dir, `big-garbage-${packet}-out.ts`);
      const { result } = await runJob(input, [`file:${out}`]);
      expect(result.failures).toEqual([]);
      expect(readFileSync(out).equals(Buffer.from(clean))).toBe(true);
    }
  });

  test("a backend's lead (rtp ahead=100) goes out at once, then units follow at their media time", async () => {
    const wav = join(dir, "lead.wav");
    writeWav(wav, { encoding: "s16le", rate: 44_100, channels: 2 }, rampS16(44_100));
    const scheduler = new Scheduler(new ManualClock(1_000_000));
    const opened = await openInput(wav);
    const rx = await udpReceiver();
    try {
      const job = await Job.create({ input: opened.info, source: opened.source, outputs: [`rtp://127.0.0.1:${rx.port}?ahead=100`], scheduler, log: silentLogger });
      job.start();
      scheduler.fireDue();
      // 1400-byte units are 7.94 ms of audio: 100 ms ahead is units 0..12 now, before any time passes.
      expect(job.totals().units).toBe(13);
      scheduler.runUntil(scheduler.now() + 100_000);
      expect(job.totals().units).toBe(13 + 13);
      // Its BYE waits 50 ms past the last unit's media instant (rtp.ts): time passes for it.
      let stopped = false;
      const stopping = job.stop().then(() => (stopped = true));
      while (!stopped) {
        await Bun.sleep(1);
        scheduler.runUntil(scheduler.now() + 10_000);
      }
      await stopping;
    } finally {
      rx.close();
    }
  });

  test("a destination whose unit is larger than the load mark still gets its data (file: writes 64 KiB)", async () => {
    const ts = makeCbrTs({ bitrate: 1_500_000, duration: 1 });
    const input = join(dir, "big-unit.ts");
    writeFileSync(input, ts);
    const out = join(dir, "big-unit-out.ts");
    const { job, result } = await runJob(input, [`file:${out}`]);
    expect(result.failures).toEqual([]);
    expect(job.loadMark).toBeGreaterThanOrEqual(64 * 1024 - 188);
    expect(readFileSync(out).equals(Buffer.from(ts))).toBe(true);
  });
});

describe("pause", () => {
  test("the time a job has been playing leaves its pauses out (play's progress line had counted them, and passed the duration)", async () => {
    const scheduler = new Scheduler(new ManualClock());
    const format = { encoding: "s16le", rate: 8_000, channels: 1 } as const;
    const job = await Job.create({
      input: { label: "-", kind: "pcm", format },
      source: streamSource("-", new PassThrough()),
      outputs: [`file:${join(dir, "paused.raw")}`],
      scheduler,
      log: silentLogger,
      gate: { closed: false },
    });
    job.start();
    const started = scheduler.now();
    scheduler.runUntil(started + 1_000_000);
    job.pause(true);
    scheduler.runUntil(started + 3_000_000);
    expect(job.playingUs(scheduler.now())).toBe(1_000_000); // paused: it stands still
    job.pause(true); // again: no second start of the pause
    job.pause(false);
    scheduler.runUntil(started + 4_500_000);
    expect(job.playingUs(scheduler.now())).toBe(2_500_000);
    await job.stop();
  });
});
