/**
 * One open ALSA PCM, playback or capture, driven without ever blocking.
 *
 * The PCM is opened with SND_PCM_NONBLOCK, interleaved access and pacer's own
 * sample formats. Callers poll {@link AlsaPcm.availFrames} from their timers
 * (every `periodFrames` or so) and write or read whole frames; xruns and
 * suspends are recovered in place and counted. Nothing here allocates per
 * write or read: the caller's buffer is handed to libasound by address.
 *
 * @example
 * ```ts
 * const pcm = AlsaPcm.open("default", { stream: "playback", format: parseSampleFormat("s16le:48000:2") });
 * if (pcm.actualRate !== 48000) console.warn(`alsa:default runs at ${pcm.actualRate} Hz`);
 * const frames = pcm.write(chunk, chunk.byteLength / 4); // may be fewer: keep the rest for the next tick
 * await pcm.close(); // plays out what was written, then closes
 * ```
 */
import { CString, ptr, read, type Pointer } from "bun:ffi";
import { bitsPerSample, bytesPerFrame, ENCODINGS, type Encoding, type SampleFormat } from "../../protocol/sample_format.ts";
import {
  EAGAIN,
  EBUSY,
  EINVAL,
  ENODEV,
  ENOENT,
  ENXIO,
  EPIPE,
  ESTRPIPE,
  libasound,
  sndStrerror,
  SND_PCM_ACCESS_RW_INTERLEAVED,
  SND_PCM_FORMAT_FLOAT_LE,
  SND_PCM_FORMAT_S16_BE,
  SND_PCM_FORMAT_S16_LE,
  SND_PCM_FORMAT_S24_3BE,
  SND_PCM_FORMAT_S24_3LE,
  SND_PCM_FORMAT_S32_LE,
  SND_PCM_FORMAT_S8,
  SND_PCM_FORMAT_U8,
  SND_PCM_NONBLOCK,
  SND_PCM_STATE_PREPARED,
  SND_PCM_STATE_RUNNING,
  SND_PCM_STREAM_CAPTURE,
  SND_PCM_STREAM_PLAYBACK,
} from "./libasound.ts";

/** Default buffer length: enough to ride out a late timer, short enough for live audio. */
export const DEFAULT_BUFFER_US = 100_000;
/** Default period: the wake-up granularity callers should poll at. */
export const DEFAULT_PERIOD_US = 20_000;

export type AlsaStream = "playback" | "capture";

export interface AlsaOpenOptions {
  stream: AlsaStream;
  /** The rate is set "near" (see `actualRate`); encoding and channels are exact unless `nearest`. */
  format: SampleFormat;
  /**
   * Where the device refuses the encoding or the channel count, take the nearest it has (see
   * {@link encodingsByNearness}) and say so in `format`: the caller converts to it, as it does to
   * another rate. Else that refusal is an {@link AlsaFormatError} naming what the device takes.
   */
  nearest?: boolean;
  /** Requested buffer length in µs (default {@link DEFAULT_BUFFER_US}); the device rounds it. */
  bufferUs?: number;
  /** Requested period length in µs (default {@link DEFAULT_PERIOD_US}); the device rounds it. */
  periodUs?: number;
}

