/**
 * Conversion speed as a multiple of real time, one core, for the chains pacer uses.
 * Each chain converts 60 s of a two-tone signal in 20 ms blocks (after a warm-up),
 * then flushes.
 *
 * @example
 * ```sh
 * bun bench/convert_bench.ts
 * ```
 */
import { createConverter } from "../convert/converter.ts";
import { bytesPerFrame, parseSampleFormat, type SampleFormat } from "../protocol/sample_format.ts";
import { encodeSamples } from "../convert/samples.ts";

const BENCH_SECONDS = 60;
const WARMUP_SECONDS = 5;
const BLOCK_MS = 20;

/** [from, to] pairs, the first being the headline 48k/24/2 → 44.1k/16/2. */
export const BENCH_CHAINS: readonly (readonly [string, string])[] = [
  ["s24le:48000:2", "s16le:44100:2"],
  ["s16le:44100:2", "s16le:48000:2"],
  ["f32le:48000:2", "s16le:44100:2"],
  ["s16le:48000:6", "s16le:48000:2"],
  ["s24le:48000:2", "s16le:48000:2"],
  ["s16le:44100:2", "s16be:44100:2"],
  ["s16le:44100:1", "s24le:44100:2"],
];

/** One block of a 997 Hz + 5 kHz mix at −6 dBFS in `format`. */
function testBlock(format: SampleFormat, frames: number): Uint8Array {
  const floats = new Float32Array(frames * format.channels);
  for (let f = 0; f < frames; f++) {
    const t = f / format.rate;
    const v = 0.25 * Math.sin(2 * Math.PI * 997 * t) + 0.25 * Math.sin(2 * Math.PI * 5000 * t);
    for (let c = 0; c < format.channels; c++) floats[f * format.channels + c] = v;
  }
  const bytes = new Uint8Array(frames * bytesPerFrame(format));
  encodeSamples(format.encoding, floats, floats.length, bytes, null);
  return bytes;
}

async function benchChain(fromSpec: string, toSpec: string): Promise<Record<string, string | number>> {
  const from = parseSampleFormat(fromSpec);
  const to = parseSampleFormat(toSpec);
  const conv = await createConverter(from, to, { seed: 1 });
  const block = testBlock(from, Math.round((from.rate * BLOCK_MS) / 1000));
  const blocks = Math.round((BENCH_SECONDS * 1000) / BLOCK_MS);
  for (let i = 0; i < (WARMUP_SECONDS * 1000) / BLOCK_MS; i++) conv.convert(block);
  conv.flush();
  let outBytes = 0;
  const start = Bun.nanoseconds();
  for (let i = 0; i < blocks; i++) outBytes += conv.convert(block).length;
  outBytes += conv.flush().length;
  const seconds = (Bun.nanoseconds() - start) / 1e9;
  return {
    from: fromSpec,
    to: toSpec,
    "× real time": Math.round(BENCH_SECONDS / seconds),
    "MB/s in": Number(((blocks * block.length) / seconds / 1e6).toFixed(1)),
    "out s": Number((outBytes / bytesPerFrame(to) / to.rate).toFixed(3)),
  };
}

/** Rows for the bench table: one per chain in {@link BENCH_CHAINS}. */
export async function benchConvert(): Promise<Record<string, string | number>[]> {
  const rows: Record<string, string | number>[] = [];
  for (const [from, to] of BENCH_CHAINS) rows.push(await benchChain(from, to));
  return rows;
}

if (import.meta.main) console.table(await benchConvert());
