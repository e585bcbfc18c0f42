/**
 * RFC 3550 section 5.1 and DESIGN.md: an RTP output's SSRC, first sequence number and (for
 * MPEG-TS) first timestamp are random, so two streams, or one started again, are not mistaken
 * for each other by a receiver. Three plays of the same file, side by side: each field differs
 * somewhere among them (all three alike by chance: 2^-32 for a sequence number, less for the rest).
 */
import { afterAll, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { rtpGetSeqnum, rtpGetSsrc, rtpGetTimestamp } from "../../protocol/rtp.ts";
import { makeCbrTs, makeTempDir } from "../helpers/mpeg_fixtures.ts";
import { runPacer } from "../helpers/pacer.ts";
import { udpReceiver } from "../helpers/udp_receiver.ts";

const tmp = makeTempDir();
afterAll(() => tmp.cleanup());

test("three plays of one TS to rtp://: their SSRCs, first sequence numbers and first timestamps are not all alike", async () => {
  const path = join(tmp.dir, "short.ts");
  writeFileSync(path, makeCbrTs({ bitrate: 1_000_000, duration: 0.1 }));
  const firsts = await Promise.all(
    [0, 1, 2].map(async () => {
      const rx = await udpReceiver();
      const run = await runPacer(["play", path, "--to", `rtp://127.0.0.1:${rx.port}?rtcp=off`]);
      await Bun.sleep(100);
      await rx.settled();
      rx.close();
      expect(run.stderr).toBe("");
      expect(run.code).toBe(0);
      const first = rx.packets[0]!.data;
      return { ssrc: rtpGetSsrc(first), seq: rtpGetSeqnum(first), timestamp: rtpGetTimestamp(first) };
    }),
  );
  for (const field of ["ssrc", "seq", "timestamp"] as const) {
    expect(new Set(firsts.map((f) => f[field])).size, `${field}: ${firsts.map((f) => f[field]).join(", ")}`).toBeGreaterThan(1);
  }
});
