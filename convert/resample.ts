/**
 * Band-limited sample-rate conversion: a polyphase windowed-sinc (Kaiser) filter,
 * streaming, over interleaved float frames.
 *
 * Why our own and not libsamplerate-js: measured on this host (48 k → 44.1 k stereo),
 * its WASM SRC_SINC_MEDIUM_QUALITY runs at ~70× real time and SRC_SINC_FASTEST at
 * ~140×, short of the 200× budget for the whole chain. This filter's dot products
 * run in a WebAssembly SIMD kernel (resample_kernel.ts), four taps at a time and
 * two channels against each row: resampling alone runs at 410–640× and the whole
 * s24 → s16 chain at 227–268× on this shared host (93–102× with the same loop in
 * JavaScript, measured in turns),
 * with THD+N of −138 dB for 1 kHz at −1 dBFS (−140 dB with double sums)
 * (bench/convert_bench.ts, tests/convert/quality_test.ts).
 *
 * Design (defaults): stopband attenuation 120 dB; passband flat to 0.9 × the lower
 * Nyquist (19.8 kHz at 44.1 kHz); stopband from `min(rate) − passband edge`
 * (24.3 kHz for 48 k → 44.1 k), so anything that aliases lands above the passband
 * edge, and content between 19.8 kHz and Nyquist may alias partially, as with sox -a.
 * Taps follow Kaiser's estimate N = (A − 7.95) / (2.285 · 2π · Δf), rounded up to a
 * multiple of 4: 88 for 48 → 44.1 k, 80 for 44.1 → 48 k.
 *
 * Rational ratios (up/down = 147/160 for 48 k → 44.1 k) use one exact table row per
 * phase. When `up` exceeds {@link MAX_EXACT_PHASES} the table has that many phases
 * and coefficients are interpolated linearly between neighbouring rows.
 *
 * Output is time-aligned with the input (zero delay): the first output frame is
 * the input at t = 0, and after {@link Resampler.flush} the total output is exactly
 * ⌈inputFrames · to / from⌉ frames.
 *
 * @example
 * ```ts
 * const rs = new Resampler(2, 48000, 44100, 4800);
 * const out = new Float32Array(rs.outputFramesFor(4800) * 2);
 * const frames = rs.process(block, 4800, out);   // interleaved in, interleaved out
 * const tail = rs.flush(out);                    // at end of stream
 * ```
 */

import { KERNEL_FRAC_ADDR, KERNEL_POS_ADDR, KERNEL_SCRATCH_BYTES, resampleKernel, type KernelRun } from "./resample_kernel.ts";

export interface ResamplerOptions {
  /** Stopband attenuation in dB. Default {@link DEFAULT_ATTENUATION_DB}. */
  readonly attenuationDb?: number;
  /** Passband edge as a fraction of the lower Nyquist frequency, in (0, 1). Default {@link DEFAULT_PASSBAND}. */
  readonly passband?: number;
}

export const DEFAULT_ATTENUATION_DB = 120;
export const DEFAULT_PASSBAND = 0.9;
/** Above this many phases the table is interpolated (4096 rows × ~90 taps ≈ 1.5 MB). */
export const MAX_EXACT_PHASES = 4096;
/** Kaiser's empirical constants for filter length and β (A > 50 dB). */
const KAISER_LENGTH_OFFSET_DB = 7.95;
const KAISER_LENGTH_SLOPE = 2.285;
const KAISER_BETA_SLOPE = 0.1102;
const KAISER_BETA_OFFSET_DB = 8.7;
const BESSEL_TERMS = 50;
const WASM_PAGE_BYTES = 65536;
/** Taps are rounded up to a multiple of 4: the kernel takes four at a time, with no remainder. */
const TAP_MULTIPLE = 4;

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** Modified Bessel function of the first kind, order 0 (series; converges fast for β < 20). */
function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  const q = (x * x) / 4;
  for (let k = 1; k < BESSEL_TERMS; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return sum;
}

function sinc(x: number): number {
  if (x === 0) return 1;
  const px = Math.PI * x;
  return Math.sin(px) / px;
}

