import { describe, expect, test } from "bun:test";
import { UsageError } from "../../foundation/errors.ts";
import { byteSizeOf, parseBitrate, parseSeconds } from "../../foundation/units.ts";

describe("units", () => {
  test("a bad value names the caller's option, not a fixed one", () => {
    expect(() => parseBitrate("fast", '"bitrate":')).toThrow(/^"bitrate": "fast": expected bits per second/);
    expect(() => parseBitrate("fast", "--bitrate")).toThrow(UsageError);
    expect(() => parseSeconds("soon", "--start")).toThrow(/^--start "soon"/);
  });

  test("sizes: decimal and binary units; a bare number is bytes only where asked, so 15m stays minutes", () => {
    expect(byteSizeOf("500MB")).toBe(500e6);
    expect(byteSizeOf("64KiB")).toBe(65_536);
    expect(byteSizeOf("8mib")).toBe(8 * 1024 ** 2);
    expect(byteSizeOf("15m")).toBeNull();
    expect(byteSizeOf("900")).toBeNull();
    expect(byteSizeOf("900", true)).toBe(900);
    expect(byteSizeOf("8m", true)).toBe(8e6);
    expect(byteSizeOf("lots", true)).toBeNull();
  });
});
