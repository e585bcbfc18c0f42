/**
 * The resampler's inner loop as a WebAssembly SIMD function: four taps per
 * multiply-add (f32x4), where JavaScript does one. Measured on this host
 * (`bun bench/convert_bench.ts`), see resample.ts for the figures.
 *
 * It is assembled here from named opcodes rather than shipped as an opaque
 * binary, so the loop can be read and changed; the text form is beside it.
 *
 * ```wat
 * (func (export "run") (param $table $rowStride $taps $up $stepWhole $stepFrac
 *                             $x $out $outStride $pos $frac $end $limit $second i32) (result i32)
 *   ;; for each output while pos <= end and n < limit:
 *   ;;   acc = Σ x[pos + k .. +3] · row(frac)[k .. +3], k += 4
 *   ;;   *out = (acc0 + acc1) + (acc2 + acc3); out += outStride
 *   ;;   pos += stepWhole; frac += stepFrac; if frac >= up { frac -= up; pos++ }
 *   ;; stores pos at address 0 and frac at 4; returns the outputs written
 * (func (export "run2") ...)
 *   ;; the same for two channels against each row: the second's history is
 *   ;; $second bytes after the first's, its output at out + 4
 * ```
 *
 * The caller runs it for each channel, or pair, from the same position and
 * phase (each call ends at the same pos and frac). Sums are in float32, four
 * lanes of taps/4 terms each: about 2^-24·√(taps/4) relative, far below the
 * −100 dB the quality test holds (it reads −138 dB, −140 with double sums).
 */

/** Parameter and local indices of `run` and `run2`. */
const TABLE = 0;
const ROW_STRIDE = 1;
const TAPS = 2;
const UP = 3;
const STEP_WHOLE = 4;
const STEP_FRAC = 5;
const X = 6;
const OUT = 7;
const OUT_STRIDE = 8;
const POS = 9;
const FRAC = 10;
const END = 11;
const LIMIT = 12;
/** `run2` only: bytes from the first channel's history to the second's. */
const SECOND = 13;
const PARAMS = 14;
const N = 14;
const K = 15;
const ROW = 16;
const X_AT = 17;
const ACC = 18;
const ACC_B = 19;
const COEFFS = 20;

/** Where `run` leaves the position and phase it stopped at (bytes 0..8 of memory). */
export const KERNEL_POS_ADDR = 0;
export const KERNEL_FRAC_ADDR = 4;
/** Bytes at the start of memory that `run` owns. */
export const KERNEL_SCRATCH_BYTES = 16;

const I32 = 0x7f;
const V128 = 0x7b;
const EMPTY = 0x40;
const op = {
  block: 0x02,
  loop: 0x03,
  end: 0x0b,
  br: 0x0c,
  brIf: 0x0d,
  get: 0x20,
  set: 0x21,
  tee: 0x22,
  i32Store: 0x36,
  f32Store: 0x38,
  i32Const: 0x41,
  i32LtS: 0x48,
  i32GtS: 0x4a,
  i32GeS: 0x4e,
  i32Add: 0x6a,
  i32Sub: 0x6b,
  i32Mul: 0x6c,
  i32Shl: 0x74,
  f32Add: 0x92,
  simd: 0xfd,
};
/** SIMD sub-opcodes, as their unsigned LEB128 bytes after 0xfd. */
const v128Load = [op.simd, 0x00];
const v128Const = [op.simd, 0x0c];
const f32x4Extract = [op.simd, 0x1f];
const f32x4Add = [op.simd, 0xe4, 0x01];
const f32x4Mul = [op.simd, 0xe6, 0x01];
/** memarg: alignment 2^2 (the loads need not be 16-byte aligned), offset 0. */
const ALIGN4 = [0x02, 0x00];
/** The same at offset 4: the second channel's output. */
const ALIGN4_NEXT = [0x02, 0x04];

