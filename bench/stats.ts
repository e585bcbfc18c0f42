/**
 * Statistics and plain-text tables for the bench.
 *
 * @example
 * ```ts
 * const s = sortedCopy([3, 1, 2]);
 * quantile(s, 0.5); // 2
 * ```
 */

export function sortedCopy(values: ArrayLike<number>): Float64Array {
  const out = Float64Array.from(values);
  out.sort();
  return out;
}

/** Nearest-rank quantile of an ascending array. */
export function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

export function median(values: number[]): number {
  return quantile(sortedCopy(values), 0.5);
}

export interface Spread {
  p50: number;
  p99: number;
  max: number;
  count: number;
}

export function spread(values: ArrayLike<number>): Spread {
  const s = sortedCopy(values);
  return { p50: quantile(s, 0.5), p99: quantile(s, 0.99), max: s.length ? s[s.length - 1]! : NaN, count: s.length };
}

/** Least-squares line y = a + b·x; returns the residuals y − (a + b·x). */
export function lineResiduals(x: ArrayLike<number>, y: ArrayLike<number>): Float64Array {
  const n = x.length;
  // Centre first: arrival times in ns are ~1e12 and would lose precision squared.
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i]!;
    my += y[i]!;
  }
  mx /= n;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i]! - mx;
    sxy += dx * (y[i]! - my);
    sxx += dx * dx;
  }
  const b = sxx === 0 ? 0 : sxy / sxx;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = y[i]! - (my + b * (x[i]! - mx));
  return out;
}

export function absolute(values: Float64Array): Float64Array {
  return values.map(Math.abs);
}

/** One line of a section table. `ok` null: no target. */
export interface BenchRow {
  name: string;
  value: string;
  target: string;
  ok: boolean | null;
}

export function row(name: string, value: string, target = "", ok: boolean | null = null): BenchRow {
  return { name, value, target, ok };
}

/** A measured value with a "less than" target. */
export function below(name: string, value: number, limit: number, unit: string, digits = 1, orEqual = false): BenchRow {
  const ok = Number.isFinite(value) && (orEqual ? value <= limit : value < limit);
  return row(name, `${fmt(value, digits)} ${unit}`, `${orEqual ? "≤" : "<"} ${limit} ${unit}`, ok);
}

export function fmt(value: number, digits = 1): string {
  return Number.isFinite(value) ? value.toFixed(digits) : "n/a";
}

export function okText(ok: boolean | null): string {
  return ok === null ? "" : ok ? "ok" : "MISS";
}

/** A plain-text table with aligned columns. */
export function formatTable(title: string, headers: string[], lines: string[][]): string {
  const widths = headers.map((h, c) => Math.max(h.length, ...lines.map((l) => (l[c] ?? "").length)));
  const render = (cells: string[]) => cells.map((cell, c) => cell.padEnd(widths[c]!)).join(" | ").trimEnd();
  const rule = widths.map((w) => "-".repeat(w)).join("-+-");
  return [`== ${title}`, render(headers), rule, ...lines.map(render)].join("\n");
}

export function formatRows(title: string, rows: BenchRow[]): string {
  return formatTable(title, ["name", "value", "target", "ok?"], rows.map((r) => [r.name, r.value, r.target, okText(r.ok)]));
}
