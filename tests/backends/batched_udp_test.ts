/**
 * Batched sends (backends/net/send_batcher.ts): destinations of one local address share an
 * unconnected socket and sendmmsg, and an ICMP port-unreachable from one of them is counted for
 * that one only, read from the socket's error queue, while the others lose nothing.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import "../../backends/all.ts";
import type { Backend, BackendContext } from "../../backends/backend.ts";
import { batchTotals, sendMode } from "../../backends/net/send_batcher.ts";
import { udpBackend } from "../../backends/udp.ts";
import { createLogger } from "../../foundation/log.ts";
import { ManualClock } from "../../scheduler/clock.ts";
import { Scheduler } from "../../scheduler/scheduler.ts";
import { freeUdpPort } from "../helpers/ports.ts";
import { udpReceiver } from "../helpers/udp_receiver.ts";

const PASSES = 40;
const PER_PASS = 5;
const PASS_EVERY_US = 2_000;
const DATAGRAM = 1316;

const savedMode = process.env.PACER_SEND;
// These are the main thread's batched sends (batchTotals counts them): no sender threads.
const savedSenders = process.env.PACER_SENDERS;
beforeAll(() => void (process.env.PACER_SENDERS = "0"));
afterAll(() => {
  if (savedSenders === undefined) delete process.env.PACER_SENDERS;
  else process.env.PACER_SENDERS = savedSenders;
});
afterEach(() => {
  if (savedMode === undefined) delete process.env.PACER_SEND;
  else process.env.PACER_SEND = savedMode;
});

/** Every datagram carries its destination and sequence number in its first bytes. */
function datagram(destination: number, seq: number): Uint8Array {
  const d = new Uint8Array(DATAGRAM);
  new DataView(d.buffer).setUint32(0, destination);
  new DataView(d.buffer).setUint32(4, seq);
  return d;
}

/**
 * Sends PASSES × PER_PASS datagrams to each of `targets`, interleaved, PER_PASS at a time from
 * one send event every 2 ms, so each pass is one batch holding every destination.
 */
async function sendInterleaved(targets: string[]) {
  const lines: string[] = [];
  const log = createLogger({ level: "warn", write: (line) => lines.push(line) });
  const scheduler = new Scheduler();
  const ctx: BackendContext = { log, scheduler, fail: (e) => { throw e; } };
  const backends: Backend[] = [];
  for (const t of targets) backends.push(await udpBackend.create(t, { kind: "data" }, ctx));
  const before = batchTotals(scheduler);
  let pass = 0;
  const { promise: finished, resolve } = Promise.withResolvers<void>();
  const timing = { sendUs: 0, frame: 0, marker: false, dueUs: 0 };
  const tick = scheduler.timer("send", (timer) => {
    for (let k = 0; k < PER_PASS; k++) {
      const seq = pass * PER_PASS + k;
      backends.forEach((b, i) => b.send(datagram(i, seq), timing));
    }
    if (++pass < PASSES) scheduler.schedule(timer, timer.deadline + PASS_EVERY_US);
    else resolve();
  });
  scheduler.schedule(tick, scheduler.now() + 1_000);
  await finished;
  const totals = batchTotals(scheduler);
  await Bun.sleep(100);
  for (const b of backends) await b.close();
  return { backends, lines, calls: totals.calls - before.calls, sent: totals.sent - before.sent };
}

function sequences(packets: { data: Buffer }[], destination: number): number[] {
  return packets.filter((p) => p.data.readUInt32BE(0) === destination).map((p) => p.data.readUInt32BE(4));
}

const everySeq = Array.from({ length: PASSES * PER_PASS }, (_, i) => i);

