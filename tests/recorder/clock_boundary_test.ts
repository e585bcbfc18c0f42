/**
 * Rotation on the clock across a DST change: the daily file is cut at local midnight, as on any
 * other night. Before, the boundary took the UTC offset of the moment it was worked out, and the
 * file of the spring night ran to 01:00, that of the autumn night to 23:00. `--until HH:MM` is a
 * daily boundary too. Worked out in a real subprocess in Europe/Berlin (the time zone is the
 * process's).
 */
import { expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..", "..");
const DAY = 86_400_000;
const HOUR = 3_600_000;

/** `call` (an expression of `now` and the case's `args`) for each case, in time zone `tz`, as ISO times. */
function instantsIn(tz: string, imports: string, call: string, cases: [string, ...unknown[]][]): string[] {
  const script = `${imports}
for (const [now, ...args] of ${JSON.stringify(cases)}) console.log(new Date(${call}).toISOString());`;
  const run = spawnSync(process.execPath, ["-e", script], { env: { ...process.env, TZ: tz }, encoding: "utf8" });
  expect(run.stderr).toBe("");
  return run.stdout.trim().split("\n");
}

/** clockBoundaryAfter(now, every, stagger) for each case, in time zone `tz`, as ISO times. */
const boundariesIn = (tz: string, cases: [string, number, number][]) =>
  instantsIn(tz, `import { clockBoundaryAfter } from ${JSON.stringify(join(ROOT, "recorder", "clock_boundary.ts"))};`, "clockBoundaryAfter(Date.parse(now), args[0], args[1])", cases);

test("a daily rotation is cut at local midnight on the nights the clocks change, and hourly ones keep the hour", () => {
  expect(
    boundariesIn("Europe/Berlin", [
      ["2026-03-28T23:00:30Z", DAY, 0], // Sunday 00:00:30 CET: the clocks go forward at 02:00
      ["2026-10-24T22:00:30Z", DAY, 0], // Sunday 00:00:30 CEST: the clocks go back at 03:00
      ["2026-10-24T22:00:30Z", DAY, 20_000], // the same, 20 s staggered
      ["2026-03-29T00:59:00Z", HOUR, 0], // 01:59 CET: 02:00 never comes, 03:00 CEST does
      ["2026-06-01T10:20:00Z", HOUR, 0],
    ]),
  ).toEqual([
    "2026-03-29T22:00:00.000Z", // Monday 00:00 CEST (was 23:00Z: 01:00)
    "2026-10-25T23:00:00.000Z", // Monday 00:00 CET (was 22:00Z: Sunday 23:00)
    "2026-10-25T23:00:20.000Z",
    "2026-03-29T01:00:00.000Z",
    "2026-06-01T11:00:00.000Z",
  ]);
});

test("an hourly rotation cuts the hour the autumn night reads twice twice, so no file runs two hours", () => {
  // Europe/Berlin, 2026-10-25: at 03:00 CEST (01:00Z) the clocks go back to 02:00 CET.
  expect(
    boundariesIn("Europe/Berlin", [
      ["2026-10-25T00:00:00Z", HOUR, 0], // 02:00 CEST: the first 02:00 file begins
      ["2026-10-25T00:40:00Z", 30 * 60_000, 0], // 02:40 CEST, half-hourly
      ["2026-10-25T01:10:00Z", HOUR, 0], // 02:10 CET, the second time round
      ["2026-10-25T00:10:00Z", HOUR, 20 * 60_000], // 02:10 CEST, 20 minutes staggered
      ["2026-03-29T00:40:00Z", HOUR, 30 * 60_000], // 01:40 CET: 02:30 never comes
    ]),
  ).toEqual([
    "2026-10-25T01:00:00.000Z", // 02:00 CET (was 02:00Z: 03:00 CET, a file of two hours)
    "2026-10-25T01:00:00.000Z", // 02:00 CET (was 02:00Z: 03:00 CET)
    "2026-10-25T02:00:00.000Z", // 03:00 CET
    "2026-10-25T00:20:00.000Z", // 02:20 CEST, then 02:20 CET:
    "2026-03-29T01:30:00.000Z", // 03:30 CEST, an hour after 01:30 as on any night
  ]);
  expect(boundariesIn("Europe/Berlin", [["2026-10-25T00:20:00Z", HOUR, 20 * 60_000]])).toEqual(["2026-10-25T01:20:00.000Z"]);
  // America/Santiago goes back at midnight (00:00 -03 is 23:00 -04): 23:00 comes twice, midnight once.
  expect(
    boundariesIn("America/Santiago", [
      ["2026-04-04T03:00:00Z", DAY, 0],
      ["2026-04-05T02:00:00Z", HOUR, 0],
    ]),
  ).toEqual(["2026-04-05T04:00:00.000Z", "2026-04-05T03:00:00.000Z"]);
});

test("--until HH:MM on the nights the clocks change is the next time the clock reads it", () => {
  const untilIn = (tz: string, cases: [string, string][]) =>
    instantsIn(tz, `import { nextLocalTime } from ${JSON.stringify(join(ROOT, "cli", "record.ts"))};`, "nextLocalTime(args[0], Date.parse(now))", cases);
  expect(
    untilIn("Europe/Berlin", [
      ["2026-10-25T01:10:00Z", "02:30"], // 02:10 CET, the second time round: twenty minutes on
      ["2026-10-25T00:10:00Z", "02:30"], // 02:10 CEST: the first 02:30
      ["2026-03-29T01:10:00Z", "02:30"], // 03:10 CEST: today's 02:30 was skipped, so tomorrow's
      ["2026-03-29T00:45:00Z", "02:30"], // 01:45 CET: an hour after 01:30, as a rotation cuts
      ["2026-12-31T22:59:59.500Z", "00:00"], // half a second before the new year
      ["2026-12-31T23:00:00Z", "00:00"], // exactly then: a day on
    ]),
  ).toEqual([
    "2026-10-25T01:30:00.000Z", // (was 2026-10-26T01:30Z, a day on)
    "2026-10-25T00:30:00.000Z",
    "2026-03-30T00:30:00.000Z", // (was 03:30 CEST the same morning, twenty minutes on)
    "2026-03-29T01:30:00.000Z",
    "2026-12-31T23:00:00.000Z",
    "2027-01-01T23:00:00.000Z",
  ]);
});

test("a period that does not divide the day counts from each local midnight", () => {
  expect(
    boundariesIn("America/New_York", [
      ["2026-06-01T12:00:00Z", 7 * HOUR, 0], // 08:00 EDT
      ["2026-06-02T02:00:00Z", 7 * HOUR, 0], // 22:00 EDT: the day's last file ends at midnight
      ["2026-06-02T04:10:00Z", 25 * 60_000, 0], // 00:10 EDT, every 25 minutes
    ]),
  ).toEqual([
    "2026-06-01T18:00:00.000Z", // 14:00 EDT (was 13:00Z: 09:00, counted from 1970)
    "2026-06-02T04:00:00.000Z", // 00:00 EDT (was 03:00Z: 23:00)
    "2026-06-02T04:25:00.000Z", // 00:25 EDT
  ]);
});
