import { describe, expect, test } from "bun:test";
import { parsePoolFile, PoolFileError, splitWords, WordSplitError } from "../../protocol/pool_file.ts";

describe("splitWords", () => {
  test.each([
    ["play news.ts --to rtp://10.0.0.5:5004 --loop", ["play", "news.ts", "--to", "rtp://10.0.0.5:5004", "--loop"]],
    ["  stop\tjob-12  ", ["stop", "job-12"]],
    ["queue 'Morning Show.wav'", ["queue", "Morning Show.wav"]],
    ['queue "Morning Show.wav"', ["queue", "Morning Show.wav"]],
    ["queue Morning\\ Show.wav", ["queue", "Morning Show.wav"]],
    [`queue 'it'"'"'s.wav'`, ["queue", "it's.wav"]],
    [`queue "say \\"hi\\" \\\\ \\n"`, ["queue", 'say "hi" \\ \\n']],
    [`queue 'a\\b'`, ["queue", "a\\b"]],
    ["play x.ts --to 'cmd:ffplay -'", ["play", "x.ts", "--to", "cmd:ffplay -"]],
    ["play 'rtp://[2001:db8::5]:5004'", ["play", "rtp://[2001:db8::5]:5004"]],
    ["record start evening # the 18:00 show", ["record", "start", "evening"]],
    ["queue a#b.wav", ["queue", "a#b.wav"]],
    ["queue '#hash.wav'", ["queue", "#hash.wav"]],
    ["cancel ''", ["cancel", ""]],
    ["# only a comment", []],
    ["", []],
    ["stop job-12\r", ["stop", "job-12"]],
  ])("%p", (line, words) => {
    expect(splitWords(line)).toEqual(words);
  });

  test.each([["queue 'open"], ['queue "open'], ['queue "ends with \\"'], ["stop job-12\\"]])("%p is malformed", (line) => {
    expect(() => splitWords(line)).toThrow(WordSplitError);
  });
});

describe("parsePoolFile", () => {
  test("keeps each command's line number, skipping blank and comment lines", () => {
    const text = [
      "# evening schedule",
      "",
      "play news.ts --to rtp://10.0.0.5:5004 --loop",
      "   ",
      "stop job-12",
      "  # indented comment",
      "record start evening",
      "",
    ].join("\n");
    expect(parsePoolFile(text)).toEqual([
      { line: 3, words: ["play", "news.ts", "--to", "rtp://10.0.0.5:5004", "--loop"] },
      { line: 5, words: ["stop", "job-12"] },
      { line: 7, words: ["record", "start", "evening"] },
    ]);
  });

  test("handles CRLF files and a missing final newline", () => {
    expect(parsePoolFile("ping\r\nstatus")).toEqual([
      { line: 1, words: ["ping"] },
      { line: 2, words: ["status"] },
    ]);
  });

  test("reports every malformed line with its number", () => {
    const text = "ping\nqueue 'open\nstatus\nqueue \"also open\n";
    let error: unknown;
    try {
      parsePoolFile(text, "evening.pool");
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PoolFileError);
    const poolError = error as PoolFileError;
    expect(poolError.problems.map((p) => p.line)).toEqual([2, 4]);
    expect(poolError.message).toBe(
      "evening.pool:2: unterminated ' quote starting at column 7; close it with '\n" +
        'evening.pool:4: unterminated " quote starting at column 7; close it with "',
    );
  });

  test("an empty file has no commands", () => {
    expect(parsePoolFile("")).toEqual([]);
    expect(parsePoolFile("\n\n# nothing\n")).toEqual([]);
  });
});
