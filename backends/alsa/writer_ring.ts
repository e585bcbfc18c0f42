/**
 * The memory an ALSA output shares with its writer thread (pcm_writer.ts, writer_thread.ts): a few
 * control words and a ring of whole frames, in one SharedArrayBuffer. One producer (the job's
 * send events, on the main thread) and one consumer (the writer thread, which alone calls
 * libasound), so the ring needs only an atomic count of the bytes it holds.
 *
 * @example
 * ```ts
 * const ring = makeWriterRing(4096 * 4);
 * Atomics.add(ring.control, FILLED, 4096); // after copying 4096 bytes in
 * ```
 */

/** Bumped by the main thread on any news (audio, pause, close); the writer waits on it. */
export const WAKE = 0;
/** Bytes in the ring. */
export const FILLED = 1;
/** 1: hold the device (snd_pcm_pause), 0: play. */
export const PAUSE = 2;
/** 0: open; CLOSE_DRAIN: close once the ring and the device have played out; CLOSE_NOW: drop and close. */
export const CLOSE = 3;
export const CLOSE_DRAIN = 1;
export const CLOSE_NOW = 2;
/** The device's xruns so far, as the writer counts them. */
export const UNDERRUNS = 4;
const CONTROL_WORDS = 8;

export interface WriterRing {
  readonly shared: SharedArrayBuffer;
  readonly control: Int32Array;
  /** The ring's bytes, as a Buffer view (copies in and out allocate nothing). */
  readonly data: Buffer;
  readonly capacity: number;
}

/** A ring of `capacity` bytes (a whole number of frames, so no frame straddles its end). */
export function makeWriterRing(capacity: number): WriterRing {
  return viewWriterRing(new SharedArrayBuffer(CONTROL_WORDS * 4 + capacity), capacity);
}

/** The same ring seen from another thread. */
export function viewWriterRing(shared: SharedArrayBuffer, capacity: number): WriterRing {
  return { shared, control: new Int32Array(shared, 0, CONTROL_WORDS), data: Buffer.from(shared, CONTROL_WORDS * 4, capacity), capacity };
}
