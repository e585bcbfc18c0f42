/**
 * The descriptor watch (server/descriptor_watch.ts) on a room the test sets: listeners close
 * below 8 free, once, said once; open at 16, not between (no flapping at the edge); one that
 * cannot listen again is said once and tried at each look, and closed again with the others if
 * descriptors run short before it could. The real limit, a real listener and a connection
 * waiting on it are tests/fault/descriptor_limit_listeners_test.ts.
 */
import { expect, test } from "bun:test";
import { createLogger } from "../../foundation/log.ts";
import { DescriptorWatch, type PausableListener } from "../../server/descriptor_watch.ts";

function listener(label: string, resumeFails = () => false) {
  const calls: string[] = [];
  const it: PausableListener = {
    label,
    pause: () => void calls.push("pause"),
    resume: () => {
      calls.push("resume");
      if (resumeFails()) throw new Error("Failed to listen at 127.0.0.1:9090 (EADDRINUSE)");
    },
  };
  return { it, calls };
}

test("closes below 8 free and opens at 16; one that cannot listen again is said once and tried again", async () => {
  const lines: string[] = [];
  let free = 100;
  let taken = true;
  const http = listener("HTTP 127.0.0.1:9090", () => taken);
  const live = listener('live "cam1" 0.0.0.0:5000');
  const watch = new DescriptorWatch([http.it, live.it], createLogger({ level: "info", write: (line) => lines.push(line) }), () => ({ free, limit: 1024 }));

  await watch.look();
  expect(watch.paused).toBe(false);
  free = 7;
  await watch.look();
  await watch.look();
  expect([http.calls, live.calls]).toEqual([["pause"], ["pause"]]);
  expect(lines).toHaveLength(1);
  expect(lines[0]).toContain('7 descriptors free of 1024 (LimitNOFILE, ulimit -n): listeners closed (HTTP 127.0.0.1:9090, live "cam1" 0.0.0.0:5000) until 16 are');

  free = 15; // between the two: stays closed
  await watch.look();
  expect(live.calls).toEqual(["pause"]);

  free = 16; // the HTTP port was taken meanwhile: live opens, HTTP is said once and tried at each look
  await watch.look();
  await watch.look();
  expect(live.calls).toEqual(["pause", "resume"]);
  expect(http.calls).toEqual(["pause", "resume", "resume"]);
  expect(lines.filter((l) => l.includes("HTTP 127.0.0.1:9090: cannot listen again (Failed to listen at 127.0.0.1:9090 (EADDRINUSE)); trying again every 500 ms"))).toHaveLength(1);
  expect(watch.paused).toBe(true);

  free = 3; // short again before HTTP could listen: the live listener, open again, closes
  await watch.look();
  expect(live.calls).toEqual(["pause", "resume", "pause"]);
  expect(http.calls).toEqual(["pause", "resume", "resume"]);
  expect(lines.at(-1)).toContain('listeners closed (live "cam1" 0.0.0.0:5000)');

  free = 40;
  taken = false;
  await watch.look();
  expect(watch.paused).toBe(false);
  expect(lines.at(-1)).toContain("40 descriptors free again: listeners open");
});
