/**
 * Issue 10, item 6: an output that names the input would destroy it (`--to file:copy.wav`
 * truncated copy.wav to 0 bytes and exited 0; `--sdp copy.wav` overwrote it). Both are refused
 * with exit 2 before anything is opened for writing, and the input is left as it was.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { linkSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { rampS16, writeWav } from "../helpers/audio.ts";
import { runPacer } from "../helpers/pacer.ts";

const dir = mkdtempSync(join(tmpdir(), "pacer-over-input-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const input = join(dir, "copy.wav");
writeWav(input, { encoding: "s16le", rate: 8000, channels: 2 }, rampS16(800));
const original = readFileSync(input);

describe("an output that names the input", () => {
  test("play copy.wav --to file:copy.wav is refused with exit 2, and copy.wav keeps every byte", async () => {
    const run = await runPacer(["play", input, "--to", `file:${input}`]);
    expect(run.code).toBe(2);
    expect(run.stderr.trim().split("\n")).toHaveLength(1);
    expect(run.stderr).toContain("is the same file as input");
    expect(readFileSync(input).equals(original)).toBe(true);
  });

  test("--sdp naming the input (through a hard link) is refused too, and nothing is sent or written", async () => {
    const alias = join(dir, "alias.wav");
    linkSync(input, alias);
    const run = await runPacer(["play", input, "--to", "udp://127.0.0.1:9", "--sdp", alias]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`--sdp ${alias} is the same file as input`);
    expect(readFileSync(input).equals(original)).toBe(true);
  });
});
