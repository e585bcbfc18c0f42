/**
 * A sender thread that cannot keep up (its hand-over ring full, or not caught up for 50 ms)
 * takes no more: its destinations offer their datagrams again a little later and go late, as they
 * would on the main thread, and lose nothing. Story: one job to 20 receivers through one thread
 * whose ring holds 32 datagrams (PACER_SENDER_RING_SLOTS), a fifth of what 20 streams hand over
 * within the lead: every receiver gets the whole stream once, in order, and play exits 0. Before
 * backpressure, a full ring dropped the datagram ("the sender thread's hand-over ring is full").
 */
import { afterAll, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeCbrTs, makeTempDir } from "../../helpers/mpeg_fixtures.ts";
import { wireArrivals } from "../../helpers/capture.ts";
import { runPacer } from "../../helpers/pacer.ts";
import { udpReceiver } from "../../helpers/udp_receiver.ts";

const tmp = makeTempDir();
afterAll(() => tmp.cleanup());

test("a full sender thread holds its destinations back; every receiver gets the whole stream, and play exits 0", async () => {
  const source = makeCbrTs({ bitrate: 1_500_000, duration: 0.5 });
  const file = join(tmp.dir, "half_second.ts");
  writeFileSync(file, source);
  // Receivers that take what the kernel holds as they close: a fresh-clone CI run here once found
  // one of the 20 short of the stream, most likely its last datagrams still unread in the kernel
  // when it closed (its whole 0.5 s fits the default buffer, ~90 datagrams of this size).
  const receivers = await Promise.all(Array.from({ length: 20 }, () => udpReceiver(0, { rcvbufBytes: 4 << 20 })));
  const to = receivers.flatMap((r, i) => ["--to", `${i % 2 ? "rtp" : "udp"}://127.0.0.1:${r.port}`]);
  // The span is read from the kernel's arrival times, at the first udp and the last rtp output:
  // a stall of this process would clump its own stamps (a loaded host once read 182 ms).
  const wires = await Promise.all([0, 19].map((i) => wireArrivals(receivers[i]!.port)));
  try {
    // 64 slots: half kept for the 20 outputs' reports and closes, and the other 32 too few for their hand-overs.
    const run = await runPacer(["play", file, "--senders", "1", ...to], { env: { PACER_SENDER_RING_SLOTS: "64" } });
    await Bun.sleep(100);
    for (const r of receivers) await r.settled();
    for (const r of receivers) r.close();
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    receivers.forEach((r, i) => {
      // RTP's 12-byte header is taken off; its sequence numbers run on, one per datagram.
      const payloads = r.packets.map((p) => (i % 2 ? p.data.subarray(12) : p.data));
      expect(Buffer.concat(payloads).equals(Buffer.from(source))).toBe(true);
      if (i % 2) r.packets.forEach((p, k) => expect(p.data.readUInt16BE(2)).toBe((r.packets[0]!.data.readUInt16BE(2) + k) & 0xffff));
    });
    for (const [k, i] of [0, 19].entries()) {
      // Late, not sent in a burst: its 0.5 s still takes most of that.
      const packets = await wires[k]!.retime(receivers[i]!.packets);
      expect(packets.at(-1)!.atUs - packets[0]!.atUs).toBeGreaterThan(300_000);
    }
  } finally {
    for (const w of wires) await w.close();
  }
}, 30_000);

test("datagrams copied into the ring (RTP L16, converted) wait for room in its byte arena, not dropped: 8 streams of 192 kHz × 8 channels, a 1 s lead", async () => {
  // 24.6 MB of them a second against a 16 MiB arena: a 1 s lead fills it before ring or clock would stop them.
  const seconds = 1;
  const bytesPerSecond = 192_000 * 8 * 2;
  const file = join(tmp.dir, "wide.raw");
  writeFileSync(file, Buffer.alloc(seconds * bytesPerSecond, 3));
  // Sent far ahead of real time, into this busy process: receive buffers big enough for all of it.
  const receivers = await Promise.all(Array.from({ length: 8 }, () => udpReceiver(0, { rcvbufBytes: 16 << 20 })));
  const to = receivers.flatMap((r) => ["--to", `rtp://127.0.0.1:${r.port}?rtcp=off`]);
  const run = await runPacer(["play", file, "--format", "s16le:192000:8", "--senders", "1", ...to], {
    env: { PACER_SENDER_LEAD_US: "1000000", PACER_SENDER_RING_SLOTS: "65536" },
  });
  await Bun.sleep(200);
  for (const r of receivers) await r.settled();
  for (const r of receivers) r.close();
  expect(run.stderr).toBe("");
  expect(run.code).toBe(0);
  for (const r of receivers) {
    expect(r.packets.reduce((n, p) => n + p.data.length - 12, 0)).toBe(seconds * bytesPerSecond);
    // In order: the first units, sent at once to fill the receiver's buffer (rtp's ahead), once
    // went out after those behind them, whose media time put them due before the start.
    r.packets.forEach((p, k) => expect(p.data.readUInt16BE(2)).toBe((r.packets[0]!.data.readUInt16BE(2) + k) & 0xffff));
  }
}, 30_000);

test("RTCP on the stream's port (rtcp=mux) always finds a slot: a full thread keeps some for what does not wait", async () => {
  const source = makeCbrTs({ bitrate: 6_000_000, duration: 4 });
  const file = join(tmp.dir, "four_seconds.ts");
  writeFileSync(file, source);
  // Big receive buffers: 6 Mbit/s each would fill the default's ~140 ms while this process is busy.
  const receivers = await Promise.all(Array.from({ length: 16 }, () => udpReceiver(0, { rcvbufBytes: 16 << 20 })));
  const to = receivers.flatMap((r) => ["--to", `rtp://127.0.0.1:${r.port}?rtcp=mux`]);
  // 128 slots: 48 kept for the 16 outputs' reports, BYEs and closes, and 80 too few for the 182
  // datagrams they hand over within a lead.
  const run = await runPacer(["play", file, "--senders", "1", ...to], { env: { PACER_SENDER_RING_SLOTS: "128" } });
  await Bun.sleep(100);
  for (const r of receivers) await r.settled();
  for (const r of receivers) r.close();
  expect(run.stderr).toBe("");
  expect(run.code).toBe(0);
  for (const r of receivers) {
    // RTP (PT 33) and RTCP (SR 200 ... BYE 203) share the port; the data is whole, and reports came.
    const isRtcp = (p: { data: Buffer }) => p.data[1]! >= 200 && p.data[1]! <= 204;
    expect(Buffer.concat(r.packets.filter((p) => !isRtcp(p)).map((p) => p.data.subarray(12))).equals(Buffer.from(source))).toBe(true);
    expect(r.packets.filter(isRtcp).length).toBeGreaterThanOrEqual(2);
  }
}, 30_000);
