/**
 * The fuzz harness: fast-check runs of one parser, counting cases, crashes (anything thrown that is
 * not the parser's own one-line error) and hangs (a case slower than CASE_LIMIT_MS), and checking
 * that memory stays bounded over the run. `bun test` runs FUZZ_RUNS cases per parser (a quick
 * count); `npm run fuzz` sets PACER_FUZZ_RUNS to 100000 and prints a line per parser.
 *
 * A failure fast-check finds is kept as a regression case: add its input to the suite's
 * `regressions` (fast-check `examples`), so the default run tries it every time.
 */
import { expect } from "bun:test";
import fc from "fast-check";

export const FUZZ_RUNS = Number(process.env.PACER_FUZZ_RUNS ?? 1500);
/** One case of a parser on at most 64 KiB must never take this long: longer is a hang. */
export const CASE_LIMIT_MS = 250;
/** RSS may grow by this much over a whole run (the heap settling, JIT code), no more. */
const RSS_GROWTH_LIMIT = 96 << 20;
/** Test timeout for one parser's run, scaled by the count. */
export const FUZZ_TIMEOUT_MS = 60_000 + FUZZ_RUNS * 5;

/** A refusal that says something (the logger escapes control characters, so any text stays on one line). */
function saysWhy(error: unknown): boolean {
  return error instanceof Error && error.message.trim().length > 0;
}

/**
 * Runs `check` over `arbitrary` and prints cases, crashes, hangs, time and RSS growth. `check`
 * throws only for a broken property; the parser's refusals are caught inside it (`refusal`).
 */
export function fuzz<T>(parser: string, arbitrary: fc.Arbitrary<T>, check: (value: T) => void, regressions: T[] = []): void {
  Bun.gc(true);
  const rssBefore = process.memoryUsage.rss();
  const started = performance.now();
  let cases = 0;
  let slowest = 0;
  let failure: unknown = null;
  try {
    fc.assert(
      fc.property(arbitrary, (value) => {
        cases++;
        const t = performance.now();
        check(value);
        const took = performance.now() - t;
        slowest = Math.max(slowest, took);
        if (took > CASE_LIMIT_MS) throw new Error(`hang: one case took ${took.toFixed(0)} ms`);
      }),
      { numRuns: FUZZ_RUNS, examples: regressions.map((r) => [r] as [T]), endOnFailure: true },
    );
  } catch (error) {
    failure = error;
  }
  Bun.gc(true);
  const growth = process.memoryUsage.rss() - rssBefore;
  const text = String(failure);
  const hangs = failure && text.includes("hang:") ? 1 : 0;
  const crashes = failure && !hangs ? 1 : 0;
  console.log(
    `fuzz ${parser}: ${cases} cases, ${crashes} crashes, ${hangs} hangs, ${((performance.now() - started) / 1000).toFixed(1)} s, ` +
      `slowest case ${slowest.toFixed(1)} ms, RSS ${growth >= 0 ? "+" : ""}${(growth / (1 << 20)).toFixed(1)} MiB`,
  );
  if (failure) throw failure;
  expect(growth).toBeLessThan(RSS_GROWTH_LIMIT);
}

/**
 * Calls `parse`; a throw of one of `allowed` with a one-line message is a refusal (returns null),
 * anything else is a crash (rethrown with what was thrown).
 */
export function refusal<R>(parse: () => R, allowed: (new (...args: never[]) => Error)[]): R | null {
  try {
    return parse();
  } catch (error) {
    if (allowed.some((cls) => error instanceof cls) && saysWhy(error)) return null;
    throw new Error(`crash: ${error instanceof Error ? `${error.constructor.name}: ${error.message}` : String(error)}`);
  }
}

/** Bytes: random, or `base` with some bytes overwritten and maybe cut short or extended. */
export function mutated(base: Uint8Array, maxLength = 65_536): fc.Arbitrary<Uint8Array> {
  const edits = fc.array(fc.tuple(fc.nat({ max: Math.max(0, base.length - 1) }), fc.integer({ min: 0, max: 255 })), { maxLength: 16 });
  const cut = fc.option(fc.nat({ max: base.length }), { nil: undefined });
  const extra = fc.uint8Array({ maxLength: 512 });
  const fromBase = fc.tuple(edits, cut, extra).map(([e, c, x]) => {
    const out = new Uint8Array(Math.min(maxLength, (c ?? base.length) + x.length));
    out.set(base.subarray(0, Math.min(c ?? base.length, out.length)));
    out.set(x.subarray(0, out.length - Math.min(c ?? base.length, out.length)), Math.min(c ?? base.length, out.length));
    for (const [at, value] of e) if (at < out.length) out[at] = value;
    return out;
  });
  return fc.oneof({ weight: 3, arbitrary: fromBase }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: Math.min(maxLength, 4096) }) });
}
