/**
 * The import graph points one way: every module imports only from its own folder or from a
 * floor below it, in the order README.md "How it is built" documents. A new top-level folder
 * must be given a floor here before it can pass.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";

const ROOT = resolve(import.meta.dir, "..");

/**
 * Floors, lowest first. Within a floor, a folder may import the folders listed before it on
 * the same floor (pipeline drives backends; cli drives client; the bench uses test fixtures),
 * never the ones after.
 */
const FLOORS: readonly (readonly string[])[] = [
  ["foundation"],
  ["protocol", "scheduler"],
  ["convert", "sources"],
  ["backends", "pipeline"],
  // The speaker plays a queue through the pipeline; the server drives it and the recorder.
  ["speaker", "recorder", "server"],
  ["client", "cli"],
  // The entry point and the tools around it; the bench borrows the tests' fixtures, and the
  // soak the bench's.
  ["main.ts", "tests", "bench", "soak", "scripts"],
];
/** Same-floor pairs that are independent: neither may import the other. */
const PEERS = new Set(["protocol>scheduler", "scheduler>protocol", "convert>sources", "sources>convert"]);

/** Places that are not modules of the program: tests, tools' output, dependencies. */
const NOT_MODULES = new Set(["tests", "node_modules", "dist", ".cache", ".git", ".ci"]);

export interface Rank {
  floor: number;
  order: number;
}

export function rankOf(room: string): Rank | null {
  for (const [floor, rooms] of FLOORS.entries()) {
    const order = rooms.indexOf(room);
    if (order >= 0) return { floor, order };
  }
  return null;
}

/** The top-level folder (or root file) a repository path belongs to. */
export function roomOf(path: string): string {
  return path.split(sep)[0]!;
}

/** Why `from` may not import `to`, or null when it may. */
export function violation(from: string, to: string): string | null {
  if (from === to) return null;
  const a = rankOf(from);
  const b = rankOf(to);
  if (!a) return `${from} has no floor in tests/layers_test.ts`;
  if (!b) return to === "package.json" ? null : `${to} has no floor in tests/layers_test.ts`;
  if (b.floor < a.floor) return null;
  if (b.floor === a.floor && b.order < a.order && !PEERS.has(`${from}>${to}`)) return null;
  return `${from} (floor ${a.floor + 1}) imports ${to} (floor ${b.floor + 1})`;
}

function modules(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (NOT_MODULES.has(entry.name)) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...modules(path));
    else if (entry.name.endsWith(".ts") && !entry.name.endsWith("_test.ts") && !entry.name.endsWith(".d.ts")) out.push(path);
  }
  return out;
}

/** Relative specifiers of every static import, re-export and dynamic import in `source`. */
export function importsOf(source: string): string[] {
  const specs: string[] = [];
  const pattern = /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*["']([^"']+)["']|import\s*\(\s*["']([^"']+)["']\s*\)|^import\s*["']([^"']+)["']/gm;
  for (const m of source.matchAll(pattern)) {
    const spec = m[1] ?? m[2] ?? m[3]!;
    if (spec.startsWith(".")) specs.push(spec);
  }
  return specs;
}

/** Every import in the tree that runs against the floors, as "file -> target: why". */
export function layerViolations(root: string): string[] {
  const found: string[] = [];
  for (const file of modules(root)) {
    const from = relative(root, file);
    for (const spec of importsOf(readFileSync(file, "utf8"))) {
      const to = relative(root, resolve(dirname(file), spec));
      const why = violation(roomOf(from), roomOf(to));
      if (why) found.push(`${from} -> ${to}: ${why}`);
    }
  }
  return found;
}

describe("layers", () => {
  test("every module imports only from its own folder or a floor below", () => {
    expect(layerViolations(ROOT)).toEqual([]);
  });

  test("the rule itself: down is allowed, up and across-peers are not", () => {
    expect(violation("server", "pipeline")).toBeNull();
    expect(violation("pipeline", "backends")).toBeNull();
    expect(violation("backends", "pipeline")).toContain("imports pipeline");
    expect(violation("sources", "backends")).toContain("imports backends");
    expect(violation("protocol", "scheduler")).toContain("imports scheduler");
    expect(violation("foundation", "cli")).toContain("imports cli");
    expect(violation("newfolder", "foundation")).toContain("no floor");
  });

  test("imports are read in every form: static, type-only, re-export, dynamic, side effect", () => {
    const source = [
      `import { a } from "../a/x.ts";`,
      `import type { B } from "./b.ts";`,
      `export { c } from "../c/y.ts";`,
      `const d = await import("../d/z.ts");`,
      `import "./e.ts";`,
      `import { readFileSync } from "node:fs";`,
    ].join("\n");
    expect(importsOf(source)).toEqual(["../a/x.ts", "./b.ts", "../c/y.ts", "../d/z.ts", "./e.ts"]);
  });
});
