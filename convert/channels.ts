/**
 * Channel mapping as a gain matrix over interleaved float frames.
 *
 * The gains, output ← input:
 * - **1 → 2**: copy to L and R (gain 1). 1 → M (M > 2): copy to the first two
 *   channels, the rest silent.
 * - **2 → 1**: 0.5·(L + R) — an amplitude average, so a centred (L = R) signal keeps
 *   its level and nothing can clip.
 * - **5.1 → 2** (L, R, C, LFE, Ls, Rs; ITU-R BS.775): L' = L + g·C + g·Ls,
 *   R' = R + g·C + g·Rs with g = 1/√2 (−3 dB); LFE dropped. Not normalised, as in
 *   the standard: loud, correlated surrounds can clip at integer outputs.
 * - **5.1 → 1**: the 5.1 → 2 fold, then 0.5·(L' + R').
 * - **3.0, 5.0, 6.1 and 7.1 → 2 or 1** (3, 5, 7 and 8 channels in the layouts ffmpeg
 *   writes them in, WAV's order: L R C; L R C Ls Rs; L R C LFE Cb Ls Rs; L R C LFE Lb Rb Ls
 *   Rs): as 5.1, the centre and each side's surrounds at g, a back centre at g·g to both,
 *   the LFE dropped (ffmpeg's 3 channels are 2.1, whose third, an LFE, goes at g to both).
 *   By the rule below a 5.0's or 6.1's right surround went to the left speaker, 7.1's centre
 *   to the left only, and a third channel to the left only, with the left at −3 dB.
 * - **Any other N → M**: input channel i feeds output i mod M. An output fed by k
 *   inputs gives each gain 1/√k (equal power: k uncorrelated inputs of equal level
 *   keep that level). So 4 → 2 is L' = (L + Ls)/√2 (sox's quad; ffmpeg's 4.0, L R C Cb,
 *   is not told from it without the channel mask), 4 → 1 is (a + b + c + d)/2, and
 *   2 → 4 copies the pair into the first two and leaves the rest silent.
 *
 * @example
 * ```ts
 * const map = channelMap(6, 2);
 * mixChannels(map, fiveOne, frames, stereo); // stereo holds frames·2 floats
 * ```
 */

/** −3 dB, the ITU-R BS.775 gain for centre and surrounds in a stereo fold-down. */
export const MINUS_3_DB = Math.SQRT1_2;
const STEREO_TO_MONO_GAIN = 0.5;
/** The fronts of every layout below, in WAV/SMPTE order; an LFE (3, with six channels or more) is dropped in a fold-down. */
const FRONT = { L: 0, R: 1, C: 2 } as const;
/** By channel count, each side's surrounds, and channels that go to both sides at g·g (a back centre). */
const SURROUNDS: ReadonlyMap<number, { left: readonly number[]; right: readonly number[]; both: readonly number[] }> = new Map([
  [3, { left: [], right: [], both: [] }],
  [5, { left: [3], right: [4], both: [] }],
  [6, { left: [4], right: [5], both: [] }],
  [7, { left: [5], right: [6], both: [4] }],
  [8, { left: [4, 6], right: [5, 7], both: [] }],
]);

export interface ChannelMap {
  readonly from: number;
  readonly to: number;
  /** `to` rows of `from` gains: out[o] = Σ gains[o·from + i] · in[i]. */
  readonly gains: Float64Array;
  /** Only 0/1 gains with at most one input per output: integer samples stay exact. */
  readonly exact: boolean;
}

/** The gain matrix for `from` → `to` channels (rules above). */
export function channelMap(from: number, to: number): ChannelMap {
  if (!(from >= 1 && to >= 1)) throw new RangeError(`channel counts must be at least 1 (got ${from} → ${to})`);
  const gains = new Float64Array(from * to);
  const set = (o: number, i: number, g: number) => {
    gains[o * from + i] += g;
  };
  if (from === 1) {
    for (let o = 0; o < Math.min(to, 2); o++) set(o, 0, 1);
  } else if (from === 2 && to === 1) {
    set(0, 0, STEREO_TO_MONO_GAIN);
    set(0, 1, STEREO_TO_MONO_GAIN);
  } else if (SURROUNDS.has(from) && to <= 2) {
    const fold = to === 1 ? STEREO_TO_MONO_GAIN : 1;
    const { L, R, C } = FRONT;
    const surrounds = SURROUNDS.get(from)!;
    const left = 0;
    const right = to === 1 ? 0 : 1;
    set(left, L, fold);
    set(left, C, fold * MINUS_3_DB);
    for (const i of surrounds.left) set(left, i, fold * MINUS_3_DB);
    set(right, R, fold);
    set(right, C, fold * MINUS_3_DB);
    for (const i of surrounds.right) set(right, i, fold * MINUS_3_DB);
    for (const i of surrounds.both) {
      set(left, i, fold * MINUS_3_DB * MINUS_3_DB);
      set(right, i, fold * MINUS_3_DB * MINUS_3_DB);
    }
  } else {
    for (let o = 0; o < to; o++) {
      const fed = o < from ? Math.ceil((from - o) / to) : 0;
      for (let i = o; i < from; i += to) set(o, i, Math.sqrt(1 / fed));
    }
  }
  let exact = true;
  for (let o = 0; o < to; o++) {
    let nonzero = 0;
    for (let i = 0; i < from; i++) {
      const g = gains[o * from + i];
      if (g !== 0) nonzero++;
      if (g !== 0 && g !== 1) exact = false;
    }
    if (nonzero > 1) exact = false;
  }
  return { from, to, gains, exact };
}

/**
 * Applies `map` to `frames` interleaved frames of `input`, writing `frames · map.to`
 * floats to `out` (which must not be `input`). Allocates nothing.
 */
export function mixChannels(map: ChannelMap, input: Float32Array, frames: number, out: Float32Array): void {
  const { from, to, gains } = map;
  if (from === 1 && to === 2) {
    for (let f = 0; f < frames; f++) {
      const s = input[f];
      out[2 * f] = s;
      out[2 * f + 1] = s;
    }
    return;
  }
  if (from === 2 && to === 1) {
    for (let f = 0; f < frames; f++) out[f] = STEREO_TO_MONO_GAIN * (input[2 * f] + input[2 * f + 1]);
    return;
  }
  for (let f = 0; f < frames; f++) {
    const inAt = f * from;
    for (let o = 0; o < to; o++) {
      const row = o * from;
      let acc = 0;
      for (let i = 0; i < from; i++) acc += gains[row + i] * input[inAt + i];
      out[f * to + o] = acc;
    }
  }
}
