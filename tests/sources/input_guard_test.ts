/**
 * Story (issue 10, item 6): a user types `pacer play show.ts --to file:show.ts` (or points --sdp at
 * the input) by mistake. pacer refuses with exit 2 before it opens anything for writing, so the
 * input survives; however the output path is spelled (relative, a symlink, a hard link).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { linkSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { UsageError } from "../../foundation/errors.ts";
import { refuseOutputsOverInputs, refuseSdpOverOutputs } from "../../sources/input_guard.ts";
import { REPO } from "../helpers/pacer.ts";

const dir = mkdtempSync(join(tmpdir(), "pacer-guard-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const input = join(dir, "show.ts");
writeFileSync(input, "the input");

function refusal(inputs: string[], outputs: string[], sdp?: string): string | null {
  try {
    refuseOutputsOverInputs(inputs, outputs, sdp);
    return null;
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as Error).message;
  }
}

describe("refuseOutputsOverInputs", () => {
  test("file: over the input is refused, however the path is spelled", () => {
    const link = join(dir, "link.ts");
    symlinkSync(input, link);
    const hard = join(dir, "hard.ts");
    linkSync(input, hard);
    for (const out of [input, relative(process.cwd(), input), join(dir, ".", "show.ts"), link, hard]) {
      expect(refusal([input], [`file:${out}`])).toContain("is the same file as input");
    }
    // The scheme in any case: FILE: opens a file: output all the same.
    expect(refusal([input], [`FILE:${input}`])).toContain(`output FILE:${input} is the same file as input`);
    const sdp = join(dir, "stream.sdp");
    expect(() => refuseSdpOverOutputs(["rtp://127.0.0.1:5004", `File:${sdp}`], sdp)).toThrow(`--sdp ${sdp} is the same file as output File:${sdp}`);
    expect(readFileSync(input, "utf8")).toBe("the input");
  });

  test("--sdp over an input is refused too, naming the option", () => {
    const other = join(dir, "other.ts");
    writeFileSync(other, "x");
    expect(refusal([other, input], ["rtp://127.0.0.1:5004"], input)).toMatch(/^--sdp .* is the same file as input .*show\.ts/);
  });

  test("outputs that are other files, or not there yet, or not files at all, pass", () => {
    const existing = join(dir, "copy.ts");
    writeFileSync(existing, "old copy");
    expect(refusal([input], [`file:${existing}`, `file:${join(dir, "new.ts")}`, "udp://127.0.0.1:1234", "cmd:cat"], join(dir, "new.sdp"))).toBeNull();
    expect(refusal(["-"], [`file:${existing}`])).toBeNull();
  });

  test("stdin redirected from a file is that file: `play - < show.ts --to file:show.ts` is refused", () => {
    const script = `import { refuseOutputsOverInputs } from ${JSON.stringify(join(REPO, "sources/input_guard.ts"))};
      try { refuseOutputsOverInputs(["-"], [${JSON.stringify(`file:${input}`)}]); console.log("allowed"); }
      catch (e) { console.log(e.name + ": " + e.message); }`;
    const run = Bun.spawnSync([process.execPath, "-e", script], { stdin: Bun.file(input) });
    expect(run.stdout.toString()).toMatch(/^UsageError: output file:.* is the same file as stdin/);
  });
});
