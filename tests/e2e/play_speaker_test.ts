/**
 * Story: the speaker outputs as a user drives them from the command line.
 * `pacer play tone.wav --to alsa:pacer_test` writes exactly the samples
 * through real libasound (an ALSA file PCM); `--to 'cmd:cat > out.raw'` has
 * every byte by the time play exits; a command that dies mid-stream is
 * restarted and each run gets a contiguous, in-order run of the stream.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bytesPerFrame, type Encoding, type SampleFormat } from "../../protocol/sample_format.ts";
import { wavHeader } from "../../protocol/wav.ts";
import { writeTestAsoundrc } from "../helpers/asoundrc.ts";
import { runPacer } from "../helpers/pacer.ts";

const dir = mkdtempSync(join(tmpdir(), "pacer-speaker-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A counting pattern: any reordering, loss or duplication shows. */
function pattern(bytes: number): Buffer {
  const out = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) out[i] = (i * 7 + (i >> 8)) & 0xff;
  return out;
}

function wavFile(name: string, format: SampleFormat, seconds: number): { path: string; samples: Buffer } {
  const frames = Math.round(format.rate * seconds);
  const samples = pattern(frames * bytesPerFrame(format));
  if (format.encoding === "f32le") {
    // Floats must be finite: a ramp in [-0.5, 0.5).
    for (let i = 0; i < samples.length / 4; i++) samples.writeFloatLE(((i % 1000) - 500) / 1000, i * 4);
  }
  const path = join(dir, name);
  writeFileSync(path, Buffer.concat([wavHeader(format, samples.length), samples]));
  return { path, samples };
}

describe("alsa: through real libasound (ALSA file PCM)", () => {
  const encodings: Encoding[] = ["u8", "s16le", "s24le", "s32le", "f32le"];
  for (const rate of [44_100, 48_000]) {
    for (const encoding of encodings) {
      test(`${encoding} at ${rate} Hz is written byte for byte`, async () => {
        const rc = writeTestAsoundrc();
        try {
          const { path, samples } = wavFile(`${encoding}-${rate}.wav`, { encoding, rate, channels: 2 }, 0.2);
          const run = await runPacer(["play", path, "--to", "alsa:pacer_test"], { env: rc.env });
          expect(run.stderr).toBe("");
          expect(run.code).toBe(0);
          expect(readFileSync(rc.outFile).equals(samples)).toBe(true);
        } finally {
          rc.cleanup();
        }
      });
    }
  }

  test("an unknown device is a one-line error and exit 1; nothing else breaks", async () => {
    const rc = writeTestAsoundrc();
    try {
      const { path } = wavFile("short.wav", { encoding: "s16le", rate: 44_100, channels: 2 }, 0.1);
      const run = await runPacer(["play", path, "--to", "alsa:no_such_pcm"], { env: rc.env });
      expect(run.code).toBe(1);
      expect(run.stderr).toContain("alsa:no_such_pcm");
      expect(run.stderr.split("\n").filter((l) => l.startsWith("pacer:"))).toHaveLength(1);
    } finally {
      rc.cleanup();
    }
  });
});

