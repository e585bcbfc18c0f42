/**
 * PCM format conversion, the one entry point: decode → channel map → resample →
 * dither → encode, skipping every stage that is not needed.
 *
 * - Same format: `identity`, `convert` returns its input.
 * - Same rate and channels, integer to an integer at least as wide (byte order,
 *   signedness, widening): a bit-exact integer path, no floats.
 * - Anything else goes through interleaved Float32 (see samples.ts for scaling).
 *
 * **Dither** (TPDF ±1 LSB, dither.ts) is applied at an integer output whenever the
 * float samples may hold more precision than the output word: the output has fewer
 * bits than the input (24 → 16, f32 → 16, 32 → 24), or the samples were resampled or
 * mixed with non-unit gains (their values are no longer on the output grid).
 * `dither: false` rounds to nearest instead. Float outputs are never dithered. Where only the
 * width calls for it, a block whose dropped bits are all zero (24-bit audio in 32-bit
 * containers, as WAVE_FORMAT_EXTENSIBLE declares it; 16-bit audio stored as 24) is narrowed
 * exactly, undithered: dither there only added noise, ±1 LSB on a quarter of the samples.
 *
 * @example
 * ```ts
 * const conv = await createConverter(parseSampleFormat("s24le:48000:2"), parseSampleFormat("s16le:44100:2"));
 * for (const block of blocks) sink.write(conv.convert(block)); // copy if kept past the next call
 * sink.write(conv.flush());
 * ```
 */
import {
  bitsPerSample,
  bytesPerFrame,
  bytesPerSample,
  formatToString,
  sameFormat,
  type SampleFormat,
} from "../protocol/sample_format.ts";
import { channelMap, mixChannels, type ChannelMap } from "./channels.ts";
import { TpdfDither } from "./dither.ts";
import { Resampler, type ResamplerOptions } from "./resample.ts";
import {
  convertIntegerSamples,
  decodeSamples,
  encodeSamples,
  isIntegerEncoding,
  isLosslessIntegerPair,
  onlyTopBytesUsed,
} from "./samples.ts";

export interface PcmConverter {
  readonly from: SampleFormat;
  readonly to: SampleFormat;
  /** Converts whole input frames; returns a view (valid until the next call) of the output bytes. Reuses internal buffers; never allocates after warm-up for blocks up to maxInputBytes. */
  convert(input: Uint8Array): Uint8Array;
  /** Drains resampler state at end of stream (and resets it, ready for a new stream). */
  flush(): Uint8Array;
  /** Output frames produced for `inputFrames` input frames, an upper bound (for sizing). */
  outputFramesFor(inputFrames: number): number;
  /** true when from equals to (convert returns input as is). */
  readonly identity: boolean;
}

export interface ConverterOptions {
  /** Dither integer outputs where precision is lost (see above). Default true. */
  readonly dither?: boolean;
  /** Fixed dither seed, for repeatable output in tests. Default: random. */
  readonly seed?: number;
  /** Largest block `convert` handles without allocating (but no more than makes 2^20 output frames). Default {@link DEFAULT_MAX_INPUT_BYTES}; bigger blocks grow the buffers once. */
  readonly maxInputBytes?: number;
  /** Resampler filter design; defaults in resample.ts. */
  readonly resampler?: ResamplerOptions;
}

/** 64 KiB: about 170 ms of 48 kHz 24-bit stereo, more than any pacer block. */
export const DEFAULT_MAX_INPUT_BYTES = 64 * 1024;
/** The most output frames reserved before the first block (2^20: 21.8 s at 48 kHz); a bigger block grows the buffers once. */
const MAX_RESERVED_OUTPUT_FRAMES = 1 << 20;

/** Thrown for a block that is not a whole number of frames. */
export class PartialFrameError extends RangeError {
  override name = "PartialFrameError";
}

/**
 * Builds a converter from `from` to `to`. Async so a backend could need set-up
 * (the built-in one does not); call it once per job.
 */
export async function createConverter(
  from: SampleFormat,
  to: SampleFormat,
  opts: ConverterOptions = {},
): Promise<PcmConverter> {
  for (const f of [from, to]) {
    if (!(Number.isInteger(f.rate) && f.rate > 0 && Number.isInteger(f.channels) && f.channels > 0)) {
      throw new RangeError(`bad sample format ${formatToString(f)}: rate and channels must be positive integers`);
    }
  }
  if (sameFormat(from, to)) return new IdentityConverter(from, to);
  if (from.rate === to.rate && from.channels === to.channels && isLosslessIntegerPair(from.encoding, to.encoding)) {
    return new IntegerConverter(from, to, opts);
  }
  return new FloatConverter(from, to, opts);
}

class IdentityConverter implements PcmConverter {
  readonly identity = true;
  constructor(readonly from: SampleFormat, readonly to: SampleFormat) {}
  convert(input: Uint8Array): Uint8Array {
    checkWholeFrames(this.from, input);
    return input;
  }
  flush(): Uint8Array {
    return EMPTY;
  }
  outputFramesFor(inputFrames: number): number {
    return inputFrames;
  }
}

const EMPTY = new Uint8Array(0);

function checkWholeFrames(f: SampleFormat, input: Uint8Array): number {
  const bpf = bytesPerFrame(f);
  if (input.length % bpf !== 0) {
    throw new PartialFrameError(
      `${input.length} bytes is not a whole number of ${formatToString(f)} frames (${bpf} bytes each); pass whole frames`,
    );
  }
  return input.length / bpf;
}

