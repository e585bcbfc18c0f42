/**
 * Fault: the wall clock is stepped an hour either way (NTP after a bad boot, an operator) while
 * the server runs. Pacing is on the monotonic clock; the control endpoint judges freshness by the
 * wall clock, and says so once in a warning. Intervals (rate limit, dedup window) run on the
 * monotonic clock, so a step back does not freeze a client's rate for an hour. And a signed
 * request captured an hour before a step back, which the stepped clock would call fresh, stays
 * refused: nothing older than the newest accepted signed request by 60 s is taken.
 * The clocks are injected; this machine's clock is never stepped.
 */
import { describe, expect, test } from "bun:test";
import { createLogger } from "../../foundation/log.ts";
import { type ControlRequest, encodeRequest, okReply } from "../../protocol/control.ts";
import { ControlEndpoint } from "../../server/control_server.ts";

const KEY = new Uint8Array(32).fill(7);
const HOUR = 3_600_000;
const REAL_START = 1_750_000_000_000;

function rig(limits = { requestsPerSecond: 50, requestBurst: 100 }) {
  let mono = 1_000;
  let wallOffset = REAL_START - mono; // wall = mono + offset; a step changes the offset
  const warnings: string[] = [];
  const executed: string[] = [];
  const replies: Uint8Array[] = [];
  const log = createLogger({ level: "warn", write: (line) => warnings.push(line) });
  const endpoint = new ControlEndpoint({
    ops: { run: (req: ControlRequest) => (executed.push(req.id), okReply(req.id, { done: true })) },
    log,
    key: KEY,
    limits,
    nowMs: () => mono + wallOffset,
    monoMs: () => mono,
  });
  return {
    endpoint,
    warnings,
    executed,
    replies,
    /** Real time passes on both clocks. */
    pass(ms: number) {
      mono += ms;
    },
    step(ms: number) {
      wallOffset += ms;
    },
    /** Real (unstepped) time: what a client with a good clock writes in `ts`. */
    real: () => mono + REAL_START - 1_000,
    async send(bytes: Uint8Array, port = 4000) {
      await endpoint.receive(bytes, "127.0.0.1", port, (reply) => replies.push(reply));
    },
  };
}

const signed = (id: string, ts: number) => encodeRequest({ v: 1, id, ts, op: "ping", args: {} }, KEY);

describe("the wall clock stepped an hour", () => {
  test("forward: clients that did not step are stale (signed: dropped), with one warning; pacing is not involved", async () => {
    const r = rig();
    await r.send(signed("before", r.real()));
    expect(r.executed).toEqual(["before"]);
    r.step(HOUR);
    r.pass(1000);
    await r.send(signed("after-1", r.real()));
    await r.send(signed("after-2", r.real()));
    expect(r.executed).toEqual(["before"]);
    expect(r.endpoint.counters.dropped.stale).toBe(2);
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toContain("the wall clock stepped forward by 3600 s");
    expect(r.warnings[0]).toContain("pacing runs on the monotonic clock");
    // Once the clock is put right, the same clients are served again.
    r.step(-HOUR);
    r.pass(1000);
    await r.send(signed("fixed", r.real()));
    expect(r.executed).toEqual(["before", "fixed"]);
  });

  test("back: a signed request captured an hour earlier, fresh by the stepped clock, is still refused", async () => {
    const r = rig();
    const capturedAt = r.real();
    const captured = signed("transfer", capturedAt);
    await r.send(captured);
    expect(r.executed).toEqual(["transfer"]);
    // An hour of normal use: the dedup window (monotonic) has long forgotten the capture.
    for (let i = 0; i < 60; i++) {
      r.pass(60_000);
      await r.send(signed(`use-${i}`, r.real()));
    }
    expect(r.executed).toHaveLength(61);
    // The clock steps back an hour: the capture's ts is now within 30 s of the server's clock.
    r.step(-HOUR);
    r.pass(100);
    expect(r.endpoint.counters.dropped.stale).toBe(0);
    await r.send(captured, 5000);
    expect(r.executed).toHaveLength(61);
    expect(r.endpoint.counters.dropped.stale).toBe(1);
    expect(r.warnings.some((w) => w.includes("the wall clock stepped back by"))).toBe(true);
  });

  test("back: the rate limit keeps refilling on the monotonic clock (a client is not frozen for an hour)", async () => {
    const r = rig({ requestsPerSecond: 10, requestBurst: 5 });
    for (let i = 0; i < 8; i++) await r.send(signed(`burst-${i}`, r.real()));
    expect(r.executed).toHaveLength(5);
    expect(r.endpoint.counters.rate_limited).toBe(3);
    r.step(-HOUR);
    r.pass(1000); // a second of real time: 10 tokens, up to the burst of 5
    // Signed by a client that stepped with the server (fresh by its clock; refused after the rate
    // check by the signed-ts floor, being an hour older than requests already accepted).
    for (let i = 0; i < 5; i++) await r.send(signed(`later-${i}`, r.real() - HOUR));
    expect(r.endpoint.counters.rate_limited).toBe(3);
    expect(r.endpoint.counters.dropped.stale).toBe(5);
    expect(r.warnings[0]).toContain("refused until clients' clocks pass it (or the server restarts)");
  });
});
