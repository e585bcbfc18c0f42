/**
 * `pacer record --gap-log` naming the recording itself is a usage error at the start, naming
 * both, before anything is locked or recorded: before, the gap lines were appended to the
 * recording and the recording written over them.
 */
import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir } from "../helpers/mpeg_fixtures.ts";
import { runPacer } from "../helpers/pacer.ts";

const tmp = makeTempDir();
afterAll(() => tmp.cleanup());

/** A stdin of TS packets, so a run not refused records something. */
const INPUT = new Uint8Array(188 * 20).map((_, i) => (i % 188 === 0 ? 0x47 : 0));

async function refused(folder: string, args: string[], gapLog: string, out: string) {
  const run = await runPacer(["record", "-", ...args, "--duration", "1"], { stdin: INPUT, cwd: folder, timeoutMs: 10_000 });
  expect(run).toEqual({ code: 2, stdout: "", stderr: `pacer: error: --gap-log ${gapLog} is the recording itself (--out ${out}): its lines would be written into the recording; give another file\n` });
}

test("the same path, or another spelling of a pattern with no field: exit 2, nothing created", async () => {
  const folder = join(tmp.dir, "same");
  mkdirSync(join(folder, "r"), { recursive: true });
  await refused(folder, ["--out", "r/x.ts", "--gap-log", "r/x.ts"], "r/x.ts", "r/x.ts");
  await refused(folder, ["--out", "r/x%%.ts", "--gap-log", `${folder}/r/./x%.ts`], `${folder}/r/./x%.ts`, "r/x%%.ts");
  await refused(folder, ["--out", "r/x.ts", "--part", "--gap-log", "r/x.ts.part"], "r/x.ts.part", "r/x.ts");
  // The pattern as written, fields and all.
  await refused(folder, ["--out", "r/%Y.ts", "--gap-log", "r/%Y.ts"], "r/%Y.ts", "r/%Y.ts");
  expect(readdirSync(join(folder, "r"))).toEqual([]);
}, 10_000);

test("a symlink to the recording a fixed pattern names: exit 2, the recording left as it was", async () => {
  const folder = join(tmp.dir, "link");
  mkdirSync(join(folder, "r"), { recursive: true });
  writeFileSync(join(folder, "r", "x.ts"), "earlier");
  symlinkSync("r/x.ts", join(folder, "gaps.log"));
  await refused(folder, ["--out", "r/x.ts", "--gap-log", "gaps.log"], "gaps.log", "r/x.ts");
  expect(readFileSync(join(folder, "r", "x.ts"), "utf8")).toBe("earlier");
  expect(existsSync(join(folder, "r", "x-1.ts"))).toBe(false);
}, 10_000);