export class Resampler {
  /** Filter length in input samples (even). */
  readonly taps: number;
  /** The reduced ratio: output rate / input rate = up / down. */
  readonly up: number;
  readonly down: number;
  /** Upper bound of frames {@link flush} returns. */
  readonly flushFrames: number;
  private readonly phases: number;
  private readonly exact: boolean;
  /** The kernel's memory: scratch, the table, the blended row, a history per channel, the output. */
  private readonly run: KernelRun;
  private readonly run2: KernelRun;
  private readonly scratch: Int32Array;
  private readonly tableAddr: number;
  private readonly table: Float32Array;
  /** Blended coefficients for the interpolated path. */
  private readonly blendedAddr: number;
  private readonly blended: Float32Array;
  private readonly historyAddr: number[];
  /** Bytes from one channel's history to the next's (run2 takes a pair). */
  private readonly channelBytes: number;
  private readonly history: Float32Array[];
  private readonly outAddr: number;
  private readonly output: Float32Array;
  private readonly outputFrames: number;
  private readonly capacity: number;
  private readonly stepWhole: number;
  private readonly stepFrac: number;
  /** History index of the first tap of the next output, and its phase in [0, up). */
  private pos = 0;
  private frac = 0;
  private fill = 0;
  private totalIn = 0;
  private totalOut = 0;

  constructor(
    readonly channels: number,
    readonly fromRate: number,
    readonly toRate: number,
    maxInputFrames: number,
    opts: ResamplerOptions = {},
  ) {
    const attenuation = opts.attenuationDb ?? DEFAULT_ATTENUATION_DB;
    const passband = opts.passband ?? DEFAULT_PASSBAND;
    if (!(passband > 0 && passband < 1)) throw new RangeError(`passband must be in (0, 1), got ${passband}`);
    const g = gcd(toRate, fromRate);
    this.up = toRate / g;
    this.down = fromRate / g;
    this.stepWhole = Math.floor(this.down / this.up);
    this.stepFrac = this.down % this.up;

    const lowerRate = Math.min(fromRate, toRate);
    const transition = (lowerRate * (1 - passband)) / fromRate; // cycles per input sample
    const estimate = (attenuation - KAISER_LENGTH_OFFSET_DB) / (KAISER_LENGTH_SLOPE * 2 * Math.PI * transition);
    this.taps = TAP_MULTIPLE * Math.ceil(estimate / TAP_MULTIPLE);
    const beta = KAISER_BETA_SLOPE * (attenuation - KAISER_BETA_OFFSET_DB);
    const cutoff = (0.5 * lowerRate) / fromRate; // cycles per input sample

    this.exact = this.up <= MAX_EXACT_PHASES;
    this.phases = this.exact ? this.up : MAX_EXACT_PHASES;
    const table = Resampler.designTable(this.phases + 1, this.phases, this.taps, cutoff, beta);
    this.capacity = Math.max(1, maxInputFrames);
    this.flushFrames = Math.ceil(((this.taps / 2 + 1) * this.up) / this.down) + 2;
    this.outputFrames = Math.max(this.outputFramesFor(this.capacity), this.flushFrames);

    // One block of memory, laid out once: its views stay valid because it never grows.
    const historyFloats = this.capacity + 2 * this.taps;
    this.channelBytes = historyFloats * 4;
    let at = KERNEL_SCRATCH_BYTES;
    const place = (floats: number): number => {
      const addr = at;
      at += floats * 4;
      return addr;
    };
    this.tableAddr = place(table.length);
    this.blendedAddr = place(this.taps);
    this.historyAddr = [];
    for (let c = 0; c < channels; c++) this.historyAddr.push(place(historyFloats));
    this.outAddr = place(this.outputFrames * channels);
    const memory = new WebAssembly.Memory({ initial: Math.ceil(at / WASM_PAGE_BYTES) });
    ({ run: this.run, run2: this.run2 } = resampleKernel(memory));
    const buffer = memory.buffer;
    this.scratch = new Int32Array(buffer, 0, KERNEL_SCRATCH_BYTES / 4);
    this.table = new Float32Array(buffer, this.tableAddr, table.length);
    this.table.set(table);
    this.blended = new Float32Array(buffer, this.blendedAddr, this.taps);
    this.history = this.historyAddr.map((addr) => new Float32Array(buffer, addr, historyFloats));
    this.output = new Float32Array(buffer, this.outAddr, this.outputFrames * channels);
    this.reset();
  }

  /** Rows of h(φ + T/2 − 1 − k), φ = row/phases, each normalised to unity DC gain. */
  private static designTable(rows: number, phases: number, taps: number, cutoff: number, beta: number): Float32Array {
    const table = new Float32Array(rows * taps);
    const half = taps / 2;
    const i0Beta = besselI0(beta);
    const row = new Float64Array(taps);
    for (let p = 0; p < rows; p++) {
      let sum = 0;
      for (let k = 0; k < taps; k++) {
        const d = p / phases + half - 1 - k;
        const r = d / half;
        const w = r * r >= 1 ? 0 : besselI0(beta * Math.sqrt(1 - r * r)) / i0Beta;
        row[k] = sinc(2 * cutoff * d) * w;
        sum += row[k];
      }
      for (let k = 0; k < taps; k++) table[p * taps + k] = row[k] / sum;
    }
    return table;
  }

