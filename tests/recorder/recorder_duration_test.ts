/**
 * A recording's `--duration` is a length, timed on the monotonic clock: a wall clock stepped an
 * hour on (NTP at a VM's resume) does not end a 1.5 s recording at once, and one stepped back
 * does not stretch it. `--until`, a time of day, stays on the wall clock.
 */
import { afterEach, expect, setSystemTime, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { silentLogger } from "../../foundation/log.ts";
import { patPackets } from "../helpers/mpeg_fixtures.ts";
import { Recorder } from "../../recorder/recorder.ts";
import { streamSource } from "../../sources/stream_source.ts";

afterEach(() => void setSystemTime());

test.each([
  ["an hour on", 3_600_000],
  ["an hour back", -3_600_000],
])("a 1.5 s recording lasts 1.5 s when the wall clock is stepped %s during it", async (_name, stepMs) => {
  const dir = mkdtempSync(join(tmpdir(), "pacer-duration-"));
  try {
    const input = new PassThrough();
    const startedAt = performance.now();
    const recorder = new Recorder(streamSource("test input", input), {
      pattern: join(dir, "x.ts"),
      kind: "ts",
      endAtMonotonicMs: startedAt + 1_500,
      syncEveryMs: 1000,
      log: silentLogger,
    });
    const feed = setInterval(() => input.write(patPackets(7, 0)), 20);
    await Bun.sleep(300);
    setSystemTime(new Date(Date.now() + stepMs));
    await recorder.done;
    clearInterval(feed);
    const lastedMs = performance.now() - startedAt;
    // Before: stepped on, it ended at once (0.3 s); stepped back, it would have run an hour.
    expect(lastedMs).toBeGreaterThan(1_400);
    expect(lastedMs).toBeLessThan(3_000);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
