/** A name cut for a status page or a log line keeps its start, ends in "…", and never splits a character. */
import { describe, expect, test } from "bun:test";
import { cutText } from "../../foundation/cut_text.ts";

describe("cutText", () => {
  test("a short name is left alone; a long one keeps its start and ends in …, within the limit", () => {
    expect(cutText("tone.wav", 8)).toBe("tone.wav");
    expect(cutText("albums/2024/a-very-long-name.flac", 12)).toBe("albums/2024…");
    expect(cutText("./".repeat(500) + "tone.wav", 120)).toHaveLength(120);
  });

  test("a surrogate pair at the cut goes whole", () => {
    expect(cutText("ab🎵cd", 4)).toBe("ab…");
    expect(cutText("abc🎵d", 4)).toBe("abc…");
  });
});
