/**
 * Speaker tests' shared parts: a real `pacer serve` with a [speaker] table, its media (WAVs of
 * different rates and depths, a FLAC made with the `flac` tool), a control client, and the
 * reference: each track converted on its own with pacer's converter and concatenated.
 */
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ControlClient } from "../../client/control_client.ts";
import { createConverter } from "../../convert/converter.ts";
import { encodeSamples } from "../../convert/samples.ts";
import { bytesPerFrame, parseSampleFormat, type SampleFormat } from "../../protocol/sample_format.ts";
import { writeWav } from "../helpers/audio.ts";
import { launch, prepareServe, type ServeFixture } from "../server/serve_fixture.ts";

export interface TestTrack {
  readonly name: string;
  /** The PCM the speaker decodes from it. */
  readonly format: SampleFormat;
  readonly samples: Uint8Array;
}

/** Samples that differ in every frame and channel (a sine per channel plus a small ramp), so loss or repeats show. */
export function testSignal(format: SampleFormat, seconds: number, freq: number): Uint8Array {
  const frames = Math.round(format.rate * seconds);
  const floats = new Float32Array(frames * format.channels);
  for (let i = 0; i < frames; i++) {
    for (let c = 0; c < format.channels; c++) {
      floats[i * format.channels + c] = 0.6 * Math.sin((2 * Math.PI * freq * (c + 1) * i) / format.rate) + ((i % 97) - 48) / 4000;
    }
  }
  const out = new Uint8Array(frames * bytesPerFrame(format));
  encodeSamples(format.encoding, floats, floats.length, out, null);
  return out;
}

export function wavTrack(dir: string, name: string, spec: string, seconds: number, freq: number): TestTrack {
  const format = parseSampleFormat(spec);
  const samples = testSignal(format, seconds, freq);
  writeWav(join(dir, name), format, samples);
  chmodSync(join(dir, name), 0o644);
  return { name, format, samples };
}

/** A FLAC made by the `flac` tool from a WAV of `spec` (16-bit). */
export function flacTrack(dir: string, name: string, spec: string, seconds: number, freq: number): TestTrack {
  const wav = wavTrack(dir, `${name}.src.wav`, spec, seconds, freq);
  const run = Bun.spawnSync(["flac", "-s", "-f", "-o", join(dir, name), join(dir, wav.name)]);
  if (run.exitCode !== 0) throw new Error(`flac failed: ${run.stderr}`);
  chmodSync(join(dir, name), 0o644);
  return { ...wav, name };
}

export const FLAC_DECODER = (format: string) =>
  `flac = { command = "flac -dcs --force-raw-format --endian=little --sign=signed {path}", format = "${format}" }`;

/** Each track converted on its own to `out` (the resampler flushed at its end, as the speaker does), concatenated. */
export async function expectedOutput(tracks: readonly TestTrack[], out: SampleFormat): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for (const t of tracks) {
    const converter = await createConverter(t.format, out);
    parts.push(Buffer.from(converter.convert(t.samples)));
    parts.push(Buffer.from(converter.flush()));
  }
  return Buffer.concat(parts);
}

export interface SpeakerServe extends ServeFixture {
  readonly client: ControlClient;
  request(op: Parameters<ControlClient["request"]>[0], args?: Record<string, unknown>): Promise<any>;
  /** Polls `status` until `until(speaker part)` holds; returns that part. */
  waitSpeaker(until: (speaker: any) => boolean, timeoutMs?: number): Promise<any>;
}

/** Stops a serve that startSpeakerServe started, if any, and removes its files (for afterEach). */
export async function endSpeakerServe(serve: SpeakerServe | null): Promise<void> {
  if (!serve) return;
  serve.client.close();
  await serve.stop();
  serve.cleanup();
}

/** Starts serve with `[speaker]` lines (given its temp directory) (and a [speaker.decoders] table, and `[limits]` lines), media written by `media(dir)` first. */
export async function startSpeakerServe(
  speaker: (dir: string) => string[],
  decoders: string[],
  media: (mediaRoot: string) => void,
  limits: string[] = [],
): Promise<SpeakerServe> {
  const prepared = await prepareServe();
  media(prepared.mediaRoot);
  // The server may run as nobody: its outputs write into the temp directory.
  chmodSync(prepared.dir, 0o777);
  const config = [`control = "127.0.0.1:${prepared.port}"`, `media_root = "${prepared.mediaRoot}"`, "[speaker]", ...speaker(prepared.dir)];
  if (decoders.length) config.push("[speaker.decoders]", ...decoders);
  if (limits.length) config.push("[limits]", ...limits);
  writeFileSync(prepared.configPath, config.join("\n") + "\n", { mode: 0o644 });
  const fixture = launch(prepared.dir, prepared.mediaRoot, prepared.configPath, prepared.port);
  await fixture.ready;
  const client = await ControlClient.open(fixture.address);
  const request = async (op: any, args: Record<string, unknown> = {}) => client.request(op, args, { ttlMs: 3000 });
  return {
    ...fixture,
    client,
    request,
    async waitSpeaker(until, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const reply = await request("status");
        const speaker = reply.ok ? (reply.result as { speaker?: unknown }).speaker : null;
        if (speaker && until(speaker)) return speaker;
        if (Date.now() > deadline) throw new Error(`speaker status never matched; last: ${JSON.stringify(speaker)}\n${fixture.stderr()}`);
        await Bun.sleep(50);
      }
    },
  };
}
