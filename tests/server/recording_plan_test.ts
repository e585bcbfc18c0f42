/**
 * The scheduling decisions of server recordings, on a manual clock (unix µs): the next run from a
 * cron pattern with seconds, a run overlapping the previous one skipped, early timers ignored,
 * and paths kept under the recording root.
 */
import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RecordingFile } from "../../recorder/output_file.ts";
import { ManualClock, US_PER_MS, US_PER_S } from "../../scheduler/clock.ts";
import { outPatternError, patternUnderRoot } from "../../server/recording/out_path.ts";
import { RecordingPlan } from "../../server/recording/schedule.ts";
import { ConfigError, parseConfig } from "../../server/config.ts";

const START_MS = Date.UTC(2026, 0, 5, 19, 59, 58); // a Monday
const ms = (clock: ManualClock) => clock.now() / US_PER_MS;

describe("a recording plan", () => {
  test("finds the next run of a weekday cron in its time zone", () => {
    const plan = new RecordingPlan("0 20 * * 1-5", START_MS, "UTC");
    expect(new Date(plan.nextMs!).toISOString()).toBe("2026-01-05T20:00:00.000Z");
    // Friday 20:00 is followed by Monday's.
    expect(new Date(plan.after(Date.UTC(2026, 0, 9, 20, 0, 0))!).toISOString()).toBe("2026-01-12T20:00:00.000Z");
  });

  test("a daily 02:30 runs once on the nights the clocks change, as Vixie cron does: at 03:00 where 02:30 is skipped, at the first where it comes twice", () => {
    const runs = (from: string, count: number) => {
      const plan = new RecordingPlan("30 2 * * *", Date.parse(from), "Europe/Berlin");
      const at = [plan.nextMs!];
      while (at.length < count) at.push(plan.after(at.at(-1)!)!);
      return at.map((ms) => new Date(ms).toISOString());
    };
    // 29 March 2026: 02:00 CET is 03:00 CEST. 25 October: 03:00 CEST is 02:00 CET again.
    expect(runs("2026-03-28T12:00:00Z", 2)).toEqual(["2026-03-29T01:00:00.000Z", "2026-03-30T00:30:00.000Z"]);
    expect(runs("2026-10-24T12:00:00Z", 2)).toEqual(["2026-10-25T00:30:00.000Z", "2026-10-26T01:30:00.000Z"]);
    // Armed in the hour that comes twice (a restart, a reload), after the first 02:30: not again that night.
    expect(runs("2026-10-25T01:10:00Z", 1)).toEqual(["2026-10-26T01:30:00.000Z"]);
  });

  test("the shortest time between runs, over uneven gaps", () => {
    expect(new RecordingPlan("*/3 * * * * *", START_MS, "UTC").shortestGapMs(START_MS, 16)).toBe(3000);
    // 09:00 and 10:00 each day: gaps of 1 h and 23 h.
    expect(new RecordingPlan("0 9,10 * * *", START_MS, "UTC").shortestGapMs(START_MS, 16)).toBe(3600_000);
    // 30 February never comes: no gap at all.
    expect(new RecordingPlan("0 0 1 1 *", START_MS, "UTC").shortestGapMs(START_MS, 1)).toBe(Infinity);
  });

  test("every 3 s: starts when due, skips a run while the previous one still goes, never fires early", () => {
    const clock = new ManualClock(START_MS * US_PER_MS);
    const plan = new RecordingPlan("*/3 * * * * *", ms(clock), "UTC");
    const first = plan.nextMs!;
    expect(first - ms(clock)).toBeLessThanOrEqual(3000);
    expect(plan.fire(first - 1, false)).toBe("early");
    expect(plan.nextMs).toBe(first);
    clock.set(first * US_PER_MS);
    expect(plan.fire(ms(clock), false)).toBe("start");
    expect(plan.nextMs).toBe(first + 3000);
    // The run takes 4 s: the next one falls due while it goes, and is skipped.
    clock.advance(3 * US_PER_S);
    expect(plan.fire(ms(clock), true)).toBe("skip");
    expect(plan.nextMs).toBe(first + 6000);
    clock.advance(3 * US_PER_S);
    expect(plan.fire(ms(clock), false)).toBe("start");
  });

  test("a late timer runs once, not once per missed slot", () => {
    const clock = new ManualClock(START_MS * US_PER_MS);
    const plan = new RecordingPlan("*/3 * * * * *", ms(clock), "UTC");
    clock.set((plan.nextMs! + 10_000) * US_PER_MS);
    expect(plan.fire(ms(clock), false)).toBe("start");
    expect(plan.nextMs!).toBeGreaterThan(ms(clock));
    expect(plan.fire(ms(clock), false)).toBe("early");
  });

  test("a run found due after its whole duration (the host was suspended) is missed, not started hours late", () => {
    const plan = new RecordingPlan("0 21 * * *", START_MS, "UTC");
    const due = plan.nextMs!;
    const hour = 3600_000;
    // Woken at 23:50 for the 21:00 run of an hour: it had started then, for an hour.
    expect(plan.fire(due + 2 * hour + 50 * 60_000, false, hour)).toBe("missed");
    expect(new Date(plan.nextMs!).toISOString()).toBe("2026-01-06T21:00:00.000Z");
    // Late by less than its duration (a busy server, a short suspend): started, as before.
    expect(plan.fire(plan.nextMs! + 10 * 60_000, false, hour)).toBe("start");
    // Hourly runs of 30 min, the clock stepped on an hour: at 22:00 the 21:00 run is over, but 22:00's is due now.
    const hourly = new RecordingPlan("0 * * * *", Date.UTC(2026, 0, 5, 20, 30), "UTC");
    expect(hourly.fire(Date.UTC(2026, 0, 5, 22, 0, 0, 5), false, hour / 2)).toBe("start");
    expect(new Date(hourly.nextMs!).toISOString()).toBe("2026-01-05T23:00:00.000Z");
    // A run every second, of 5 s, after a 3 h suspend: one fell due 0.5 s ago, so it starts (a
    // search back capped at 8,640 runs had measured from 2.4 h back and said "missed").
    const everySecond = new RecordingPlan("* * * * * *", START_MS, "UTC");
    expect(everySecond.fire(everySecond.nextMs! + 3 * hour + 500, false, 5_000)).toBe("start");
  });
});

