/**
 * The libasound.so.2 symbol table for `bun:ffi`, loaded on first use.
 *
 * Only the calls pacer needs: PCM open/close, hw and sw params, non-blocking
 * readi/writei, xrun recovery, delay/state, and device name hints.
 * Types follow alsa-lib's headers on LP64 Linux: `snd_pcm_uframes_t` is
 * `unsigned long` (u64), `snd_pcm_sframes_t` is `long` (i64). Sizes come back
 * as `i64_fast` so the hot path gets plain numbers, not BigInts.
 *
 * Importing this module never touches the library; a host without libasound
 * learns why from {@link libasoundUnavailable} instead of an import-time throw.
 *
 * @example
 * ```ts
 * import { libasound, libasoundUnavailable } from "./libasound.ts";
 * const why = libasoundUnavailable();
 * if (why) throw new Error(why);
 * console.log(libasound().snd_strerror(-16)); // "Device or resource busy"
 * ```
 */
import { CString, dlopen, FFIType, JSCallback, type Library, type Pointer } from "bun:ffi";
import { isMainThread } from "node:worker_threads";
import { systemLibrary } from "../../foundation/system_library.ts";
import { type Libc, libc } from "../../foundation/libc.ts";

const { i32, u32, u64, i64_fast, ptr, cstring } = FFIType;
const v = FFIType.void;

// snd_pcm_stream_t, snd_pcm_access_t, snd_pcm_state_t, open mode (alsa/pcm.h).
export const SND_PCM_STREAM_PLAYBACK = 0;
export const SND_PCM_STREAM_CAPTURE = 1;
export const SND_PCM_NONBLOCK = 1;
export const SND_PCM_ACCESS_RW_INTERLEAVED = 3;

export const SND_PCM_STATE_OPEN = 0;
export const SND_PCM_STATE_SETUP = 1;
export const SND_PCM_STATE_PREPARED = 2;
export const SND_PCM_STATE_RUNNING = 3;
export const SND_PCM_STATE_XRUN = 4;
export const SND_PCM_STATE_DRAINING = 5;
export const SND_PCM_STATE_PAUSED = 6;
export const SND_PCM_STATE_SUSPENDED = 7;
export const SND_PCM_STATE_DISCONNECTED = 8;

// snd_pcm_format_t values for the encodings pacer speaks (alsa/pcm.h).
export const SND_PCM_FORMAT_S8 = 0;
export const SND_PCM_FORMAT_U8 = 1;
export const SND_PCM_FORMAT_S16_LE = 2;
export const SND_PCM_FORMAT_S16_BE = 3;
export const SND_PCM_FORMAT_S32_LE = 10;
export const SND_PCM_FORMAT_FLOAT_LE = 14;
export const SND_PCM_FORMAT_S24_3LE = 32;
export const SND_PCM_FORMAT_S24_3BE = 33;

// alsa-lib returns negative errno values (Linux numbering).
export const ENOENT = -2;
export const ENXIO = -6;
export const EAGAIN = -11;
export const EBUSY = -16;
export const ENODEV = -19;
export const EINVAL = -22;
export const EPIPE = -32;
export const ESTRPIPE = -86;

const SYMBOLS = {
  snd_pcm_open: { args: [ptr, cstring, i32, i32], returns: i32 },
  snd_pcm_close: { args: [ptr], returns: i32 },
  snd_pcm_nonblock: { args: [ptr, i32], returns: i32 },

  snd_pcm_hw_params_malloc: { args: [ptr], returns: i32 },
  snd_pcm_hw_params_free: { args: [ptr], returns: v },
  snd_pcm_hw_params_any: { args: [ptr, ptr], returns: i32 },
  snd_pcm_hw_params_set_access: { args: [ptr, ptr, i32], returns: i32 },
  snd_pcm_hw_params_set_format: { args: [ptr, ptr, i32], returns: i32 },
  snd_pcm_hw_params_set_channels: { args: [ptr, ptr, u32], returns: i32 },
  /** (pcm, params, format): 0 when the device can take it */
  snd_pcm_hw_params_test_format: { args: [ptr, ptr, i32], returns: i32 },
  /** (pcm, params, unsigned *channels) */
  snd_pcm_hw_params_set_channels_near: { args: [ptr, ptr, ptr], returns: i32 },
  /** (params, unsigned *channels) */
  snd_pcm_hw_params_get_channels_min: { args: [ptr, ptr], returns: i32 },
  /** (params, unsigned *channels) */
  snd_pcm_hw_params_get_channels_max: { args: [ptr, ptr], returns: i32 },
  /** (pcm, params, unsigned *rate, int *dir) */
  snd_pcm_hw_params_set_rate_near: { args: [ptr, ptr, ptr, ptr], returns: i32 },
  /** (pcm, params, snd_pcm_uframes_t *frames) */
  snd_pcm_hw_params_set_buffer_size_near: { args: [ptr, ptr, ptr], returns: i32 },
  /** (pcm, params, snd_pcm_uframes_t *frames, int *dir) */
  snd_pcm_hw_params_set_period_size_near: { args: [ptr, ptr, ptr, ptr], returns: i32 },
  /** (params, snd_pcm_uframes_t *frames) */
  snd_pcm_hw_params_get_buffer_size: { args: [ptr, ptr], returns: i32 },
  /** (params, snd_pcm_uframes_t *frames, int *dir) */
  snd_pcm_hw_params_get_period_size: { args: [ptr, ptr, ptr], returns: i32 },
  /** (params, unsigned *rate, int *dir) */
  snd_pcm_hw_params_get_rate: { args: [ptr, ptr, ptr], returns: i32 },
  snd_pcm_hw_params: { args: [ptr, ptr], returns: i32 },

  snd_pcm_sw_params_malloc: { args: [ptr], returns: i32 },
  snd_pcm_sw_params_free: { args: [ptr], returns: v },
  snd_pcm_sw_params_current: { args: [ptr, ptr], returns: i32 },
  snd_pcm_sw_params_set_start_threshold: { args: [ptr, ptr, u64], returns: i32 },
  snd_pcm_sw_params_set_avail_min: { args: [ptr, ptr, u64], returns: i32 },
  snd_pcm_sw_params: { args: [ptr, ptr], returns: i32 },

  snd_pcm_prepare: { args: [ptr], returns: i32 },
  snd_pcm_start: { args: [ptr], returns: i32 },
  snd_pcm_resume: { args: [ptr], returns: i32 },
  snd_pcm_writei: { args: [ptr, ptr, u64], returns: i64_fast },
  snd_pcm_readi: { args: [ptr, ptr, u64], returns: i64_fast },
  snd_pcm_avail_update: { args: [ptr], returns: i64_fast },
  snd_pcm_recover: { args: [ptr, i32, i32], returns: i32 },
  snd_pcm_drain: { args: [ptr], returns: i32 },
  snd_pcm_drop: { args: [ptr], returns: i32 },
  /** (pcm, enable): hardware pause, where the device has it */
  snd_pcm_pause: { args: [ptr, i32], returns: i32 },
  /** (pcm, snd_pcm_sframes_t *delay) */
  snd_pcm_delay: { args: [ptr, ptr], returns: i32 },
  snd_pcm_state: { args: [ptr], returns: i32 },
  snd_strerror: { args: [i32], returns: cstring },
  snd_lib_error_set_handler: { args: [ptr], returns: i32 },

  /** (card, iface, void ***hints) */
  snd_device_name_hint: { args: [i32, cstring, ptr], returns: i32 },
  /** Returns a malloc'd string the caller must free(), or NULL. */
  snd_device_name_get_hint: { args: [ptr, cstring], returns: ptr },
  snd_device_name_free_hint: { args: [ptr], returns: i32 },
} as const;