/** Output bytes plus a cached view, so equal-sized blocks return without allocating. */
class OutputBuffer {
  private bytes = new Uint8Array(0);
  private view = EMPTY;

  ensure(length: number): Uint8Array {
    if (this.bytes.length < length) this.bytes = new Uint8Array(length);
    return this.bytes;
  }

  viewOf(length: number): Uint8Array {
    if (this.view.buffer !== this.bytes.buffer || this.view.length !== length) this.view = this.bytes.subarray(0, length);
    return this.view;
  }
}

/** Byte order, signedness and widening, exactly, on integers. */
class IntegerConverter implements PcmConverter {
  readonly identity = false;
  private readonly out = new OutputBuffer();

  constructor(readonly from: SampleFormat, readonly to: SampleFormat, opts: ConverterOptions) {
    const frames = Math.floor((opts.maxInputBytes ?? DEFAULT_MAX_INPUT_BYTES) / bytesPerFrame(from));
    this.out.ensure(frames * bytesPerFrame(to));
  }

  convert(input: Uint8Array): Uint8Array {
    const frames = checkWholeFrames(this.from, input);
    const length = frames * bytesPerFrame(this.to);
    convertIntegerSamples(this.from.encoding, this.to.encoding, input, this.out.ensure(length));
    return this.out.viewOf(length);
  }

  flush(): Uint8Array {
    return EMPTY;
  }

  outputFramesFor(inputFrames: number): number {
    return inputFrames;
  }
}

/** Everything else, through interleaved floats. */
class FloatConverter implements PcmConverter {
  readonly identity = false;
  private readonly map: ChannelMap | null;
  private readonly resampler: Resampler | null;
  private readonly dither: TpdfDither | null;
  /** The dither is for the output's narrower width alone (no resampling, no mixing gains). */
  private readonly ditherForWidthOnly: boolean;
  private readonly out = new OutputBuffer();
  private capacityFrames = 0;
  private decoded = new Float32Array(0);
  private mixed = new Float32Array(0);
  private resampled = new Float32Array(0);

  constructor(readonly from: SampleFormat, readonly to: SampleFormat, opts: ConverterOptions) {
    const requested = Math.floor((opts.maxInputBytes ?? DEFAULT_MAX_INPUT_BYTES) / bytesPerFrame(from));
    // Upsampling a very low rate, the first reservation is held to MAX_RESERVED_OUTPUT_FRAMES out:
    // 64 KiB of a 1 Hz WAV at 48 kHz was 1.6 G frames, and `play` said only "Out of memory".
    const maxFrames = Math.max(1, Math.min(requested, Math.floor((MAX_RESERVED_OUTPUT_FRAMES * from.rate) / to.rate)));
    this.map = from.channels === to.channels ? null : channelMap(from.channels, to.channels);
    this.resampler =
      from.rate === to.rate ? null : new Resampler(to.channels, from.rate, to.rate, maxFrames, opts.resampler);
    const narrower = bitsPerSample(to.encoding) < bitsPerSample(from.encoding);
    const offGrid = this.resampler !== null || (this.map !== null && !this.map.exact);
    const wantDither = (opts.dither ?? true) && isIntegerEncoding(to.encoding) && (narrower || offGrid);
    this.dither = wantDither ? new TpdfDither(opts.seed) : null;
    this.ditherForWidthOnly = wantDither && !offGrid;
    this.reserve(maxFrames);
  }

  /** Sizes every stage for blocks of `frames` input frames; allocates only when growing. */
  private reserve(frames: number): void {
    if (frames <= this.capacityFrames) return;
    this.capacityFrames = frames;
    this.decoded = new Float32Array(frames * this.from.channels);
    if (this.map !== null) this.mixed = new Float32Array(frames * this.to.channels);
    let outFrames = frames;
    if (this.resampler !== null) {
      outFrames = Math.max(this.resampler.outputFramesFor(frames), this.resampler.flushFrames);
      this.resampled = new Float32Array(outFrames * this.to.channels);
    }
    this.out.ensure(outFrames * bytesPerFrame(this.to));
  }

  convert(input: Uint8Array): Uint8Array {
    const frames = checkWholeFrames(this.from, input);
    this.reserve(frames);
    const exact = this.ditherForWidthOnly && onlyTopBytesUsed(this.from.encoding, input, bytesPerSample(this.to.encoding));
    decodeSamples(this.from.encoding, input, this.decoded);
    let samples = this.decoded;
    if (this.map !== null) {
      mixChannels(this.map, samples, frames, this.mixed);
      samples = this.mixed;
    }
    let outFrames = frames;
    if (this.resampler !== null) {
      outFrames = this.resampler.process(samples, frames, this.resampled);
      samples = this.resampled;
    }
    return this.encode(samples, outFrames, exact ? null : this.dither);
  }

  flush(): Uint8Array {
    if (this.resampler === null) return EMPTY;
    return this.encode(this.resampled, this.resampler.flush(this.resampled), this.dither);
  }

  outputFramesFor(inputFrames: number): number {
    return this.resampler === null ? inputFrames : this.resampler.outputFramesFor(inputFrames);
  }

  private encode(samples: Float32Array, frames: number, dither: TpdfDither | null): Uint8Array {
    const count = frames * this.to.channels;
    const length = count * bytesPerSample(this.to.encoding);
    encodeSamples(this.to.encoding, samples, count, this.out.ensure(length), dither);
    return this.out.viewOf(length);
  }
}
