/**
 * Story: a user plays to `file:` outputs at rates far from the input's, and into a FIFO that a
 * reader opens only later. The file gets the same stream whatever the rate (a unit is about
 * 100 ms of audio, at least one frame), a FIFO with no reader yet is waited for without
 * freezing pacer, and a pipe's reader gets an MPEG stream in real time, not ahead in bursts.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createConverter } from "../../convert/converter.ts";
import { parseSampleFormat } from "../../protocol/sample_format.ts";
import { parseWavHeader } from "../../protocol/wav.ts";
import { makeCbrTs } from "../helpers/mpeg_fixtures.ts";
import { havePeer, MAIN, runPacer, startPacer } from "../helpers/pacer.ts";
import { udpReceiver } from "../helpers/udp_receiver.ts";

const dir = mkdtempSync(join(tmpdir(), "pacer-file-output-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A 2 s 44.1 kHz stereo 16-bit WAV made by sox (not by pacer). */
function toneWav(): string | null {
  if (!havePeer("sox")) return null;
  const wav = join(dir, "tone.wav");
  expect(spawnSync("sox", ["-n", "-r", "44100", "-c", "2", "-b", "16", wav, "synth", "2", "sine", "3", "vol", "-3dB"]).status).toBe(0);
  return wav;
}

describe("file: outputs at any --out-format rate", () => {
  test("u8:1:1 plays (one frame a second), where 64 KiB units asked for an 11 GB conversion buffer and crashed", async () => {
    const wav = toneWav();
    if (!wav) return;
    const out = join(dir, "one-hertz.raw");
    const run = await runPacer(["play", wav, "--out-format", "u8:1:1", "--to", `file:${out}`]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(readFileSync(out).length).toBe(2);
  }, 20_000);

  test("f32le:10:1 holds exactly what the converter makes of the whole input at once", async () => {
    const wav = toneWav();
    if (!wav) return;
    const out = join(dir, "ten-hertz.raw");
    const run = await runPacer(["play", wav, "--out-format", "f32le:10:1", "--to", `file:${out}`]);
    expect(run.code).toBe(0);
    // Float output is never dithered, so the stream is exact, whatever the units it went out in.
    const converter = await createConverter(parseSampleFormat("s16le:44100:2"), parseSampleFormat("f32le:10:1"));
    const samples = samplesOf(wav);
    const expected = Buffer.concat([Buffer.from(converter.convert(samples)), Buffer.from(converter.flush())]);
    expect(expected.length).toBe(20 * 4);
    expect(readFileSync(out).equals(expected)).toBe(true);
  }, 20_000);
});

/** A FIFO at a fresh path, made by mkfifo(1). */
function fifo(name: string): string {
  const path = join(dir, name);
  expect(spawnSync("mkfifo", [path]).status).toBe(0);
  return path;
}

/** `cat FIFO > out`, started `afterMs` from now: a reader that comes late. */
function lateReader(path: string, out: string, afterMs: number) {
  const reader = { startedUs: Infinity, exited: null as Promise<number | null> | null };
  const started = new Promise<void>((resolve) =>
    setTimeout(() => {
      reader.startedUs = Bun.nanoseconds() / 1000; // the clock udpReceiver stamps arrivals with
      const cat = spawn("sh", ["-c", 'exec cat "$0" > "$1"', path, out], { stdio: "ignore" });
      reader.exited = new Promise((done) => cat.on("close", done));
      resolve();
    }, afterMs),
  );
  return { reader, exited: async () => (await started, await reader.exited) };
}

/** The samples of a WAV, after its header. */
function samplesOf(wav: string): Buffer {
  const bytes = readFileSync(wav);
  const header = parseWavHeader(bytes);
  if (header.status !== "ok") throw new Error(`${wav}: not a WAV`);
  return bytes.subarray(header.dataOffset, header.dataOffset + header.dataBytes!);
}

/** pacer play running: its exit status and stderr, and when it exited. */
function startPlay(args: string[]) {
  const child = startPacer(["play", ...args]);
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  child.stdin.end();
  const killer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  const done = new Promise<{ code: number | null; stderr: string; atMs: number }>((resolve) =>
    child.on("close", (code) => {
      clearTimeout(killer);
      resolve({ code, stderr, atMs: performance.now() });
    }),
  );
  return { child, done, stderr: () => stderr };
}

/** Resolves once play's stderr has `text`: it got that far (its signal handlers are set by then). */
async function saidSo(play: { stderr(): string }, text: string): Promise<void> {
  for (const until = Date.now() + 10_000; !play.stderr().includes(text); await Bun.sleep(20)) {
    if (Date.now() > until) throw new Error(`play never said "${text}"; its stderr: ${play.stderr()}`);
  }
}

describe("file: on a FIFO that no one reads yet", () => {
  test("pacer says once that it waits, and a reader that comes 1 s later gets exactly what a plain file gets", async () => {
    const wav = toneWav();
    if (!wav) return;
    const plain = join(dir, "plain.raw");
    expect((await runPacer(["play", wav, "--to", `file:${plain}`])).code).toBe(0);
    const path = fifo("late.fifo");
    const out = join(dir, "late.raw");
    const late = lateReader(path, out, 1000);
    const run = await runPacer(["play", wav, "--to", `file:${path}`]);
    expect(await late.exited()).toBe(0);
    expect(run.stderr).toBe(`pacer: file: waiting for a reader to open the FIFO ${path} dest=file:${path}\n`);
    expect(run.code).toBe(0);
    expect(readFileSync(out).equals(readFileSync(plain))).toBe(true);
  }, 20_000);

  test("beside a udp:// output it holds nothing up: the datagrams go out in real time while it waits, and its reader still gets the whole stream", async () => {
    const wav = toneWav();
    if (!wav) return;
    const rx = await udpReceiver();
    const path = fifo("beside-udp.fifo");
    const out = join(dir, "beside-udp.raw");
    const late = lateReader(path, out, 1500);
    const run = await runPacer(["play", wav, "--to", `udp://127.0.0.1:${rx.port}`, "--to", `file:${path}`]);
    expect(await late.exited()).toBe(0);
    await rx.settled();
    rx.close();
    expect(run.code).toBe(0);
    const pcm = samplesOf(wav);
    // The datagrams kept real time from the start (2 s of audio over about 2 s), and a good part
    // of the stream had gone out before the FIFO's reader came: the wait held nothing back.
    const first = rx.packets[0]!.atUs;
    const last = rx.packets.at(-1)!.atUs;
    expect(last - first).toBeGreaterThan(1_900_000);
    expect(first).toBeLessThan(late.reader.startedUs - 500_000);
    const sentBeforeReader = rx.packets.filter((p) => p.atUs < late.reader.startedUs).reduce((n, p) => n + p.data.length, 0);
    expect(sentBeforeReader).toBeGreaterThan((late.reader.startedUs - first - 100_000) * (pcm.length / 2e6));
    expect(Buffer.concat(rx.packets.map((p) => p.data)).equals(pcm)).toBe(true);
    expect(readFileSync(out).equals(pcm)).toBe(true);
  }, 20_000);

  for (const [signal, status] of [
    ["SIGINT", 130],
    ["SIGTERM", 143],
  ] as const) {
    test(`${signal} while it waits for a reader ends play at once with ${status}`, async () => {
      const wav = toneWav();
      if (!wav) return;
      const path = fifo(`${signal}.fifo`);
      const play = startPlay([wav, "--to", `file:${path}`]);
      // Waiting, not a guessed sleep: a signal before play's handlers are set kills it unclosed.
      await saidSo(play, "waiting for a reader");
      const sentMs = performance.now();
      play.child.kill(signal);
      const result = await play.done;
      expect(result.code).toBe(status);
      expect(result.atMs - sentMs).toBeLessThan(500);
      expect(result.stderr).toBe(`pacer: file: waiting for a reader to open the FIFO ${path} dest=file:${path}\n`);
    }, 20_000);
  }

  test("a reader that opens it and never reads does not freeze pacer: Ctrl-C still ends play at once (130)", async () => {
    const wav = toneWav();
    if (!wav) return;
    const path = fifo("stuck.fifo");
    // Holds the FIFO open for reading and reads nothing: the pipe fills after 64 KiB.
    const holder = spawn("sh", ["-c", 'exec sleep 30 < "$0"', path], { stdio: "ignore" });
    try {
      const play = startPlay([wav, "--to", `file:${path}`]);
      await Bun.sleep(1500);
      const sentMs = performance.now();
      play.child.kill("SIGINT");
      const result = await play.done;
      expect(result.code).toBe(130);
      expect(result.atMs - sentMs).toBeLessThan(500);
    } finally {
      holder.kill("SIGKILL");
    }
  }, 20_000);
});

describe("file:/dev/stdout piped to a reader", () => {
  test("a 256 kbit/s TS comes in real time, never more than 1 s of it ahead; 64 KiB units sent the first 2 s of it at once", async () => {
    const bytesPerSecond = 32_000;
    const path = join(dir, "radio.ts");
    writeFileSync(path, makeCbrTs({ bitrate: bytesPerSecond * 8, duration: 3 }));
    // A shell pipeline, as a user writes it: the test's own stdout would be a socket, not a pipe.
    const play = spawn("bash", ["-o", "pipefail", "-c", '"$0" "$1" play "$2" --to file:/dev/stdout | cat', process.execPath, MAIN, path], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    play.stderr.on("data", (d) => (stderr += d));
    // Each read of the pipe: when (since the first) and how many bytes had come by then.
    const reads: { atMs: number; total: number }[] = [];
    let total = 0;
    play.stdout.on("data", (chunk: Buffer) => {
      total += chunk.length;
      reads.push({ atMs: performance.now(), total });
    });
    const code = await new Promise<number | null>((resolve) => play.on("close", resolve));
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(total).toBe(readFileSync(path).length);
    // Lateness (a slow host) only helps; being ahead is what a 64 KiB unit did.
    const firstMs = reads[0]!.atMs;
    const ahead = reads.map((r) => r.total / bytesPerSecond - (r.atMs - firstMs) / 1000);
    expect(Math.max(...ahead)).toBeLessThan(1);
  }, 20_000);
});
