/**
 * The server's stall watch (server/stall_watch.ts) tells who held the loop: here the test's own
 * busy work, for 300 ms, on the loop the watch runs on (the host holding the process, SIGSTOP, is
 * tests/fault/server_stall_test.ts). Before, any stall was put down to the host.
 */
import { expect, test } from "bun:test";
import { createLogger } from "../../foundation/log.ts";
import { StallWatch } from "../../server/stall_watch.ts";

test("a loop held by the process's own work is said to be, with its CPU time, and counted", async () => {
  const lines: string[] = [];
  const watch = new StallWatch(createLogger({ level: "info", write: (line) => lines.push(line) }));
  watch.start();
  try {
    await Bun.sleep(120);
    const until = performance.now() + 300;
    while (performance.now() < until) {} // the loop held, the CPU busy
    await Bun.sleep(120);
  } finally {
    watch.stop();
  }
  const own = lines.filter((l) => /the server did not run for (0\.[2-9]|[1-9]\.\d) s \(its own work held its loop \(\d\.\d s of CPU meanwhile\)\)/.test(l));
  expect(own, lines.join("")).toHaveLength(1);
  expect(watch.count).toBe(lines.length);
  expect(watch.stalledMs).toBeGreaterThanOrEqual(200);
});
