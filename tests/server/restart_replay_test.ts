/**
 * A signed request captured from the wire and resent after the server restarts: the new server's
 * dedup cache is empty, and the copy is fresh by its `ts` (within 30 s), so it ran again (a
 * `stop`, a `play`). A signed request from before the server's start is now stale there (dropped
 * and counted, as a signed stale request is); its sender resends with a fresh `ts`, as `pacer ctl`
 * does, and that runs. The clocks are injected.
 */
import { expect, test } from "bun:test";
import { createLogger } from "../../foundation/log.ts";
import { type ControlRequest, encodeRequest, okReply } from "../../protocol/control.ts";
import { ControlEndpoint } from "../../server/control_server.ts";

const KEY = new Uint8Array(32).fill(9);
const T0 = 1_780_000_000_000;

function server(startedAt: number) {
  let now = startedAt;
  const executed: string[] = [];
  const endpoint = new ControlEndpoint({
    ops: { run: (req: ControlRequest) => (executed.push(req.id), okReply(req.id, { stopped: true })) },
    log: createLogger({ level: "error", write: () => {} }),
    key: KEY,
    limits: { requestsPerSecond: 50, requestBurst: 100 },
    nowMs: () => now,
    monoMs: () => now - startedAt + 1_000,
  });
  return {
    endpoint,
    executed,
    pass: (ms: number) => void (now += ms),
    send: (bytes: Uint8Array) => endpoint.receive(bytes, "127.0.0.1", 4000, () => {}),
  };
}

test("a signed request from before a restart does not run again on the new server; a fresh one does", async () => {
  const stop = encodeRequest({ v: 1, id: "stop-1", ts: T0, op: "stop", args: { job: "j1" } }, KEY);
  const first = server(T0 - 60_000);
  first.pass(60_000);
  await first.send(stop);
  expect(first.executed).toEqual(["stop-1"]);

  // Restarted 5 s later; the capture is resent 2 s after that, 7 s after it was signed.
  const second = server(T0 + 5_000);
  second.pass(2_000);
  await second.send(stop);
  expect(second.executed).toEqual([]);
  expect(second.endpoint.counters.dropped.stale).toBe(1);

  // The client's own retry carries a fresh ts (and so a fresh MAC), and runs.
  await second.send(encodeRequest({ v: 1, id: "stop-1", ts: T0 + 7_000, op: "stop", args: { job: "j1" } }, KEY));
  expect(second.executed).toEqual(["stop-1"]);
});
