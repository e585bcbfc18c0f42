/**
 * `pacer record`'s files as a hostile tester left them: patterns that name a folder (a file
 * `odd/-1`, or EISDIR once data came). Real `pacer record -` subprocesses fed on stdin.
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { patPackets } from "../helpers/mpeg_fixtures.ts";
import { runPacer } from "../helpers/pacer.ts";

let dir: string;
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), "pacer-record-files-"))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

test("a pattern that names a folder is one line and exit 2, with nothing created", async () => {
  for (const out of ["odd/", "odd/%Y%m%d/%H/", "odd/.", "odd/.."]) {
    const r = await runPacer(["record", "-", "--out", out], { cwd: dir, stdin: patPackets(10, 0) });
    expect(r.stderr).toMatch(/^pacer: error: --out "[^"]*": names a folder; expected a file name at the end/);
    expect(r.stderr.trim().split("\n").length).toBe(1);
    expect(r.code).toBe(2);
    expect(readdirSync(dir)).toEqual([]);
  }
});
