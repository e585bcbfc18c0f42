/**
 * A stream's bytes cross to a sender thread in place (backends/net/senders/): the main thread
 * hands over a header and a reference into the job's shared read-ahead buffer, and the thread
 * reads the bytes from there when the datagram is due. Story: an rtp:// and a udp:// output on a
 * sender thread send units that lie in a shared buffer; a receiver gets them whole, in order,
 * with the RTP headers the main thread wrote, also a unit that runs over the buffer's end; a unit
 * in a buffer the thread was never given is copied over instead; and when the buffer has moved on
 * before the thread got to a datagram (a thread too far behind), that datagram is dropped and
 * counted, never sent torn.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import "../../../backends/all.ts";
import type { Backend, BackendContext } from "../../../backends/backend.ts";
import { rtpBackend } from "../../../backends/rtp/rtp.ts";
import { handOverTotals } from "../../../backends/net/senders/pool.ts";
import { udpBackend } from "../../../backends/udp.ts";
import { createLogger } from "../../../foundation/log.ts";
import { SharedBytes } from "../../../foundation/shared_bytes.ts";
import { Scheduler } from "../../../scheduler/scheduler.ts";
import { Job } from "../../../pipeline/job.ts";
import { openInput } from "../../../sources/open_input.ts";
import { makeCbrTs, makeTempDir } from "../../helpers/mpeg_fixtures.ts";
import { udpReceiver } from "../../helpers/udp_receiver.ts";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

const UNIT = 1316;
const saved = process.env.PACER_SENDERS;
beforeAll(() => void (process.env.PACER_SENDERS = "1"));
afterAll(() => {
  if (saved === undefined) delete process.env.PACER_SENDERS;
  else process.env.PACER_SENDERS = saved;
});

/** A shared buffer of `units` units, each filled with its own index (the last one's end spills over to the start when `spill`). */
function media(units: number, spill = 0): SharedBytes {
  const shared = new SharedBytes(units * UNIT - spill);
  for (let i = 0; i < units; i++) {
    for (let b = i * UNIT; b < (i + 1) * UNIT; b++) shared.data[b % shared.capacity] = i + 1;
  }
  return shared;
}

async function open(make: typeof udpBackend, target: string) {
  const lines: string[] = [];
  const scheduler = new Scheduler();
  const ctx: BackendContext = { log: createLogger({ level: "warn", write: (line) => lines.push(line) }), scheduler, fail: (e) => { throw e; } };
  const backend: Backend = await make.create(target, { kind: "mpegts" }, ctx);
  const startUs = scheduler.now();
  /** Sends unit `i` of `shared` in place, due `aheadUs` from now. */
  const send = (shared: SharedBytes, i: number, aheadUs: number) => {
    const dueUs = scheduler.now() + aheadUs;
    return backend.sendInPlace!(shared, i * UNIT, (i * UNIT) % shared.capacity, UNIT, { sendUs: dueUs - startUs, frame: 0, marker: i === 0, dueUs });
  };
  return { backend, lines, send };
}