describe("batched UDP sends", () => {
  test("uses sendmmsg on this host", () => {
    expect(sendMode()).toBe("batched");
  });

  for (const mode of ["batched", "socket"] as const) {
    test(`${mode}: a closed port between two open ones in the same batches: the open ports get every datagram once, in order, and only the closed one is refused`, async () => {
      process.env.PACER_SEND = mode;
      // Big receive buffers: this process sends too, and reads nothing while a late pass catches up.
      const a = await udpReceiver(0, { rcvbufBytes: 16 << 20 });
      const b = await udpReceiver(0, { rcvbufBytes: 16 << 20 });
      const closed = await freeUdpPort();
      try {
        const targets = [`udp://127.0.0.1:${a.port}`, `udp://127.0.0.1:${closed}`, `udp://127.0.0.1:${b.port}`];
        const { backends, lines, calls, sent } = await sendInterleaved(targets);
        await Bun.sleep(50);
        expect(sequences(a.packets, 0)).toEqual(everySeq);
        expect(sequences(b.packets, 2)).toEqual(everySeq);
        expect(a.packets.length).toBe(everySeq.length);
        expect(b.packets.length).toBe(everySeq.length);
        // The refusals are the closed destination's alone: counted, logged once, sending went on.
        expect(backends[1]!.counters.errors.refused ?? 0).toBeGreaterThan(0);
        expect(backends[0]!.counters.errors).toEqual({});
        expect(backends[2]!.counters.errors).toEqual({});
        expect([backends[0]!.counters.units, backends[2]!.counters.units]).toEqual([everySeq.length, everySeq.length]);
        const refusedLines = lines.filter((l) => l.includes("port unreachable"));
        expect(refusedLines).toHaveLength(1);
        expect(refusedLines[0]).toContain(`127.0.0.1:${closed}`);
        if (mode === "batched") {
          // Every datagram went out (refused ones too: the kernel cannot know before), in fewer
          // calls, though each refusal costs the message after it one retry.
          expect(sent).toBe(3 * everySeq.length);
          expect(calls).toBeLessThan(sent / 2);
        }
      } finally {
        a.close();
        b.close();
      }
    });
  }

  test("batched: with every port open, each pass's datagrams to all destinations leave in one sendmmsg", async () => {
    process.env.PACER_SEND = "batched";
    const receivers = await Promise.all([0, 1, 2].map(() => udpReceiver(0, { rcvbufBytes: 16 << 20 })));
    try {
      const { calls, sent } = await sendInterleaved(receivers.map((r) => `udp://127.0.0.1:${r.port}`));
      await Bun.sleep(50);
      receivers.forEach((r, i) => expect(sequences(r.packets, i)).toEqual(everySeq));
      expect(sent).toBe(3 * everySeq.length);
      expect(calls).toBeLessThanOrEqual(PASSES); // a late pass may carry two passes at once
    } finally {
      for (const r of receivers) r.close();
    }
  });

  test("batched: IPv6 destinations get their own socket and the same per-destination errors", async () => {
    process.env.PACER_SEND = "batched";
    const packets: Buffer[] = [];
    let socket: import("bun").udp.Socket<"buffer">;
    try {
      socket = await Bun.udpSocket({ hostname: "::1", port: 0, socket: { data: (_s, d) => void packets.push(Buffer.from(d)), error() {} } });
    } catch {
      console.warn("no IPv6 loopback here: skipped");
      return;
    }
    const closedSocket = await Bun.udpSocket({ hostname: "::1", port: 0 });
    const closed = closedSocket.port;
    closedSocket.close();
    try {
      const { backends } = await sendInterleaved([`udp://[::1]:${socket.port}`, `udp://[::1]:${closed}`]);
      await Bun.sleep(50);
      expect(packets.map((p) => p.readUInt32BE(4))).toEqual(everySeq);
      expect(backends[0]!.counters.errors).toEqual({});
      expect(backends[1]!.counters.errors.refused ?? 0).toBeGreaterThan(0);
    } finally {
      socket.close();
    }
  });
});

describe("the scheduler's batch hook", () => {
  test("flushes after each pass and before any other kind of event; a manual clock fires nothing early", () => {
    const clock = new ManualClock();
    const scheduler = new Scheduler(clock);
    const seen: string[] = [];
    scheduler.batchSends(50, () => seen.push("flush"));
    const send = (name: string) => scheduler.timer("send", (_t, now) => seen.push(`${name}@${now}`));
    scheduler.schedule(send("a"), 1_000);
    scheduler.schedule(scheduler.timer("load", (_t, now) => seen.push(`load@${now}`)), 1_000);
    scheduler.schedule(send("b"), 1_000);
    scheduler.schedule(send("c"), 1_020);
    scheduler.runUntil(1_020);
    expect(seen.filter((s, i) => !(s === "flush" && seen[i - 1] === "flush"))).toEqual(["a@1000", "flush", "load@1000", "b@1000", "flush", "c@1020", "flush"]);
    scheduler.batchSends(0, null);
  });
});