  /** Frames {@link process} may return for `inputFrames` frames in (an upper bound). */
  outputFramesFor(inputFrames: number): number {
    return Math.ceil((inputFrames * this.up) / this.down) + 2;
  }

  /** Back to the start of a stream: zero history, zero phase. */
  reset(): void {
    // T/2 − 1 zeros before the first input put output 0 exactly at input 0.
    this.fill = this.taps / 2 - 1;
    for (const h of this.history) h.fill(0, 0, this.fill);
    this.pos = 0;
    this.frac = 0;
    this.totalIn = 0;
    this.totalOut = 0;
  }

  /**
   * Feeds `frames` interleaved frames; writes output frames (interleaved) to `out`,
   * which must hold `outputFramesFor(frames) · channels` floats. Returns frames written.
   */
  process(input: Float32Array, frames: number, out: Float32Array): number {
    let written = 0;
    for (let done = 0; done < frames; ) {
      const chunk = Math.min(this.capacity, frames - done);
      this.append(input, done, chunk);
      done += chunk;
      written += this.produce(out, written, Number.POSITIVE_INFINITY);
    }
    return written;
  }

  /** Drains the filter at end of stream into `out` (room for {@link flushFrames}), then resets. */
  flush(out: Float32Array): number {
    const target = Math.ceil((this.totalIn * this.up) / this.down);
    this.append(null, 0, this.taps / 2 + 1);
    const written = this.produce(out, 0, target - this.totalOut);
    this.reset();
    return written;
  }

  /** De-interleaves frames (or zeros when `input` is null) onto the history. */
  private append(input: Float32Array | null, fromFrame: number, frames: number): void {
    const ch = this.channels;
    for (let c = 0; c < ch; c++) {
      const h = this.history[c];
      if (input === null) {
        h.fill(0, this.fill, this.fill + frames);
      } else {
        for (let f = 0, i = fromFrame * ch + c; f < frames; f++, i += ch) h[this.fill + f] = input[i];
      }
    }
    this.fill += frames;
    if (input !== null) this.totalIn += frames;
  }

  /** Emits every output whose taps are all in the history (at most `limit`), then compacts. */
  private produce(out: Float32Array, firstFrame: number, limit: number): number {
    const taps = this.taps;
    const ch = this.channels;
    const end = this.fill - taps;
    const max = Math.min(limit, this.outputFrames);
    let pos = this.pos;
    let frac = this.frac;
    let n = 0;
    if (this.exact) {
      // Channels in pairs, then one, each from the same position and phase; each
      // call ends at the same place.
      for (let c = 0; c < ch; c += 2) {
        const run = c + 1 < ch ? this.run2 : this.run;
        n = run(this.tableAddr, taps * 4, taps, this.up, this.stepWhole, this.stepFrac,
          this.historyAddr[c], this.outAddr + 4 * c, 4 * ch, pos, frac, end, max, this.channelBytes);
      }
      pos = this.scratch[KERNEL_POS_ADDR / 4];
      frac = this.scratch[KERNEL_FRAC_ADDR / 4];
    } else {
      // A row blended for each output, then one output per channel against it.
      for (; n < max && pos <= end; n++) {
        this.blend(frac);
        for (let c = 0; c < ch; c++) {
          this.run(this.blendedAddr, 0, taps, this.up, this.stepWhole, this.stepFrac,
            this.historyAddr[c], this.outAddr + 4 * (n * ch + c), 4 * ch, pos, frac, end, 1, 0);
        }
        pos = this.scratch[KERNEL_POS_ADDR / 4];
        frac = this.scratch[KERNEL_FRAC_ADDR / 4];
      }
    }
    const output = this.output;
    for (let i = 0, o = firstFrame * ch, count = n * ch; i < count; i++, o++) out[o] = output[i];
    // Drop consumed history so the buffer never grows; keeps at most ~taps samples.
    const keep = Math.min(pos, this.fill);
    if (keep > 0) {
      for (const h of this.history) h.copyWithin(0, keep, this.fill);
      this.fill -= keep;
      pos -= keep;
    }
    this.pos = pos;
    this.frac = frac;
    this.totalOut += n;
    return n;
  }

  /** Linear interpolation between the two table rows around phase frac/up, into the blended row. */
  private blend(frac: number): void {
    const taps = this.taps;
    const q = (frac / this.up) * this.phases;
    const p0 = Math.floor(q);
    const a = q - p0;
    const t = this.table;
    const b = this.blended;
    for (let k = 0, i = p0 * taps; k < taps; k++, i++) b[k] = t[i] + a * (t[i + taps] - t[i]);
  }
}