describe("sender threads read a stream's bytes in place", () => {
  test("a job: its read-ahead keeps the lead and 50 ms behind for the thread, every datagram is read in place, laps of a small buffer included, and the stream arrives whole", async () => {
    const tmp = makeTempDir();
    const ts = makeCbrTs({ bitrate: 1_500_000, duration: 1.5 });
    const file = join(tmp.dir, "in.ts");
    writeFileSync(file, ts);
    const rx = await udpReceiver();
    try {
      const opened = await openInput(file, {});
      // 16 KiB loads: the buffer goes round about twenty times, so units meet its end.
      const job = await Job.create({ input: opened.info, source: opened.source, byteClock: opened.byteClock, outputs: [`udp://127.0.0.1:${rx.port}`], scheduler: new Scheduler(), log: createLogger({ level: "warn", write: () => {} }), chunkBytes: 16 * 1024 });
      expect(job.ring.keepBehind).toBe(16_384); // the 20 ms lead and 50 ms more of 1.5 Mbit/s (13.1 KB), but at least 16 KiB
      const before = handOverTotals();
      job.start();
      const result = await job.done;
      await Bun.sleep(50);
      const after = handOverTotals();
      expect(result.failures).toEqual([]);
      expect(result.losses).toEqual([]);
      expect(Buffer.concat(rx.packets.map((p) => p.data)).equals(Buffer.from(ts))).toBe(true);
      expect(after.inPlace - before.inPlace).toBe(rx.packets.length);
      expect(after.inline - before.inline).toBe(0);
    } finally {
      rx.close();
      tmp.cleanup();
    }
  });

  test("rtp: the units arrive whole and in order, behind the headers the main thread wrote, and cross without a copy", async () => {
    const rx = await udpReceiver();
    const { backend, send } = await open(rtpBackend, `rtp://127.0.0.1:${rx.port}?rtcp=off`);
    expect(backend.sendInPlace).toBeDefined();
    // The last unit runs 100 bytes over the buffer's end, on at its start (over unit 0, not sent).
    const shared = media(41, 100);
    await backend.shareMedia!(shared); // as a job does before it starts
    const before = handOverTotals();
    for (let i = 1; i <= 40; i++) send(shared, i, 20_000 + i * 1000);
    await backend.close();
    await Bun.sleep(50);
    await rx.settled();
    rx.close();
    const after = handOverTotals();
    expect(after.inPlace - before.inPlace).toBe(40);
    expect(after.inline - before.inline).toBe(0);
    expect(rx.packets.length).toBe(40);
    const first = rx.packets[0]!.data.readUInt16BE(2);
    rx.packets.forEach((p, i) => {
      expect(p.data.length).toBe(12 + UNIT);
      expect(p.data[1]! & 0x7f).toBe(33); // MP2T
      expect(p.data.readUInt16BE(2)).toBe((first + i) & 0xffff);
      expect(p.data.subarray(12).equals(Buffer.alloc(UNIT, i + 2))).toBe(true);
    });
    expect(backend.counters.units).toBe(40);
  });

  test("a close after a restart (a unit due earlier than one handed over before it) still lets every unit go first", async () => {
    const rx = await udpReceiver();
    const { backend, send } = await open(udpBackend, `udp://127.0.0.1:${rx.port}`);
    const shared = media(2);
    await backend.shareMedia!(shared);
    send(shared, 0, 60_000);
    send(shared, 1, 0); // after a gap a destination starts again at once: due before the unit above
    await backend.close(); // resolves once the thread has closed it
    await Bun.sleep(50);
    await rx.settled();
    rx.close();
    expect(rx.packets.map((p) => p.data[0])).toEqual([2, 1]);
  });

  test("what is handed over in place is held (heldFrom) until the thread has sent it, then let go", async () => {
    const rx = await udpReceiver();
    const { backend, send } = await open(udpBackend, `udp://127.0.0.1:${rx.port}`);
    const shared = media(4);
    await backend.shareMedia!(shared);
    expect(backend.heldFrom!()).toBe(Infinity);
    send(shared, 1, 150_000);
    send(shared, 2, 650_000);
    send(shared, 3, 650_000);
    // The job may not reuse the bytes from unit 1 on: none is due yet.
    expect(backend.heldFrom!()).toBe(UNIT);
    for (let i = 0; i < 100 && rx.packets.length < 1; i++) await Bun.sleep(5);
    expect(rx.packets.map((p) => p.data[0])).toEqual([2]);
    // Unit 1 is gone; units 2 and 3 are not due for another 500 ms.
    expect(backend.heldFrom!()).toBe(2 * UNIT);
    for (let i = 0; i < 200 && rx.packets.length < 3; i++) await Bun.sleep(5);
    expect(backend.heldFrom!()).toBe(Infinity);
    await backend.close();
    rx.close();
    expect(rx.packets.map((p) => p.data[0])).toEqual([2, 3, 4]);
  });

  test("a unit in a buffer the thread was never given is copied over, and arrives the same", async () => {
    const rx = await udpReceiver();
    const { backend, send } = await open(udpBackend, `udp://127.0.0.1:${rx.port}`);
    const shared = media(3);
    const before = handOverTotals();
    for (let i = 0; i < 3; i++) send(shared, i, 10_000);
    await backend.close();
    await Bun.sleep(50);
    await rx.settled();
    rx.close();
    const after = handOverTotals();
    expect([after.inPlace - before.inPlace, after.inline - before.inline]).toEqual([0, 3]);
    expect(rx.packets.map((p) => p.data.equals(Buffer.alloc(UNIT, p.data[0]!)) && p.data[0])).toEqual([1, 2, 3]);
  });

  test("udp: datagrams whose bytes the stream reused before they were due are dropped and counted; the rest go whole", async () => {
    const rx = await udpReceiver();
    const { backend, lines, send } = await open(udpBackend, `udp://127.0.0.1:${rx.port}`);
    const shared = media(11);
    await backend.shareMedia!(shared);
    send(shared, 0, 0);
    await Bun.sleep(50);
    for (let i = 1; i <= 10; i++) send(shared, i, 60_000 + i * 1000);
    // Before any is due, the stream moves past units 1 to 5 and a load writes over them.
    shared.releaseBelow(6 * UNIT);
    shared.data.fill(0xee, UNIT, 6 * UNIT);
    await Bun.sleep(300); // past the due times and the thread's next report
    await backend.close();
    await Bun.sleep(50);
    await rx.settled();
    rx.close();
    expect(rx.packets.map((p) => p.data[0])).toEqual([1, 7, 8, 9, 10, 11]);
    for (const p of rx.packets) expect(new Set(p.data).size).toBe(1); // none torn
    expect(backend.counters.errors.behind).toBe(5);
    expect(backend.counters.lostBytes).toBe(5 * UNIT);
    expect(lines.join("\n")).toContain("fell so far behind");
  });
});