// snd_device_name_get_hint hands back malloc'd strings; they go back to libc's free.
export type Libasound = Library<typeof SYMBOLS>["symbols"] & Pick<Libc, "free">;

let loaded: Libasound | null = null;
let failure: string | null = null;
let tried = false;

/** Where alsa-lib's own error lines go (see {@link onAlsaLibMessage}): main's log, an alsa: output's once one opens; none before. */
let messageSink: ((text: string) => void) | null = null;
/** Held for the process's life: alsa-lib keeps the pointer. */
let errorHandler: JSCallback | null = null;

/**
 * alsa-lib's own error lines (`ALSA lib pcm.c:2666:(snd_pcm_open_noupdate) Unknown PCM nosuch`)
 * go to `sink` from now on, not to stderr: beside pacer's one line they made two or three. The
 * handler is called on whichever thread called alsa-lib (the writer thread too), so it is a
 * thread-safe callback: the line comes to this thread a little later. Its printf arguments
 * cannot be read, so a `%…` placeholder stands as `…`.
 */
export function onAlsaLibMessage(sink: (text: string) => void): void {
  messageSink = sink;
}

function quietErrors(asound: Library<typeof SYMBOLS>["symbols"]): void {
  // Process-wide in alsa-lib; set by the main thread, whose callback any thread may call.
  if (!isMainThread || errorHandler) return;
  const text = (p: Pointer | null) => (p === null ? "" : new CString(p).toString());
  errorHandler = new JSCallback(
    (file: Pointer | null, line: number, fn: Pointer | null, err: number, fmt: Pointer | null) => {
      const message = text(fmt).replace(/%(%|[-+ #0-9.*]*(?:hh|h|ll|l|L|q|j|z|t)?[diouxXeEfFgGaAcspn])/g, (_, c) => (c === "%" ? "%" : "…"));
      messageSink?.(`ALSA lib ${text(file)}:${line}:(${text(fn)}) ${message}${err ? ` (${asound.snd_strerror(err)})` : ""}`);
    },
    { args: [ptr, i32, ptr, i32, ptr], returns: v, threadsafe: true },
  );
  asound.snd_lib_error_set_handler(errorHandler.ptr);
}

function load(): void {
  if (tried) return;
  tried = true;
  try {
    // Found on the system's own paths, or not loaded: a bare name Bun also tries from the current directory.
    const path = systemLibrary("libasound.so.2");
    if (path === null) throw new Error("only the current directory has one, which is not loaded");
    const asound = dlopen(path, SYMBOLS);
    quietErrors(asound.symbols);
    const c = libc();
    if (!c) throw new Error("libc.so.6 could not be loaded");
    loaded = { ...asound.symbols, free: c.free };
  } catch (err) {
    const detail = err instanceof Error ? err.message.split("\n")[0] : String(err);
    failure = `libasound.so.2 not found: install libasound2 to use alsa: outputs (${detail})`;
  }
}

/**
 * Why libasound cannot be used on this host, or null when it loads.
 *
 * @example
 * ```ts
 * const why = libasoundUnavailable();
 * if (why) console.error(why); // "libasound.so.2 not found: install libasound2 ..."
 * ```
 */
export function libasoundUnavailable(): string | null {
  load();
  return failure;
}

/**
 * The loaded symbols; throws the {@link libasoundUnavailable} reason if absent.
 *
 * @example
 * ```ts
 * const { snd_pcm_state } = libasound();
 * ```
 */
export function libasound(): Libasound {
  load();
  if (!loaded) throw new Error(failure ?? "libasound.so.2 could not be loaded");
  return loaded;
}

/** alsa-lib's text for a negative error code, e.g. "Device or resource busy". */
export function sndStrerror(code: number): string {
  return libasound().snd_strerror(code) ?? `error ${code}`;
}
