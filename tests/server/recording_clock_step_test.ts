/**
 * A `[[recording]]` due at 07:00 on a server whose wall clock is stepped on while it waits (NTP
 * at boot, on a host with no real-time clock, finds it an hour slow): the run starts when the
 * clock reads 07:00, not when the timer armed for the slow clock's hour fires. The schedules'
 * wall clock is stepped through `wallClock`; the run records a real UDP input to real files.
 * And a reload that comes as a run falls due, before its timer fires: the run still starts.
 */
import { expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "../../foundation/log.ts";
import { Recordings } from "../../server/recording/recordings.ts";
import { freeUdpPort } from "../helpers/ports.ts";

const HOUR = 3_600_000;

/**
 * Recordings on a wall clock that starts at `startsAt` and that `story` moves on (`step` adds ms
 * to it) and configures (a start or a reload), with a "morning" schedule at 07:00 recording a UDP port nothing sends to; checks that
 * the 07:00 run of 2026-06-01 ran, and that the next is the day after's.
 */
async function morningRun(startsAt: Date, story: (configure: () => void, step: (ms: number) => void) => Promise<void>) {
  const root = mkdtempSync(join(tmpdir(), "pacer-recording-step-"));
  let offset = startsAt.getTime() - Date.now();
  const recordings = new Recordings({ live: () => null, log: silentLogger, wallClock: () => Date.now() + offset });
  try {
    const port = await freeUdpPort();
    const config = [{ name: "morning", cron: "0 7 * * *", source: `udp://@127.0.0.1:${port}`, durationMs: 300, out: "morning-%H%M.ts" }];
    await story(
      () => recordings.configure(config, root),
      (ms) => (offset += ms),
    );
    const deadline = Date.now() + 4000;
    while (recordings.status()[0]!.last === null && Date.now() < deadline) await Bun.sleep(20);
    const [morning] = recordings.status();
    expect(morning!.last).toMatchObject({ trigger: "cron", state: "nothing" }); // it ran; nothing was sent to it
    expect(morning!.next).toBe(new Date(new Date(2026, 5, 2, 7, 0, 0).getTime()).toISOString());
  } finally {
    await recordings.close();
    rmSync(root, { recursive: true, force: true });
  }
}

test("a clock stepped on an hour while a 07:00 run waits: the run starts at 07:00 on the clock", async () => {
  // (Before, the timer armed at 06:00 for an hour on was still waiting: no run.)
  await morningRun(new Date(2026, 5, 1, 6, 0, 0), async (configure, step) => {
    configure();
    await Bun.sleep(50);
    step(HOUR - 1500); // NTP: it is 06:59:58.5
  });
});

test("a reload while a due run's timer has yet to fire (a busy loop fires it late) still starts that run", async () => {
  // Before, the reload planned from 07:00:00.05: the next run was tomorrow's, today's lost.
  await morningRun(new Date(2026, 5, 1, 6, 59, 59, 950), async (configure, step) => {
    configure();
    // The loop is held past 07:00 (the clock moves on), and a reload comes before the timer fires.
    step(100);
    configure();
  });
});