function sleb(value: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = value & 0x7f;
    value >>= 7;
    const done = (value === 0 && (byte & 0x40) === 0) || (value === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

function uleb(value: number): number[] {
  const out: number[] = [];
  do {
    const byte = value & 0x7f;
    value >>>= 7;
    out.push(value === 0 ? byte : byte | 0x80);
  } while (value !== 0);
  return out;
}

const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
const name = (s: string): number[] => [...uleb(s.length), ...new TextEncoder().encode(s)];
const get = (i: number) => [op.get, i];
const set = (i: number) => [op.set, i];
const i32 = (v: number) => [op.i32Const, ...sleb(v)];
/** local[i] += local[j] */
const addTo = (i: number, j: number) => [...get(i), ...get(j), op.i32Add, ...set(i)];

/** f32 of the four lanes of local `acc`: (a0 + a1) + (a2 + a3). */
const laneSum = (acc: number) => [
  ...get(acc), ...f32x4Extract, 0, ...get(acc), ...f32x4Extract, 1, op.f32Add,
  ...get(acc), ...f32x4Extract, 2, ...get(acc), ...f32x4Extract, 3, op.f32Add,
  op.f32Add,
];

/** `run` (one channel), or `run2` (two, sharing each row's loads) when `pair`. */
function body(pair: boolean): number[] {
  const zero = [...v128Const, ...new Array(16).fill(0)];
  const code = [
    op.block, EMPTY,
    op.loop, EMPTY,
    ...get(POS), ...get(END), op.i32GtS, op.brIf, 1,
    ...get(N), ...get(LIMIT), op.i32GeS, op.brIf, 1,
    // row = table + frac · rowStride; x_at = x + 4 · pos
    ...get(TABLE), ...get(FRAC), ...get(ROW_STRIDE), op.i32Mul, op.i32Add, ...set(ROW),
    ...get(X), ...get(POS), ...i32(2), op.i32Shl, op.i32Add, ...set(X_AT),
    ...zero, ...set(ACC),
    ...zero, ...set(ACC_B),
    ...i32(0), ...set(K),
    op.loop, EMPTY,
    ...get(ACC),
    ...get(X_AT), ...v128Load, ...ALIGN4,
    ...get(ROW), ...v128Load, ...ALIGN4, op.tee, COEFFS,
    ...f32x4Mul, ...f32x4Add, ...set(ACC),
    ...(pair ? [
      ...get(ACC_B),
      ...get(X_AT), ...get(SECOND), op.i32Add, ...v128Load, ...ALIGN4,
      ...get(COEFFS),
      ...f32x4Mul, ...f32x4Add, ...set(ACC_B),
    ] : []),
    ...get(X_AT), ...i32(16), op.i32Add, ...set(X_AT),
    ...get(ROW), ...i32(16), op.i32Add, ...set(ROW),
    ...get(K), ...i32(4), op.i32Add, op.tee, K, ...get(TAPS), op.i32LtS, op.brIf, 0,
    op.end,
    ...get(OUT), ...laneSum(ACC), op.f32Store, ...ALIGN4,
    ...(pair ? [...get(OUT), ...laneSum(ACC_B), op.f32Store, ...ALIGN4_NEXT] : []),
    ...addTo(OUT, OUT_STRIDE),
    ...get(N), ...i32(1), op.i32Add, ...set(N),
    ...addTo(POS, STEP_WHOLE),
    ...addTo(FRAC, STEP_FRAC),
    // if frac >= up { frac -= up; pos++ }
    op.block, EMPTY,
    ...get(FRAC), ...get(UP), op.i32LtS, op.brIf, 0,
    ...get(FRAC), ...get(UP), op.i32Sub, ...set(FRAC),
    ...get(POS), ...i32(1), op.i32Add, ...set(POS),
    op.end,
    op.br, 0,
    op.end,
    op.end,
    ...i32(KERNEL_POS_ADDR), ...get(POS), op.i32Store, ...ALIGN4,
    ...i32(KERNEL_FRAC_ADDR), ...get(FRAC), op.i32Store, ...ALIGN4,
    ...get(N),
    op.end,
  ];
  // locals: four i32 (n, k, row, x_at), three v128 (acc, acc_b, coeffs)
  const locals = vec([[4, I32], [3, V128]]);
  return [...locals, ...code];
}

function moduleBytes(): Uint8Array {
  const params = new Array(PARAMS).fill(I32);
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([[0x60, ...vec(params.map((p) => [p])), ...vec([[I32]])]])),
    ...section(2, vec([[...name("m"), ...name("memory"), 0x02, 0x00, 0x01]])),
    ...section(3, vec([[0], [0]])),
    ...section(7, vec([[...name("run"), 0x00, 0x00], [...name("run2"), 0x00, 0x01]])),
    ...section(10, vec([false, true].map((pair) => [...uleb(body(pair).length), ...body(pair)]))),
  ];
  return new Uint8Array(bytes);
}

/** `run`'s signature, all i32; see the text form above. */
export type KernelRun = (
  table: number, rowStride: number, taps: number, up: number, stepWhole: number, stepFrac: number,
  x: number, out: number, outStride: number, pos: number, frac: number, end: number, limit: number,
  second: number,
) => number;

export interface Kernel {
  /** One channel. */
  readonly run: KernelRun;
  /** Two channels, `second` bytes apart in memory, written to out and out + 4. */
  readonly run2: KernelRun;
}

/**
 * The same loop in JavaScript, over the same memory: for an engine without WebAssembly SIMD
 * (JavaScriptCore can be run without it), at about a third of the speed. Sums are in double.
 */
export function scalarKernel(memory: WebAssembly.Memory): Kernel {
  const f32 = new Float32Array(memory.buffer);
  const i32 = new Int32Array(memory.buffer);
  const loop = (pair: boolean): KernelRun => (table, rowStride, taps, up, stepWhole, stepFrac, x, out, outStride, pos, frac, end, limit, second) => {
    const x0 = x >> 2;
    const x1 = (x + second) >> 2;
    let n = 0;
    let at = out >> 2;
    for (; pos <= end && n < limit; n++) {
      const row = (table + frac * rowStride) >> 2;
      let a = 0;
      let b = 0;
      for (let k = 0; k < taps; k++) {
        const c = f32[row + k]!;
        a += f32[x0 + pos + k]! * c;
        if (pair) b += f32[x1 + pos + k]! * c;
      }
      f32[at] = a;
      if (pair) f32[at + 1] = b;
      at += outStride >> 2;
      pos += stepWhole;
      frac += stepFrac;
      if (frac >= up) {
        frac -= up;
        pos++;
      }
    }
    i32[KERNEL_POS_ADDR >> 2] = pos;
    i32[KERNEL_FRAC_ADDR >> 2] = frac;
    return n;
  };
  return { run: loop(false), run2: loop(true) };
}

let compiled: WebAssembly.Module | null | undefined;
/** An instance of the kernel over `memory` (compiled once per process), or {@link scalarKernel} where the engine has no SIMD. */
export function resampleKernel(memory: WebAssembly.Memory): Kernel {
  if (compiled === undefined) {
    const bytes = moduleBytes();
    compiled = WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null;
  }
  if (compiled === null) return scalarKernel(memory);
  const { exports } = new WebAssembly.Instance(compiled, { m: { memory } });
  return { run: exports.run as KernelRun, run2: exports.run2 as KernelRun };
}
