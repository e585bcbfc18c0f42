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

  test("clock times: the first field may run on (90:00 is 90 minutes); the ones after a colon stop at 59", () => {
    expect(parseSeconds("01:30", "--start")).toBe(90);
    expect(parseSeconds("90:00", "--start")).toBe(5_400);
    expect(parseSeconds("1:02:03.5", "--start")).toBe(3_723.5);
    expect(() => parseSeconds("1:99", "--start")).toThrow(/^--start "1:99": minutes and seconds after a colon go up to 59/);
    expect(() => parseSeconds("1:60:00", "--duration")).toThrow(UsageError);
    expect(() => parseSeconds("0:59.9999", "--start")).not.toThrow();
  });
});
