/** The recorder's pure parts: strftime names, the files a pattern matches, the lock's name, the WAV header's RF64 switch. */
import { describe, expect, test } from "bun:test";
import { nextLocalTime } from "../../cli/record.ts";
import { checkPattern, formatPattern, patternMatcher, staticFolder } from "../../recorder/pattern.ts";
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { lockOutput, lockPathFor } from "../../recorder/lock.ts";
import { parseWavHeader, wavRecordingHeader } from "../../protocol/wav.ts";

describe("patterns", () => {
  test("names come from the local time at a file's start", () => {
    expect(formatPattern("rec/%Y%m%d-%H%M%S.ts", new Date(2024, 4, 1, 6, 30, 5))).toBe("rec/20240501-063005.ts");
    expect(formatPattern("%F_%j_100%%.wav", new Date(2024, 1, 1))).toBe("2024-02-01_032_100%.wav");
  });

  test("a field pacer does not fill in, or a lone % at the end, is a usage error that names it", () => {
    expect(() => checkPattern("rec/%G-W%V.ts")).toThrow('unknown field %G (known: %Y %y %m %d %H %M %S %j %s %F %T %%)');
    // (Was "unknown field % (known: …)", as if % were a field.)
    expect(() => checkPattern("rec/x-%")).toThrow('--out "rec/x-%": ends in a lone %; write %% for a percent sign');
    expect(() => nextLocalTime("24:00", 0)).toThrow('--until "24:00": expected a time of day HH:MM, from 00:00 to 23:59, like 06:30');
  });

  test("--keep matches the pattern's own files, repeats included, and nothing else", () => {
    const m = patternMatcher("rec/news-%Y%m%d.ts");
    expect(m.test("news-20240501.ts")).toBe(true);
    expect(m.test("news-20240501-1.ts")).toBe(true);
    expect(m.test("news-20240501.ts.part")).toBe(false);
    expect(m.test("sport-20240501.ts")).toBe(false);
  });

  test("the lock sits in the first folder without a field, named after the rest", () => {
    expect(staticFolder("/srv/rec/%Y/%m%d.ts")).toBe("/srv/rec");
    expect(lockPathFor("/srv/rec/%Y/%m%d.ts")).toBe("/srv/rec/.%Y_-%m%d.ts.lock");
    expect(lockPathFor("news-%H.ts")).toBe(".news-%H.ts.lock");
  });

  test("two patterns never share a lock", () => {
    const patterns = ["%Y_x.ts", "%Y/x.ts", "%Y__x.ts", "%Y_/x.ts", "%Y/_x.ts", "%Y//x.ts", "%Y_-x.ts", "%Y-/x.ts"].map((p) => `rec/${p}`);
    expect(new Set(patterns.map(lockPathFor)).size).toBe(patterns.length);
  });
});

describe("the output's lock", () => {
  test("a FIFO in the lock file's place is refused at once, where it held the open (and serve with it) until a reader came", () => {
    const dir = mkdtempSync(join(tmpdir(), "pacer-lock-"));
    const pattern = join(dir, "news-%H.ts");
    execFileSync("mkfifo", [lockPathFor(pattern)]);
    // Without the fix, this reader ends the wait a second on, and the lock was taken on the FIFO.
    const reader = spawn("sh", ["-c", `sleep 1; exec 3<'${lockPathFor(pattern)}'; sleep 2`]);
    try {
      const startedAt = performance.now();
      expect(() => lockOutput(pattern)).toThrow(`${lockPathFor(pattern)}: cannot create the lock file: it is there and is not a file (a FIFO or a device); remove it`);
      expect(performance.now() - startedAt).toBeLessThan(500);
    } finally {
      reader.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("a recording WAV's header", () => {
  const format = { encoding: "s24le" as const, rate: 48_000, channels: 2 };

  test("stays one length and parses as RIFF while it fits 32 bits", () => {
    const header = wavRecordingHeader(format, 6000);
    expect(header.length).toBe(wavRecordingHeader(format, 0).length);
    const parsed = parseWavHeader(header);
    expect(parsed.status === "ok" && parsed.dataOffset).toBe(header.length);
    expect(parsed.status === "ok" && parsed.dataBytes).toBe(6000);
  });

  test("becomes RF64 with a ds64 chunk past 4 GiB (a day of 48 kHz 24-bit stereo)", () => {
    const day = 48_000 * 6 * 86_400;
    const header = wavRecordingHeader(format, day);
    const view = new DataView(header.buffer);
    const tag = (at: number) => new TextDecoder().decode(header.subarray(at, at + 4));
    expect(tag(0)).toBe("RF64");
    expect(view.getUint32(4, true)).toBe(0xffffffff);
    expect(tag(12)).toBe("ds64");
    expect(Number(view.getBigUint64(20, true))).toBe(header.length - 8 + day);
    expect(Number(view.getBigUint64(28, true))).toBe(day);
    expect(Number(view.getBigUint64(36, true))).toBe(day / 6);
    expect(tag(header.length - 8)).toBe("data");
    expect(view.getUint32(header.length - 4, true)).toBe(0xffffffff);
  });
});
