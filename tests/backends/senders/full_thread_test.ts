/**
 * A sender thread that cannot keep up (its hand-over ring full, or its oldest datagram 50 ms late)
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
import { runPacer } from "../../helpers/pacer.ts";
import { udpReceiver } from "../../helpers/udp_receiver.ts";

const tmp = makeTempDir();
afterAll(() => tmp.cleanup());

test("a full sender thread holds its destinations back; every receiver gets the whole stream, and play exits 0", async () => {
  const source = makeCbrTs({ bitrate: 1_500_000, duration: 0.5 });
  const file = join(tmp.dir, "half_second.ts");
  writeFileSync(file, source);
  const receivers = await Promise.all(Array.from({ length: 20 }, () => udpReceiver()));
  const to = receivers.flatMap((r, i) => ["--to", `${i % 2 ? "rtp" : "udp"}://127.0.0.1:${r.port}`]);
  const run = await runPacer(["play", file, "--senders", "1", ...to], { env: { PACER_SENDER_RING_SLOTS: "32" } });
  await Bun.sleep(100);
  for (const r of receivers) r.close();
  expect(run.stderr).toBe("");
  expect(run.code).toBe(0);
  receivers.forEach((r, i) => {
    // RTP's 12-byte header is taken off; its sequence numbers run on, one per datagram.
    const payloads = r.packets.map((p) => (i % 2 ? p.data.subarray(12) : p.data));
    expect(Buffer.concat(payloads).equals(Buffer.from(source))).toBe(true);
    // Late, not sent in a burst: its 0.5 s still takes most of that.
    expect(r.packets.at(-1)!.atUs - r.packets[0]!.atUs).toBeGreaterThan(300_000);
    if (i % 2) r.packets.forEach((p, k) => expect(p.data.readUInt16BE(2)).toBe((r.packets[0]!.data.readUInt16BE(2) + k) & 0xffff));
  });
}, 30_000);
