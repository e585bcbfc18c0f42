/**
 * cmd: outputs against real shell commands: the bytes arrive exactly, the
 * command sees PACER_* in its environment, a full pipe pushes back instead
 * of queueing, a command that keeps dying is restarted at the current
 * position, and one that cannot run at all is given up on with a clear error.
 *
 * The backend is driven the way a job drives it: a send event per unit on a
 * real Scheduler, and what was not taken offered again 2 ms later.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Backend, BackendContext, StreamInfo, UnitTiming } from "../../backends/backend.ts";
import { commandBackend } from "../../backends/command.ts";
import { PacerError } from "../../foundation/errors.ts";
import { createLogger } from "../../foundation/log.ts";
import { parseSampleFormat } from "../../protocol/sample_format.ts";
import { Scheduler } from "../../scheduler/scheduler.ts";

const RETRY_US = 2_000;
const CD_STREAM: StreamInfo = { kind: "pcm", format: parseSampleFormat("s16le:48000:2") };

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "pacer-cmd-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => {
  delete process.env.PACER_CMD_BACKOFF_MS;
});

interface Harness {
  ctx: BackendContext;
  lines: string[];
  failures: Error[];
  failed: Promise<Error>;
}

function harness(): Harness {
  const lines: string[] = [];
  const failures: Error[] = [];
  let onFail: (e: Error) => void = () => {};
  const failed = new Promise<Error>((resolve) => (onFail = resolve));
  const ctx: BackendContext = {
    log: createLogger({ level: "debug", write: (line) => lines.push(line) }),
    scheduler: new Scheduler(),
    fail(error) {
      failures.push(error);
      onFail(error);
    },
  };
  return { ctx, lines, failures, failed };
}

/** Every uint32 word holds its own index: any run of the stream shows where it came from. */
function countingStream(bytes: number): Uint8Array {
  const words = new Uint32Array(bytes / 4);
  for (let i = 0; i < words.length; i++) words[i] = i;
  return new Uint8Array(words.buffer);
}

function randomStream(bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  for (let at = 0; at < bytes; at += 65536) crypto.getRandomValues(out.subarray(at, Math.min(bytes, at + 65536)));
  return out;
}

/** Whether process `pid` is still running (not gone, not a zombie), from /proc. */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** Sends `stream` in units, one every `intervalUs`, re-offering the untaken rest after 2 ms; records each take. */
function pump(scheduler: Scheduler, backend: Backend, stream: Uint8Array, intervalUs: number): Promise<number[]> {
  const takes: number[] = [];
  const timing: UnitTiming = { sendUs: 0, frame: 0, marker: true, dueUs: 0 };
  const start = scheduler.now();
  return new Promise((resolve) => {
    let at = 0;
    let unitEnd = 0;
    const sendEvent = scheduler.timer("send", (timer, now) => {
      if (at === unitEnd) unitEnd = Math.min(at + backend.unitBytes, stream.length);
      timing.sendUs = now - start;
      const taken = backend.send(stream.subarray(at, unitEnd), timing);
      timing.marker = false;
      takes.push(taken);
      at += taken;
      if (at >= stream.length) return resolve(takes);
      scheduler.schedule(timer, at === unitEnd ? timer.deadline + intervalUs : now + RETRY_US);
    });
    scheduler.schedule(sendEvent, start);
  });
}