describe("cmd: a shell command's stdin", () => {
  test("cmd:cat > out.raw has exactly the stream by the time play exits, with PACER_* set", async () => {
    const format: SampleFormat = { encoding: "s16le", rate: 44_100, channels: 2 };
    const { path, samples } = wavFile("cmd.wav", format, 0.5);
    const out = join(dir, "out.raw");
    const env = join(dir, "env.txt");
    const run = await runPacer(["play", path, "--to", `cmd:cat > ${out}; echo $PACER_FORMAT $PACER_RATE $PACER_CHANNELS > ${env}`]);
    expect(run.code).toBe(0);
    expect(readFileSync(out).equals(samples)).toBe(true);
    expect(readFileSync(env, "utf8").trim()).toBe("s16le 44100 2");
  });

  test("a command that reads slowly gets every byte once, though its pipe fills (24-bit stereo: units larger than PIPE_BUF)", async () => {
    // 20 ms of s24le 48 kHz stereo is 5,760 bytes: before, a write that large into a nearly full
    // pipe could stop mid-frame, and the unsent part of that frame was written a second time.
    const format: SampleFormat = { encoding: "s24le", rate: 48_000, channels: 2 };
    const { path, samples } = wavFile("slow.wav", format, 1);
    const out = join(dir, "slow.raw");
    // The reader takes 2,053 bytes (not whole frames) every 10 ms, slower than the stream, so the
    // 64 KiB pipe fills and stays nearly full.
    const slowCat = `perl -e 'while (read(STDIN, $b, 2053)) { print $b; select(undef, undef, undef, 0.01) }' > ${out}`;
    const run = await runPacer(["play", path, "--to", `cmd:${slowCat}`]);
    expect(run.code).toBe(0);
    const got = readFileSync(out);
    expect(got.length).toBe(samples.length);
    expect(got.equals(samples)).toBe(true);
  }, 20_000);

  test("--out-format converts for the command: stereo to mono is 0.5·(L + R), frame by frame", async () => {
    // Left and right ramps of their own, even, so each mono sample is a whole number.
    const frames = Math.round(44_100 * 0.25);
    const stereo = Buffer.alloc(frames * 4);
    const mono: number[] = [];
    for (let i = 0; i < frames; i++) {
      const left = 2 * ((i % 4000) - 2000);
      const right = 2 * (((i * 3) % 5000) - 2500);
      stereo.writeInt16LE(left, i * 4);
      stereo.writeInt16LE(right, i * 4 + 2);
      mono.push((left + right) / 2);
    }
    const path = join(dir, "conv.wav");
    writeFileSync(path, Buffer.concat([wavHeader({ encoding: "s16le", rate: 44_100, channels: 2 }, stereo.length), stereo]));
    const out = join(dir, "mono.raw");
    const run = await runPacer(["play", path, "--out-format", "s16le:44100:1", "--to", `cmd:cat > ${out}`]);
    expect(run.code).toBe(0);
    const got = readFileSync(out);
    expect(got.length).toBe(frames * 2);
    // Within a step of 16-bit dither of the average, every sample.
    let worst = 0;
    for (let i = 0; i < frames; i++) worst = Math.max(worst, Math.abs(got.readInt16LE(i * 2) - mono[i]!));
    expect(worst).toBeLessThanOrEqual(1);
  });

  test("a command that dies mid-stream is restarted; each run's bytes are a contiguous run of the stream, in order", async () => {
    const format: SampleFormat = { encoding: "s16le", rate: 44_100, channels: 2 };
    const { path, samples } = wavFile("dying.wav", format, 2);
    const parts = join(dir, "parts");
    writeFileSync(parts, "");
    const run = await runPacer(["play", path, "--to", `cmd:head -c 100000 >> ${parts}`], { env: { PACER_CMD_BACKOFF_MS: "20" } });
    // Each run leaves the rest of its pipe unread: that is a loss, reported, and exit 1 (issue 10 item 2).
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/: lost \d+(\.\d)? m?s of 2\.0 s \(restarted \d+ times\)/);
    const written = readFileSync(parts);
    const runs = Math.floor(written.length / 100_000);
    expect(runs).toBeGreaterThanOrEqual(3);
    let searchFrom = 0;
    for (let r = 0; r < runs; r++) {
      const chunk = written.subarray(r * 100_000, (r + 1) * 100_000);
      const at = samples.indexOf(chunk, searchFrom);
      expect(at).toBeGreaterThanOrEqual(searchFrom); // found, and after the previous run
      searchFrom = at + chunk.length;
    }
  });

  test("a command that doesn't exist gives up with a clear error and exit 1", async () => {
    const { path } = wavFile("nosuch.wav", { encoding: "s16le", rate: 44_100, channels: 2 }, 3);
    const run = await runPacer(["play", path, "--to", "cmd:pacer_no_such_command_zz"], { env: { PACER_CMD_BACKOFF_MS: "5" } });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("died 10 times without reading any input");
    expect(run.stderr).toContain("not found");
  });
});
