/**
 * `--loop` over a short input: once a whole turn of it has been loaded, the next turns are copied
 * from the read-ahead buffer instead of read again. A one-frame WAV looped had been a read (a
 * pread and a rewind) per frame, 48,000 a second at 48 kHz; now a load costs a read of one turn
 * and a few copies, about what a long file's load costs.
 *
 * @example
 * ```ts
 * // The buffer's last 4 bytes are one whole turn, just loaded: load it again as often as fits.
 * const turns = repeatTurns(ring, 4, 131_072);
 * ```
 */
import type { ReadAheadBuffer } from "./read_ahead.ts";

/**
 * Loads the turn that ends at the buffer's end (its last `turnBytes`) again, whole turns only, as
 * many as fit in `wantedBytes` and in the buffer's room. Each copy takes every turn loaded so
 * far, so a load wanting k turns makes about log2(k) copies. Returns the turns loaded.
 */
export function repeatTurns(ring: ReadAheadBuffer, turnBytes: number, wantedBytes: number): number {
  // Whole turns behind the buffer's end, all alike: each copy is from the first of them.
  let behind = turnBytes;
  let copied = 0;
  for (;;) {
    const position = ring.writablePosition();
    const room = ring.writableRoom();
    const fits = Math.min(behind, room, wantedBytes - copied);
    const whole = fits - (fits % turnBytes);
    if (whole <= 0) break;
    ring.copyOut(ring.end - behind, ring.data, position, whole);
    ring.commit(whole);
    copied += whole;
    behind += whole;
  }
  return copied / turnBytes;
}