describe("cmd: output", () => {
  test("`cat > out.raw` receives exactly the bytes sent", async () => {
    const { ctx, failures } = harness();
    const out = join(dir, "out.raw");
    const backend = await commandBackend.create(`cmd:cat > '${out}'`, CD_STREAM, ctx);
    expect(backend.format).toEqual(CD_STREAM.format!);
    expect(backend.unitBytes).toBe(960 * 4); // 20 ms of 48 kHz stereo s16
    const stream = randomStream(1_000_000 + 4 * 7); // not a whole number of units
    await pump(ctx.scheduler, backend, stream, 500);
    await backend.close();
    expect(failures).toEqual([]);
    expect(Buffer.from(readFileSync(out)).equals(Buffer.from(stream))).toBe(true);
    expect(backend.counters.bytes).toBe(stream.length);
    expect(backend.counters.errors.restart).toBeUndefined();
  });

  test("the command sees PACER_FORMAT, PACER_RATE and PACER_CHANNELS of the output format", async () => {
    const { ctx } = harness();
    const envFile = join(dir, "env.txt");
    const stream: StreamInfo = { ...CD_STREAM, outFormat: parseSampleFormat("s24le:96000:1") };
    const backend = await commandBackend.create(
      `cmd:printf '%s %s %s' "$PACER_FORMAT" "$PACER_RATE" "$PACER_CHANNELS" > '${envFile}'; cat > /dev/null`,
      stream,
      ctx,
    );
    expect(backend.format).toEqual(stream.outFormat!);
    expect(backend.unitBytes).toBe(1920 * 3);
    await backend.close();
    expect(readFileSync(envFile, "utf8")).toBe("s24le 96000 1");
  });

  test("a command that is slow to read pushes back: the pipe holds at most its capacity, nothing is queued", async () => {
    const { ctx, failures } = harness();
    const out = join(dir, "slow.raw");
    const backend = await commandBackend.create(`cmd:sleep 0.3; cat > '${out}'`, CD_STREAM, ctx);
    const stream = randomStream(400_000);
    // Everything at once: only what fits in the pipe may be taken before the command reads.
    let takenBeforeReading = 0;
    for (let at = 0; at < stream.length; at += backend.unitBytes) {
      takenBeforeReading += backend.send(stream.subarray(at, at + backend.unitBytes), { sendUs: 0, frame: 0, marker: false, dueUs: 0 });
    }
    expect(takenBeforeReading).toBeGreaterThan(0);
    expect(takenBeforeReading).toBeLessThanOrEqual(1 << 20); // Linux pipe capacity, 64 KiB by default
    expect(takenBeforeReading % 4).toBe(0); // whole frames
    const rest = stream.subarray(takenBeforeReading);
    const takes = await pump(ctx.scheduler, backend, rest, 1000);
    expect(takes).toContain(0); // it had to wait for the command at least once
    await backend.close();
    expect(failures).toEqual([]);
    expect(Buffer.from(readFileSync(out)).equals(Buffer.from(stream))).toBe(true);
  });

  test("a command that dies is restarted, and each run gets a contiguous stretch of the stream, in order", async () => {
    process.env.PACER_CMD_BACKOFF_MS = "20";
    const { ctx, failures, lines } = harness();
    const parts = join(dir, "parts");
    const RUN = 100_000;
    const backend = await commandBackend.create(`cmd:head -c ${RUN} >> '${parts}'`, CD_STREAM, ctx);
    // ~1 MB/s for ~1.7 s: head finishes a run in ~0.1 s, so it dies and comes back many times.
    const stream = countingStream(backend.unitBytes * 420);
    await pump(ctx.scheduler, backend, stream, 4000);
    await backend.close();
    expect(failures).toEqual([]);

    const got = new Uint32Array(readFileSync(parts).buffer.slice(0));
    const runWords = RUN / 4;
    const fullRuns = Math.floor(got.length / runWords);
    expect(fullRuns).toBeGreaterThanOrEqual(4);
    expect(got.length % runWords).toBeLessThan(runWords); // at most one short run, the last
    let previousEnd = -1;
    for (let start = 0; start < got.length; start += runWords) {
      const end = Math.min(start + runWords, got.length);
      expect(got[start]!).toBeGreaterThan(previousEnd); // runs in stream order, never repeated
      for (let i = start + 1; i < end; i++) {
        if (got[i] !== got[i - 1]! + 1) throw new Error(`run at word ${start} breaks at word ${i}: ${got[i - 1]} then ${got[i]}`);
      }
      previousEnd = got[end - 1]!;
    }
    expect(backend.counters.errors.restart).toBeGreaterThanOrEqual(fullRuns - 1);
    expect(lines.some((l) => /cmd: `head -c 100000 .*` exited with status 0 after reading \d+ bytes; restarting it in 20 ms/.test(l))).toBe(true);
  });

  test("a command that does not exist is tried 10 times, then fails the destination with a clear message", async () => {
    process.env.PACER_CMD_BACKOFF_MS = "1";
    const { ctx, failed, failures, lines } = harness();
    const backend = await commandBackend.create("cmd:pacer_no_such_command_xyz --flag", CD_STREAM, ctx);
    const error = await failed;
    expect(error).toBeInstanceOf(PacerError);
    // The job puts the output's label (cmd:pacer_no_such_command_xyz --flag) in front: the message does not repeat it.
    expect(error.message).toBe(
      "died 10 times without reading any input: " +
        "exited with status 127 (command not found): sh: 1: pacer_no_such_command_xyz: not found",
    );
    expect(failures.length).toBe(1);
    expect(backend.counters.errors.restart).toBe(9);
    expect(lines).toContain("pacer: [cmd] sh: 1: pacer_no_such_command_xyz: not found");
    // Given up: units are taken and dropped, never an exception, never a stall.
    const unit = new Uint8Array(backend.unitBytes);
    expect(backend.send(unit, { sendUs: 0, frame: 0, marker: false, dueUs: 0 })).toBe(unit.length);
    await backend.close();
  });

  test("close waits for the command to exit; its stderr is logged, and a failing exit after reading the stream fails the close (it was only a warning)", async () => {
    const { ctx, failures, lines } = harness();
    const marker = join(dir, "exited");
    const backend = await commandBackend.create(
      `cmd:echo starting >&2; cat > /dev/null; sleep 0.2; echo bye >&2; touch '${marker}'; exit 3`,
      CD_STREAM,
      ctx,
    );
    await pump(ctx.scheduler, backend, randomStream(backend.unitBytes * 10), 1000);
    await expect(backend.close()).rejects.toThrow(/^exited with status 3 at the end of the stream$/);
    expect(existsSync(marker)).toBe(true); // close settled only after the command finished
    expect(failures).toEqual([]);
    expect(backend.counters.errors.restart).toBeUndefined();
    expect(lines).toContain("pacer: [cmd] starting");
    expect(lines).toContain("pacer: [cmd] bye");
  });

  test("close with a deadline ends a command stuck on unread input: SIGTERM to its process group, SIGKILL 1 s later, the unread bytes counted lost", async () => {
    const { ctx, failures, lines } = harness();
    const pids = join(dir, "stuck-pids");
    // Ignores SIGTERM (so SIGKILL is needed) and never reads; its `sleep` is a process of its own.
    const backend = await commandBackend.create(`cmd:trap '' TERM; sleep 30 & echo $$ $! > '${pids}'; wait`, CD_STREAM, ctx);
    let written = 0;
    for (let i = 0; i < 100; i++) written += backend.send(new Uint8Array(backend.unitBytes), { sendUs: 0, frame: 0, marker: false, dueUs: 0 });
    expect(written).toBeGreaterThan(0);
    const scheduler = ctx.scheduler;
    const closedAt = scheduler.now();
    await backend.close(closedAt + 300_000);
    const tookUs = scheduler.now() - closedAt;
    expect(tookUs).toBeGreaterThanOrEqual(300_000 + 1_000_000 - 20_000);
    expect(tookUs).toBeLessThan(300_000 + 1_000_000 + 1_500_000);
    expect(failures).toEqual([]);
    expect(backend.counters.lostBytes).toBe(written);
    expect(backend.counters.errors.ended).toBe(1);
    expect(lines.some((l) => l.includes(`still had ${written} bytes of its input unread at its deadline; ending it (SIGTERM, then SIGKILL)`))).toBe(true);
    // Both the shell and its sleep are gone (a zombie not yet reaped is gone too). SIGKILL is
    // delivered when the victim next runs, so on a loaded host the sleep may outlive the shell's
    // exit event by a moment: give it up to 2 s.
    const stuck = readFileSync(pids, "utf8").trim().split(" ").map(Number);
    for (let waited = 0; waited < 2000 && stuck.some(running); waited += 20) await Bun.sleep(20);
    for (const pid of stuck) expect(running(pid)).toBe(false);
  }, 10_000);

  test("close with a deadline still waits for a command that read everything and takes its time to exit", async () => {
    const { ctx } = harness();
    const marker = join(dir, "finished-late");
    const backend = await commandBackend.create(`cmd:cat > /dev/null; sleep 0.6; touch '${marker}'`, CD_STREAM, ctx);
    await pump(ctx.scheduler, backend, randomStream(backend.unitBytes * 5), 1000);
    await backend.close(ctx.scheduler.now() + 100_000);
    expect(existsSync(marker)).toBe(true);
    expect(backend.counters.lostBytes).toBe(0);
    expect(backend.counters.errors.ended).toBeUndefined();
  });

  test("what a command never got is counted lost: units dropped while it was down, and bytes it left unread when it died", async () => {
    process.env.PACER_CMD_BACKOFF_MS = "50";
    const { ctx } = harness();
    // Each run reads exactly 1000 bytes (one read) and exits, leaving the rest of its pipe unread.
    const backend = await commandBackend.create("cmd:dd bs=1000 count=1 of=/dev/null status=none", CD_STREAM, ctx);
    const stream = randomStream(backend.unitBytes * 40);
    await pump(ctx.scheduler, backend, stream, 5000);
    await backend.close();
    // Every byte was read by a run (1000 each; a last run may have started after the last unit) or counted lost.
    const runs = 1 + (backend.counters.errors.restart ?? 0);
    expect(runs).toBeGreaterThanOrEqual(2);
    expect(backend.counters.lostBytes).toBeGreaterThanOrEqual(stream.length - runs * 1000);
    expect(backend.counters.lostBytes).toBeLessThanOrEqual(stream.length - (runs - 1) * 1000);
  });

  test("cmd: with no command is a usage error", async () => {
    const { ctx } = harness();
    await expect(commandBackend.create("cmd:  ", CD_STREAM, ctx)).rejects.toThrow(/cmd: needs a shell command/);
  });

  test("MPEG-TS goes in whole TS packets with no PACER_FORMAT", async () => {
    const { ctx } = harness();
    const envFile = join(dir, "ts-env.txt");
    const backend = await commandBackend.create(`cmd:printf '[%s]' "$PACER_FORMAT" > '${envFile}'; cat > /dev/null`, { kind: "mpegts" }, ctx);
    expect(backend.unitBytes % 188).toBe(0);
    expect(backend.format).toBeUndefined();
    await backend.close();
    expect(readFileSync(envFile, "utf8")).toBe("[]");
  });
});