describe("recording paths", () => {
  test("are patterns relative to the root, without ..", () => {
    expect(outPatternError("news/%Y%m%d-%H%M.ts")).toBeNull();
    expect(outPatternError("/etc/x.ts")).toContain("relative to recording_root");
    expect(outPatternError("news/../../x.ts")).toContain("..");
    expect(outPatternError("news/%Q.ts")).toContain("unknown field %Q");
    // A folder, not a file: "." was refused only later, as "outside recording_root (a symlink?)".
    for (const folder of ["news/", ".", "news/."]) expect(outPatternError(folder)).toContain("expected a file name at the end");
  });

  test("resolve under the root, and a symlink out of it is refused", () => {
    const root = mkdtempSync(join(tmpdir(), "pacer-recroot-"));
    try {
      expect(patternUnderRoot(root, "a/%H.ts")).toBe(join(root, "a/%H.ts"));
      symlinkSync(tmpdir(), join(root, "escape"));
      expect(() => patternUnderRoot(root, "escape/x/%H.ts")).toThrow("outside recording_root");
      mkdirSync(join(root, "b"));
      expect(patternUnderRoot(root, "b/%H.ts")).toBe(join(root, "b/%H.ts"));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  test("a folder named by a field (%Y/) that is a symlink out is refused when the file is made, and nothing is left outside", () => {
    const root = mkdtempSync(join(tmpdir(), "pacer-rec-root-"));
    const outside = mkdtempSync(join(tmpdir(), "pacer-rec-out-"));
    try {
      mkdirSync(join(root, "d"));
      symlinkSync(outside, join(root, "d", "2026"));
      // The fixed folder (d/) is inside, so the pattern passes; the date's folder is the way out.
      expect(patternUnderRoot(root, "d/%Y/%H%M%S.ts")).toBe(join(root, "d/%Y/%H%M%S.ts"));
      expect(() => RecordingFile.create(join(root, "d/2026/x.ts"), { root })).toThrow("resolves outside the recording root");
      expect(readdirSync(outside)).toEqual([]);
      const inside = RecordingFile.create(join(root, "d/2027/x.ts"), { root });
      inside.close();
      expect(readdirSync(join(root, "d/2027"))).toEqual(["x.ts"]);
    } finally {
      rmSync(root, { recursive: true, force: true });
      rmSync(outside, { recursive: true, force: true });
    }
  });

  test("the config refuses a recording that would leave the root, or a bad cron, in one line", () => {
    const base = '[[live]]\nname = "news"\ninput = "udp://@127.0.0.1:5000"\n[[recording]]\nname = "r"\nsource = "live:news"\nduration = "2m"\n';
    expect(() => parseConfig(base + 'out = "../x.ts"\n', "t")).toThrow(ConfigError);
    expect(() => parseConfig(base + 'out = "/tmp/x.ts"\n', "t")).toThrow("recording[0].out");
    expect(() => parseConfig(base + 'out = "x.ts"\ncron = "not a cron"\n', "t")).toThrow('recording[0].cron: "not a cron" has 3 fields; give five');
    // croner would take a seventh (year) field; the README says five or six, and so does the check.
    expect(() => parseConfig(base + 'out = "x.ts"\ncron = "0 0 20 * * 1-5 2027"\n', "t")).toThrow("has 7 fields; give five (minute hour day month weekday), or six with seconds first");
    // A date that never comes was taken, and the schedule never ran, its status "next -".
    expect(() => parseConfig(base + 'out = "x.ts"\ncron = "0 6 30 2 *"\n', "t")).toThrow('recording[0].cron: "0 6 30 2 *" never falls due (no such date?)');
    expect(() => parseConfig(base.replace("live:news", "live:other") + 'out = "x.ts"\n', "t")).toThrow('no [[live]] channel named "other"');
    const config = parseConfig(base + 'out = "news/%F.ts"\ncron = "0 20 * * 1-5"\n', "t");
    expect(config.recordingRoot).toBe("./recordings");
    expect(config.recordings[0]).toEqual({ name: "r", source: "live:news", out: "news/%F.ts", cron: "0 20 * * 1-5", durationMs: 120_000 });
  });

  test("rotate, stagger, keep, part and format are pacer record's options, checked the same way", () => {
    const base = '[[live]]\nname = "news"\ninput = "udp://@127.0.0.1:5000"\n[[recording]]\nname = "r"\nsource = "live:news"\nout = "news/%Y%m%d-%H%M.wav"\n';
    const config = parseConfig(base + 'rotate = "15m"\nstagger = "30s"\nkeep = 96\npart = true\nformat = "s16be:48000:2"\n', "t");
    expect(config.recordings[0]).toMatchObject({ rotateEveryMs: 900_000, staggerMs: 30_000, keep: 96, part: true, format: { encoding: "s16be", rate: 48_000, channels: 2 } });
    expect(parseConfig(base + 'rotate = "2GB"\n', "t").recordings[0]!.rotateBytes).toBe(2_000_000_000);
    expect(() => parseConfig(base + 'rotate = "1KB"\n', "t")).toThrow('recording[0].rotate: rotate "1KB": at least 64KiB');
    expect(() => parseConfig(base + 'rotate = "soon"\n', "t")).toThrow("recording[0].rotate");
    expect(() => parseConfig(base + "keep = 0\n", "t")).toThrow("recording[0].keep");
    expect(() => parseConfig(base.replace("news/%Y%m%d-%H%M.wav", "%Y/%m%d.ts") + "keep = 3\n", "t")).toThrow(
      "recording[0].keep: keep needs the pattern's strftime fields in the file name",
    );
    expect(() => parseConfig(base + 'format = "s16le:0:2"\n', "t")).toThrow("recording[0].format");
  });
});