/** Any libasound failure; `code` is alsa-lib's negative errno. */
export class AlsaError extends Error {
  override name = "AlsaError";
  constructor(
    readonly device: string,
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** The device is held by someone else (EBUSY): temporary, retry with back-off. */
export class AlsaBusyError extends AlsaError {
  override name = "AlsaBusyError";
}

/** No such PCM or device (ENOENT, ENODEV, ENXIO): permanent, check `pacer devices`. */
export class AlsaNoDeviceError extends AlsaError {
  override name = "AlsaNoDeviceError";
}

/** The device refuses the sample format, channel count, rate or buffer layout. */
export class AlsaFormatError extends AlsaError {
  override name = "AlsaFormatError";
}

const SND_PCM_FORMAT: Record<Encoding, { value: number; name: string }> = {
  s8: { value: SND_PCM_FORMAT_S8, name: "S8" },
  u8: { value: SND_PCM_FORMAT_U8, name: "U8" },
  s16le: { value: SND_PCM_FORMAT_S16_LE, name: "S16_LE" },
  s16be: { value: SND_PCM_FORMAT_S16_BE, name: "S16_BE" },
  // pacer's s24le is packed 3-byte, which is S24_3LE; ALSA's S24_LE is 24-in-32.
  s24le: { value: SND_PCM_FORMAT_S24_3LE, name: "S24_3LE" },
  s24be: { value: SND_PCM_FORMAT_S24_3BE, name: "S24_3BE" },
  s32le: { value: SND_PCM_FORMAT_S32_LE, name: "S32_LE" },
  f32le: { value: SND_PCM_FORMAT_FLOAT_LE, name: "FLOAT_LE" },
};

/** Classifies an error code from open or setup into the typed errors above. */
export function alsaErrorFor(device: string, code: number, doing: string): AlsaError {
  const why = sndStrerror(code);
  if (code === EBUSY || code === EAGAIN) {
    return new AlsaBusyError(device, code, `alsa:${device} is busy (${why}) while ${doing}: another program holds it; retry later`);
  }
  if (code === ENOENT || code === ENODEV || code === ENXIO) {
    return new AlsaNoDeviceError(device, code, `alsa:${device}: no such PCM or device (${why}) while ${doing}; see "pacer devices"`);
  }
  return new AlsaError(device, code, `alsa:${device}: ${why} while ${doing}`);
}

// Out-parameters for libasound calls. JS runs one call at a time, so one set
// of cells serves every PCM and nothing is allocated per call.
const outPointer = new BigUint64Array(1);
const outUframes = new BigUint64Array(1);
const outUnsigned = new Uint32Array(1);
const outDir = new Int32Array(1);
// snd_pcm_sframes_t delay, read as its low 32-bit word (little-endian hosts) to avoid a BigInt per call.
const outSframes = new Int32Array(2);

function takePointer(): Pointer {
  return Number(outPointer[0]) as Pointer;
}

/** An open PCM as it crosses to another thread: its handle's address and what was granted. */
export interface AlsaPcmHandle {
  readonly name: string;
  readonly stream: AlsaStream;
  readonly handle: number;
  readonly format: SampleFormat;
  readonly bufferFrames: number;
  readonly periodFrames: number;
}

/**
 * An open, prepared PCM. Create with {@link AlsaPcm.open}; always {@link AlsaPcm.close}.
 */
export class AlsaPcm {
  /** xruns seen on playback (EPIPE), each recovered with snd_pcm_recover. */
  underruns = 0;
  /** xruns seen on capture (EPIPE): data was lost before `read` came. */
  overruns = 0;
  /** Times the device was suspended (ESTRPIPE), e.g. by system sleep. */
  suspends = 0;

  /** The format the device runs at: the requested one with `actualRate` (and with `nearest`, its encoding and channels). */
  readonly format: SampleFormat;
  readonly bytesPerFrame: number;

  #handle: Pointer | 0;
  /** How pause(true) held the device, until pause(false). */
  #paused: "paused" | "dropped" | null = null;
  #suspended = false;
  #closing: Promise<void> | null = null;

  private constructor(
    readonly name: string,
    readonly stream: AlsaStream,
    handle: Pointer,
    /** The format the device runs at (see `format`). */
    format: SampleFormat,
    /** Device buffer in frames, as granted. */
    readonly bufferFrames: number,
    /** Device period in frames, as granted: a good polling interval. */
    readonly periodFrames: number,
  ) {
    this.#handle = handle;
    this.format = format;
    this.bytesPerFrame = bytesPerFrame(format);
  }

  /** The rate the device accepted, which may differ from the requested one. */
  get actualRate(): number {
    return this.format.rate;
  }

  /** What another thread needs to drive this PCM (see {@link AlsaPcm.adopt}); this one must not touch it after. */
  handOver(): AlsaPcmHandle {
    const handle = this.#live();
    this.#handle = 0;
    return {
      name: this.name,
      stream: this.stream,
      handle: handle as number,
      format: this.format,
      bufferFrames: this.bufferFrames,
      periodFrames: this.periodFrames,
    };
  }

  /** The PCM another thread handed over (backends/alsa/pcm_writer.ts runs one in its writer thread). */
  static adopt(h: AlsaPcmHandle): AlsaPcm {
    return new AlsaPcm(h.name, h.stream, h.handle as Pointer, h.format, h.bufferFrames, h.periodFrames);
  }

  /**
   * Opens `name` (any PCM name: "default", "hw:0,0", a name from an asoundrc)
   * without blocking and configures it. Throws {@link AlsaBusyError},
   * {@link AlsaNoDeviceError}, {@link AlsaFormatError} or {@link AlsaError}.
   *
   * @example
   * ```ts
   * const mic = AlsaPcm.open("hw:1,0", { stream: "capture", format: parseSampleFormat("s16le:48000:1") });
   * ```
   */
  static open(name: string, options: AlsaOpenOptions): AlsaPcm {
    const lib = libasound();
    const { stream, format } = options;
    const bufferUs = options.bufferUs ?? DEFAULT_BUFFER_US;
    const periodUs = options.periodUs ?? DEFAULT_PERIOD_US;
    const streamValue = stream === "playback" ? SND_PCM_STREAM_PLAYBACK : SND_PCM_STREAM_CAPTURE;

    const opened = lib.snd_pcm_open(outPointer, Buffer.from(`${name}\0`), streamValue, SND_PCM_NONBLOCK);
    if (opened === EINVAL) {
      // What libasound says of a card number that is not there (hw:99,0), or a configuration it
      // cannot load; it was "Invalid argument while opening it for playback".
      throw new AlsaNoDeviceError(
        name,
        opened,
        `alsa:${name}: cannot open it for ${stream} (${sndStrerror(opened)}): no such card or device, arguments the PCM does not take, or an ALSA configuration that does not load; see "pacer devices"`,
      );
    }
    if (opened < 0) throw alsaErrorFor(name, opened, `opening it for ${stream}`);
    const handle = takePointer();

    try {
      const hw = configureHardware(name, handle, format, options.nearest === true, bufferUs, periodUs);
      configureSoftware(name, handle, stream, hw.periodFrames);
      const prepared = lib.snd_pcm_prepare(handle);
      if (prepared < 0) throw alsaErrorFor(name, prepared, "preparing it");
      return new AlsaPcm(name, stream, handle, hw.format, hw.bufferFrames, hw.periodFrames);
    } catch (err) {
      lib.snd_pcm_close(handle);
      throw err;
    }
  }

  /**
   * Frames that can be written (playback) or read (capture) now. Recovers an
   * xrun or suspend first; returns 0 while the device is still suspended.
   */
  availFrames(): number {
    const handle = this.#live();
    const lib = libasound();
    let avail = lib.snd_pcm_avail_update(handle) as number;
    if (avail < 0) {
      if (!this.#recover(avail, "checking available frames")) return 0;
      avail = lib.snd_pcm_avail_update(handle) as number;
      if (avail < 0) throw alsaErrorFor(this.name, avail, "checking available frames");
    }
    return avail;
  }

  /**
   * Writes up to `frames` whole frames from `bytes` (interleaved, in `format`)
   * and returns how many were taken: never more than {@link availFrames}, 0
   * when the buffer is full. Playback starts once a period has been written.
   *
   * @example
   * ```ts
   * let offset = 0;
   * offset += pcm.write(chunk.subarray(offset), (chunk.byteLength - offset) / pcm.bytesPerFrame) * pcm.bytesPerFrame;
   * ```
   */
  write(bytes: Uint8Array, frames: number, offset = 0): number {
    this.#checkSpan(bytes, frames, "write", offset);
    if (this.stream !== "playback") throw new Error(`alsa:${this.name} is open for capture, not playback`);
    if (this.#closing) throw new Error(`alsa:${this.name} is closed`);
    const count = Math.min(frames, this.availFrames());
    if (count <= 0) return 0;
    const lib = libasound();
    const handle = this.#live();
    let written = lib.snd_pcm_writei(handle, ptr(bytes, offset), count) as number;
    if (written < 0) {
      if (written === EAGAIN) return 0;
      if (!this.#recover(written, "writing")) return 0;
      written = lib.snd_pcm_writei(handle, ptr(bytes, offset), Math.min(count, this.availFrames())) as number;
      if (written === EAGAIN) return 0;
      if (written < 0) throw alsaErrorFor(this.name, written, "writing");
    }
    return written;
  }

  /**
   * Reads as many whole frames as are available and fit in `buf`; returns the
   * frame count (0 when none are ready). Capture starts on the first call.
   *
   * @example
   * ```ts
   * const frames = mic.read(buf);
   * push(buf.subarray(0, frames * mic.bytesPerFrame));
   * ```
   */
  read(buf: Uint8Array): number {
    if (this.stream !== "capture") throw new Error(`alsa:${this.name} is open for playback, not capture`);
    if (this.#closing) throw new Error(`alsa:${this.name} is closed`);
    const handle = this.#live();
    const lib = libasound();
    if (lib.snd_pcm_state(handle) === SND_PCM_STATE_PREPARED) this.start();
    const room = Math.floor(buf.byteLength / this.bytesPerFrame);
    const count = Math.min(room, this.availFrames());
    if (count <= 0) return 0;
    const got = lib.snd_pcm_readi(handle, ptr(buf), count) as number;
    if (got < 0) {
      if (got === EAGAIN) return 0;
      if (!this.#recover(got, "reading")) return 0;
      return 0; // recovered to PREPARED: the next read restarts capture
    }
    return got;
  }

  /**
   * Starts the stream now: capture begins filling the buffer; playback plays
   * what was written even if it is less than the one-period start threshold.
   */
  start(): void {
    const code = libasound().snd_pcm_start(this.#live());
    if (code < 0) throw alsaErrorFor(this.name, code, "starting it");
  }

  /**
   * Frames between the application and the listener (playback: written but
   * not yet heard; capture: captured but not yet read). 0 when not running.
   */
  delayFrames(): number {
    const code = libasound().snd_pcm_delay(this.#live(), outSframes);
    return code < 0 ? 0 : outSframes[0]!;
  }

  /**
   * Playback: holds the device where it is, so a pause longer than its buffer is no underrun.
   * snd_pcm_pause where the device can; else snd_pcm_drop, which discards what the device held
   * (those frames are not heard), and a prepare on resume. A stream not running needs neither.
   * Returns how it paused ("paused", "dropped") or null.
   */
  pause(on: boolean): "paused" | "dropped" | null {
    if (this.stream !== "playback" || this.#closing) return null;
    const lib = libasound();
    const handle = this.#live();
    if (on) {
      if (this.#paused !== null || lib.snd_pcm_state(handle) !== SND_PCM_STATE_RUNNING) return null;
      this.#paused = lib.snd_pcm_pause(handle, 1) === 0 ? "paused" : (lib.snd_pcm_drop(handle), "dropped");
      return this.#paused;
    }
    const was = this.#paused;
    this.#paused = null;
    const code = was === "paused" ? lib.snd_pcm_pause(handle, 0) : was === "dropped" ? lib.snd_pcm_prepare(handle) : 0;
    if (code < 0) throw alsaErrorFor(this.name, code, "resuming it");
    return was;
  }

  /** snd_pcm_state, one of the SND_PCM_STATE_* values in libasound.ts. */
  state(): number {
    return libasound().snd_pcm_state(this.#live());
  }

  /**
   * Closes the PCM. Playback first plays out what was written (unless
   * `drain: false`): it waits on timers until about one period is left, then
   * drains with a blocking call that therefore lasts at most about a period;
   * a device that stops consuming is dropped after twice the buffer length.
   * Safe to call twice; the second call returns the same promise.
   *
   * @example
   * ```ts
   * await pcm.close();               // play out, then close
   * await pcm.close({ drain: false }); // discard and close at once
   * ```
   */
  close(options: { drain?: boolean } = {}): Promise<void> {
    this.#closing ??= this.#closeNow(options.drain ?? true);
    return this.#closing;
  }

  async #closeNow(drain: boolean): Promise<void> {
    const handle = this.#live();
    const lib = libasound();
    try {
      if (drain && this.stream === "playback" && (await this.#waitPlayedOut(handle))) {
        // The drain is also what makes plugins such as `file` flush their tail.
        lib.snd_pcm_nonblock(handle, 0);
        lib.snd_pcm_drain(handle);
      } else {
        lib.snd_pcm_drop(handle);
      }
    } finally {
      this.#handle = 0;
      lib.snd_pcm_close(handle);
    }
  }

  /** Waits, on timers, until at most one period is queued; false if the device stalled. */
  async #waitPlayedOut(handle: Pointer): Promise<boolean> {
    const lib = libasound();
    if (lib.snd_pcm_state(handle) === SND_PCM_STATE_PREPARED && this.delayFrames() > 0) {
      lib.snd_pcm_start(handle); // less than the start threshold was written
    }
    const deadline = performance.now() + (2 * this.bufferFrames * 1000) / this.actualRate;
    for (;;) {
      if (lib.snd_pcm_state(handle) !== SND_PCM_STATE_RUNNING) return true;
      const beyond = this.delayFrames() - this.periodFrames;
      if (beyond <= 0) return true;
      if (performance.now() > deadline) return false;
      // Until about a period is left, not a whole period more: the drain must begin before the
      // device runs dry (a card would count that xrun, after the last frame).
      await Bun.sleep(Math.max(1, (beyond * 1000) / this.actualRate));
    }
  }

  /**
   * Recovers from `code`; true when the stream is usable again, false when a
   * suspended device has not resumed yet (the caller tries on its next tick).
   */
  #recover(code: number, doing: string): boolean {
    const handle = this.#live();
    const lib = libasound();
    if (code === EPIPE) {
      if (this.stream === "playback") this.underruns++;
      else this.overruns++;
      const recovered = lib.snd_pcm_recover(handle, code, 1);
      if (recovered < 0) throw alsaErrorFor(this.name, recovered, `recovering from an xrun while ${doing}`);
      return true;
    }
    if (code === ESTRPIPE) {
      // Not snd_pcm_recover: for ESTRPIPE it sleeps a second per retry until the
      // device resumes, which would stall the event loop.
      if (!this.#suspended) this.suspends++;
      this.#suspended = true;
      let resumed = lib.snd_pcm_resume(handle);
      if (resumed === EAGAIN) return false;
      if (resumed < 0) resumed = lib.snd_pcm_prepare(handle); // no resume support: restart
      if (resumed < 0) throw alsaErrorFor(this.name, resumed, `recovering from a suspend while ${doing}`);
      this.#suspended = false;
      return true;
    }
    throw alsaErrorFor(this.name, code, doing);
  }

  #checkSpan(bytes: Uint8Array, frames: number, doing: string, offset = 0): void {
    if (!Number.isInteger(frames) || frames < 0 || offset + frames * this.bytesPerFrame > bytes.byteLength) {
      throw new RangeError(
        `alsa:${this.name}: cannot ${doing} ${frames} frames from ${bytes.byteLength} bytes (${this.bytesPerFrame} bytes per frame)`,
      );
    }
  }

  #live(): Pointer {
    if (this.#handle === 0) throw new Error(`alsa:${this.name} is closed`);
    return this.#handle;
  }
}

interface HardwareSetup {
  format: SampleFormat;
  bufferFrames: number;
  periodFrames: number;
}

/**
 * Every encoding, the nearest to `wanted` first: `wanted`, then those with at least its bits
 * (fewest first: nothing lost), then narrower ones (widest first); at equal bits its own byte
 * order, then little-endian, then integer before float.
 *
 * @example
 * ```ts
 * encodingsByNearness("s16le"); // ["s16le", "s16be", "s24le", "f32le", "s24be", "s32le", "s8", "u8"] (f32 counts as 24 bits)
 * ```
 */
function encodingsByNearness(wanted: Encoding): Encoding[] {
  const bits = bitsPerSample(wanted);
  const rank = (e: Encoding): number[] => {
    const b = bitsPerSample(e);
    return [e === wanted ? 0 : 1, b >= bits ? 0 : 1, b >= bits ? b : -b, e.endsWith("be") === wanted.endsWith("be") ? 0 : 1, e === "f32le" ? 1 : 0];
  };
  const order = (a: Encoding, b: Encoding): number => {
    const [ra, rb] = [rank(a), rank(b)];
    const at = ra.findIndex((v, i) => v !== rb[i]);
    return at < 0 ? 0 : ra[at]! - rb[at]!;
  };
  return [...ENCODINGS].sort(order);
}

/** The encodings the device takes, as pacer names them (for a refusal's message). */
function encodingsTaken(handle: Pointer, params: Pointer): Encoding[] {
  const lib = libasound();
  return ENCODINGS.filter((e) => lib.snd_pcm_hw_params_test_format(handle, params, SND_PCM_FORMAT[e].value) === 0);
}

function channelCount(n: number): string {
  return n === 1 ? "1 channel" : `${n} channels`;
}

/** The channel counts the device takes, "1 channel", "2 channels" or "1 to 8 channels" (for a refusal's message). */
function channelsTaken(params: Pointer): string {
  const lib = libasound();
  lib.snd_pcm_hw_params_get_channels_min(params, outUnsigned);
  const min = outUnsigned[0]!;
  lib.snd_pcm_hw_params_get_channels_max(params, outUnsigned);
  const max = outUnsigned[0]!;
  return min === max ? channelCount(min) : `${min} to ${channelCount(max)}`;
}

function configureHardware(name: string, handle: Pointer, format: SampleFormat, nearest: boolean, bufferUs: number, periodUs: number): HardwareSetup {
  const lib = libasound();
  if (lib.snd_pcm_hw_params_malloc(outPointer) < 0) throw new Error("snd_pcm_hw_params_malloc: out of memory");
  const params = takePointer();
  try {
    const refuse = (code: number, what: string, takes = ""): never => {
      if (code === EBUSY || code === EAGAIN) throw alsaErrorFor(name, code, `setting ${what}`);
      throw new AlsaFormatError(name, code, `alsa:${name} does not accept ${what} (${sndStrerror(code)})${takes && `; it takes ${takes}`}`);
    };
    const sndFormat = SND_PCM_FORMAT[format.encoding];
    let code = lib.snd_pcm_hw_params_any(handle, params);
    if (code < 0) throw alsaErrorFor(name, code, "reading its hardware parameters");
    code = lib.snd_pcm_hw_params_set_access(handle, params, SND_PCM_ACCESS_RW_INTERLEAVED);
    if (code < 0) refuse(code, "interleaved read/write access");
    // A card takes what its hardware does (hw:, often S16_LE or S32_LE and stereo only): with
    // `nearest` the caller converts, as aplay's plug: does; it was refused, and mono could not play.
    // The list is asked for only where it is used (a failed set leaves the parameters as they were).
    const taken = nearest ? encodingsTaken(handle, params) : null;
    const encoding = taken ? (encodingsByNearness(format.encoding).find((e) => taken.includes(e)) ?? format.encoding) : format.encoding;
    code = lib.snd_pcm_hw_params_set_format(handle, params, SND_PCM_FORMAT[encoding].value);
    if (code < 0) refuse(code, `sample encoding ${format.encoding} (${sndFormat.name})`, (taken ?? encodingsTaken(handle, params)).join(", ") || "none of pacer's encodings");
    let channels = format.channels;
    code = lib.snd_pcm_hw_params_set_channels(handle, params, channels);
    if (code < 0 && nearest) {
      outUnsigned[0] = channels;
      code = lib.snd_pcm_hw_params_set_channels_near(handle, params, outUnsigned);
      channels = outUnsigned[0]!;
    }
    if (code < 0) refuse(code, channelCount(format.channels), channelsTaken(params));
    outUnsigned[0] = format.rate;
    outDir[0] = 0;
    code = lib.snd_pcm_hw_params_set_rate_near(handle, params, outUnsigned, outDir);
    if (code < 0) refuse(code, `a rate near ${format.rate} Hz`);
    const rate = outUnsigned[0]!;

    outUframes[0] = BigInt(Math.max(1, Math.round((rate * bufferUs) / 1e6)));
    code = lib.snd_pcm_hw_params_set_buffer_size_near(handle, params, outUframes);
    if (code < 0) refuse(code, `a buffer of ${bufferUs} µs`);
    outUframes[0] = BigInt(Math.max(1, Math.round((rate * periodUs) / 1e6)));
    outDir[0] = 0;
    code = lib.snd_pcm_hw_params_set_period_size_near(handle, params, outUframes, outDir);
    if (code < 0) refuse(code, `a period of ${periodUs} µs`);

    code = lib.snd_pcm_hw_params(handle, params);
    if (code < 0) refuse(code, `${encoding}:${rate}:${channels} with this buffer layout`);

    lib.snd_pcm_hw_params_get_buffer_size(params, outUframes);
    const bufferFrames = Number(outUframes[0]);
    lib.snd_pcm_hw_params_get_period_size(params, outUframes, outDir);
    const periodFrames = Number(outUframes[0]);
    return { format: { encoding, rate, channels }, bufferFrames, periodFrames };
  } finally {
    lib.snd_pcm_hw_params_free(params);
  }
}

function configureSoftware(name: string, handle: Pointer, stream: AlsaStream, periodFrames: number): void {
  const lib = libasound();
  if (lib.snd_pcm_sw_params_malloc(outPointer) < 0) throw new Error("snd_pcm_sw_params_malloc: out of memory");
  const params = takePointer();
  try {
    let code = lib.snd_pcm_sw_params_current(handle, params);
    // Playback starts once a period is queued, so the first wake-up never finds it empty.
    if (code >= 0 && stream === "playback") code = lib.snd_pcm_sw_params_set_start_threshold(handle, params, periodFrames);
    if (code >= 0) code = lib.snd_pcm_sw_params_set_avail_min(handle, params, periodFrames);
    if (code >= 0) code = lib.snd_pcm_sw_params(handle, params);
    if (code < 0) throw alsaErrorFor(name, code, "setting its software parameters");
  } finally {
    lib.snd_pcm_sw_params_free(params);
  }
}

/** One PCM from the device name hints, for `pacer devices`. */
export interface AlsaPcmHint {
  /** The name to open, e.g. "default", "hw:CARD=PCH,DEV=0". */
  name: string;
  /** ALSA's description, its lines joined with ", ". */
  description: string;
  /** Direction from the IOID hint; "both" when the hint has none. */
  io: "output" | "input" | "both";
}

const HINT_NAME = Buffer.from("NAME\0");
const HINT_DESC = Buffer.from("DESC\0");
const HINT_IOID = Buffer.from("IOID\0");
const PCM_IFACE = Buffer.from("pcm\0");

/**
 * The PCMs ALSA knows from its configuration and cards
 * (snd_device_name_hint(-1, "pcm")).
 *
 * @example
 * ```ts
 * for (const pcm of listPcms()) console.log(`${pcm.name}\t${pcm.io}\t${pcm.description}`);
 * ```
 */
export function listPcms(): AlsaPcmHint[] {
  const lib = libasound();
  const code = lib.snd_device_name_hint(-1, PCM_IFACE, outPointer);
  // Listing reads only the configuration, so its failing is that (a syntax error, a missing
  // include); this said "alsa:*: … while listing PCMs; see "pacer devices"", naming no file.
  if (code < 0) throw new AlsaError("*", code, `cannot list the ALSA PCMs (${sndStrerror(code)}): libasound could not load its configuration, ${alsaConfigFiles()}; "pacer --verbose devices" shows its own lines`);
  const hints = takePointer();
  const result: AlsaPcmHint[] = [];
  try {
    for (let offset = 0; ; offset += 8) {
      const hint = read.ptr(hints, offset);
      if (hint === 0) break;
      const name = hintText(hint as Pointer, HINT_NAME);
      if (name === null) continue;
      const description = (hintText(hint as Pointer, HINT_DESC) ?? "").split("\n").join(", ");
      const ioid = hintText(hint as Pointer, HINT_IOID);
      const io = ioid === "Output" ? "output" : ioid === "Input" ? "input" : "both";
      result.push({ name, description, io });
    }
  } finally {
    lib.snd_device_name_free_hint(hints);
  }
  return result;
}

/** The files libasound's configuration comes from, for a message. */
function alsaConfigFiles(): string {
  const path = process.env.ALSA_CONFIG_PATH;
  return path ? `ALSA_CONFIG_PATH=${path}` : "/usr/share/alsa/alsa.conf and the files it reads (/etc/asound.conf, ~/.asoundrc)";
}

function hintText(hint: Pointer, id: Uint8Array): string | null {
  const lib = libasound();
  const text = lib.snd_device_name_get_hint(hint, id);
  if (text === null || text === 0) return null;
  try {
    return new CString(text as Pointer).toString();
  } finally {
    lib.free(text);
  }
}
