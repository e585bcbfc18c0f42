/**
 * Network inputs over real loopback sockets: UDP bytes in arrival order, RTP put back in order
 * with its loss counted, TCP listening and connecting, and the errors a user sees.
 */
import { describe, expect, test } from "bun:test";
import { connect, createServer } from "node:net";
import { openLiveInput, openInput } from "../../sources/open_input.ts";
import { RtpReorder } from "../../sources/rtp_reorder.ts";
import { inputDamage, type LiveSource, type InputGap } from "../../sources/live_input.ts";
import { SOURCE_END, type Source } from "../../sources/source.ts";
import { rtpSetHeader, rtpSetSeqnum, rtpSetSsrc, PT_L16_STEREO, PT_MP2T } from "../../protocol/rtp.ts";
import { rtcpWriteBye, rtcpWriteSdesCname, rtcpWriteSenderReport } from "../../protocol/rtcp.ts";
import { freeTcpPort, freeUdpPort } from "../helpers/ports.ts";
import { garbageBytes, makeCbrTs } from "../helpers/mpeg_fixtures.ts";

function rtpPacket(seq: number, payload: Uint8Array, pt = PT_MP2T, ssrc = 0x1234): Uint8Array {
  const p = new Uint8Array(12 + payload.length);
  rtpSetHeader(p, pt);
  rtpSetSeqnum(p, seq);
  rtpSetSsrc(p, ssrc);
  p.set(payload, 12);
  return p;
}

function payloadOf(k: number, size = 100): Uint8Array {
  return new Uint8Array(size).fill(k & 0xff);
}

/**
 * Sends `count` random 1316-byte payloads, pausing `pauseMs` every `every`, each in RTP (sequence
 * numbers from 0) when `rtp`; returns the payloads' bytes in order.
 */
async function sendRandom(sender: { send(d: Uint8Array): boolean }, count: number, every: number, pauseMs: number, rtp = false): Promise<Buffer> {
  const sent: Uint8Array[] = [];
  for (let k = 0; k < count; k++) {
    const d = crypto.getRandomValues(new Uint8Array(1316));
    sent.push(d);
    sender.send(rtp ? rtpPacket(k % 65536, d) : d);
    if (k % every === 0) await Bun.sleep(pauseMs);
  }
  return Buffer.concat(sent);
}

/** A live input on a free port of 127.0.0.1, the gaps it reports, and a socket connected to it. */
async function liveInputRig(scheme: "udp" | "rtp") {
  const port = await freeUdpPort();
  const input = (await openLiveInput(`${scheme}://@127.0.0.1:${port}`)) as LiveSource;
  const gaps: InputGap[] = [];
  input.onGap = (g) => gaps.push(g);
  const sender = await Bun.udpSocket({ connect: { hostname: "127.0.0.1", port } });
  return { input, gaps, sender };
}

/** Reads a source until `want` bytes or `ms` pass. */
async function readAll(source: Source, want: number, ms = 3000): Promise<Buffer> {
  const out = Buffer.alloc(want);
  let got = 0;
  const until = Date.now() + ms;
  while (got < want && Date.now() < until) {
    const n = source.read(out, got, want - got);
    if (n === SOURCE_END) break;
    if (n === 0) await Bun.sleep(5);
    else got += n;
  }
  return out.subarray(0, got);
}

describe("RtpReorder", () => {
  const run = (order: number[], options: { window?: number } = {}) => {
    const out: number[] = [];
    const losses: [number, number][] = [];
    const reorder = new RtpReorder({ deliver: (p) => out.push(p[0]!), onLoss: (n, first) => losses.push([n, first]), ...options });
    const t = Date.now();
    // Numbers past 0xffff are another sender's (SSRC 0x5678) number seq & 0xffff.
    for (const seq of order) reorder.push(rtpPacket(seq & 0xffff, payloadOf(seq), PT_MP2T, seq > 0xffff ? 0x5678 : 0x1234), t);
    reorder.flush();
    return { out, losses, reorder };
  };

  test("a swap is repaired, a drop is one gap, a duplicate and a late packet are dropped", () => {
    const out: number[] = [];
    const losses: [number, number][] = [];
    const reorder = new RtpReorder({ deliver: (p) => out.push(p[0]!), onLoss: (n, first) => losses.push([n, first]), holdMs: 50 });
    for (const seq of [1, 2, 4, 3, 5, 7, 8, 8]) reorder.push(rtpPacket(seq, payloadOf(seq)), 1000);
    reorder.tick(1100); // 6 is given up on
    for (const seq of [6, 9]) reorder.push(rtpPacket(seq, payloadOf(seq)), 1101);
    reorder.flush();
    expect(out).toEqual([1, 2, 3, 4, 5, 7, 8, 9]);
    expect(losses).toEqual([[1, 6]]);
    expect(reorder.duplicates).toBe(1);
    expect(reorder.late).toBe(1);
  });

  test("numbers wrap at 65535, and a hole wider than the window is lost on the spot", () => {
    const { out, losses } = run([65534, 65535, 0, 1, 100, 101], { window: 8 });
    expect(out).toEqual([254, 255, 0, 1, 100, 101]);
    expect(losses).toEqual([[98, 2]]);
  });

  test("a packet past the window while a hole holds the rest: the hole alone is lost, not a whole cycle", () => {
    const { out, losses } = run([0, 2, 3, 4, 5, 6, 7, 8, 10], { window: 8 });
    expect(out).toEqual([0, 2, 3, 4, 5, 6, 7, 8, 10]);
    expect(losses).toEqual([[1, 1], [1, 9]]);
  });

  test("a hole is held no longer than holdMs", () => {
    const out: number[] = [];
    const reorder = new RtpReorder({ deliver: (p) => out.push(p[0]!), onLoss: () => {}, holdMs: 50 });
    reorder.push(rtpPacket(9, payloadOf(9)), 900);
    reorder.tick(950); // the first is held as long: one before it may yet come
    reorder.push(rtpPacket(10, payloadOf(10)), 1000);
    reorder.push(rtpPacket(12, payloadOf(12)), 1001);
    reorder.tick(1030);
    expect(out).toEqual([9, 10]);
    reorder.tick(1060);
    expect(out).toEqual([9, 10, 12]);
    expect(reorder.lost).toBe(1);
  });

  test("a sender that restarts its numbering far behind is followed with nothing dropped: the packets that showed it are kept", () => {
    const before = [...Array(100).keys()].map((k) => 20000 + k);
    const after = [...Array(100).keys()];
    const { out, losses, reorder } = run([...before, ...after]);
    expect(out).toEqual([...before, ...after].map((k) => k & 0xff));
    expect(losses).toEqual([]);
    expect([reorder.late, reorder.duplicates, reorder.strays]).toEqual([0, 0, 0]);
    // Numbers it used before (more than 100 back: nearer, they would be duplicates), the first two swapped: still followed.
    const first = [...Array(300).keys()];
    const again = run([...first, 1, 0, 2, 3]);
    expect(again.out).toEqual([...first, 0, 1, 2, 3].map((k) => k & 0xff));
    expect(again.reorder.late + again.reorder.duplicates + again.reorder.strays + again.reorder.lost).toBe(0);
  });

  test("the first two packets swapped: the first is held, so the real first still goes first", () => {
    const out: number[] = [];
    const reorder = new RtpReorder({ deliver: (p) => out.push(p[0]!), onLoss: () => {}, holdMs: 50 });
    reorder.push(rtpPacket(501, payloadOf(501)), 1000);
    reorder.push(rtpPacket(500, payloadOf(500)), 1001);
    reorder.push(rtpPacket(502, payloadOf(502)), 1002);
    reorder.tick(1030);
    expect(out).toEqual([]);
    reorder.tick(1051);
    expect(out).toEqual([500 & 0xff, 501 & 0xff, 502 & 0xff]);
    reorder.push(rtpPacket(503, payloadOf(503)), 1052);
    expect(out.at(-1)).toBe(503 & 0xff);
    expect([reorder.late, reorder.lost]).toEqual([0, 0]);
  });

  test("a swap just as the first packets' wait ends is waited for as any hole: nothing lost (it lost the packet, then dropped it late)", () => {
    const out: number[] = [];
    const reorder = new RtpReorder({ deliver: (p) => out.push(p[0]!), onLoss: () => {}, holdMs: 50 });
    for (let seq = 0; seq < 20; seq++) reorder.push(rtpPacket(seq, payloadOf(seq)), 1000 + 2 * seq);
    reorder.push(rtpPacket(21, payloadOf(21)), 1049); // 20 and 21 swapped on the way
    reorder.tick(1050); // the opening's wait is over: 0-19 go, 21 waits for 20
    expect(out).toEqual([...Array(20).keys()]);
    reorder.push(rtpPacket(20, payloadOf(20)), 1051);
    expect(out).toEqual([...Array(22).keys()]);
    expect([reorder.lost, reorder.late]).toEqual([0, 0]);
  });

  test("a lone packet far ahead is a stray: dropped and counted, the stream goes on and nothing is lost", () => {
    const { out, losses, reorder } = run([0, 1, 2, 30002, 3, 4, 5, 6, 7, 8, 9]);
    expect(out).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(losses).toEqual([]);
    expect([reorder.strays, reorder.lost, reorder.late]).toEqual([1, 0, 0]);
    // Followed by the next in sequence, the jump is taken (the sender jumped), its packets kept.
    const jump = run([0, 1, 2, 30002, 30003, 30004]);
    expect(jump.out).toEqual([0, 1, 2, 30002 & 0xff, 30003 & 0xff, 30004 & 0xff]);
    expect(jump.reorder.strays).toBe(0);
  });

  test("an outage of thousands of packets, the stream going on after it, is one loss of them all", () => {
    const order = [...Array.from({ length: 100 }, (_, i) => i), ...Array.from({ length: 100 }, (_, i) => 5100 + i)];
    const { out, losses, reorder } = run(order);
    expect(out).toHaveLength(200);
    expect(losses).toEqual([[5000, 100]]);
    expect([reorder.lost, reorder.strays, reorder.late]).toEqual([5000, 0, 0]);
  });

  test("a datagram too short to be RTP is malformed: counted, and the stream it fell into goes on", () => {
    const out: number[] = [];
    const reorder = new RtpReorder({ deliver: (p) => out.push(p[0]!), onLoss: () => {} });
    reorder.push(rtpPacket(7, payloadOf(7)), 1000);
    reorder.push(new Uint8Array([0x80, 0x21, 0, 8, 0]), 1000);
    reorder.push(rtpPacket(8, payloadOf(8)), 1000);
    reorder.flush();
    expect(out).toEqual([7, 8]);
    expect([reorder.malformed, reorder.lost]).toEqual([1, 0]);
  });

  test("RTCP on the RTP port (rtcp-mux) is set aside: no payload, no restart, no format change", () => {
    const out: number[] = [];
    const changes: number[] = [];
    const reorder = new RtpReorder({ deliver: (p) => out.push(p[0]!), onLoss: () => {}, onPayloadType: (_, to) => changes.push(to) });
    const report = new Uint8Array(200);
    let end = rtcpWriteSenderReport(report, 0, 0x1234, 0x9abc_def0, 0, 1000, 5, 500);
    end = rtcpWriteSdesCname(report, end, 0x1234, new TextEncoder().encode("pacer@host"));
    for (const seq of [1, 2, 3]) reorder.push(rtpPacket(seq, payloadOf(seq)), 1000);
    reorder.push(report.subarray(0, end), 1000);
    for (const seq of [4, 5]) reorder.push(rtpPacket(seq, payloadOf(seq)), 1000);
    reorder.push(report.subarray(0, rtcpWriteBye(report, 0, 0x1234)), 1000);
    reorder.flush();
    expect(out).toEqual([1, 2, 3, 4, 5]);
    expect(changes).toEqual([]);
    expect([reorder.rtcp, reorder.lost, reorder.malformed, reorder.strays]).toEqual([2, 0, 0, 0]);
  });

  test("an empty datagram (a NAT keep-alive, RFC 6263 section 4.1) is no damage: not malformed, no gap", () => {
    const { out, reorder } = run([1, 2]);
    reorder.push(new Uint8Array(0), 1000);
    reorder.push(rtpPacket(3, payloadOf(3)), 1000);
    reorder.flush();
    expect(out).toEqual([1, 2, 3]);
    expect([reorder.keepAlives, reorder.malformed, reorder.lost]).toEqual([1, 0, 0]);
  });

  test("a second sender on the port is dropped and counted, not mixed in; a sender that restarts with a new SSRC is followed with nothing lost", () => {
    const { out, reorder } = run([0, 1, 2, 3].flatMap((k) => [k, 0x10000 + 30000 + k]).concat([4, 5]));
    expect(out).toEqual([0, 1, 2, 3, 4, 5]);
    expect([reorder.otherSource, reorder.lost, reorder.strays]).toEqual([4, 0, 0]);
    // An encoder restarted: a new SSRC and numbering, its first two packets swapped; a stray of the old one after.
    const restart = run([0, 1, 2, 0x10000 + 501, 0x10000 + 500, 0x10000 + 502, 3, 0x10000 + 503]);
    expect(restart.out).toEqual([0, 1, 2, 500 & 0xff, 501 & 0xff, 502 & 0xff, 503 & 0xff]);
    expect([restart.reorder.otherSource, restart.reorder.lost, restart.reorder.strays, restart.reorder.late]).toEqual([1, 0, 0, 0]);
  });

  test("a sender that restarts its numbering far behind is followed after a few packets", () => {
    const { out } = run([5000, 5001, 10, 11, 12, 13, 14, 15, 16, 17, 18]);
    expect(out.slice(0, 2)).toEqual([5000 & 0xff, 5001 & 0xff]);
    expect(out.at(-1)).toBe(18);
  });
});

describe("udp://@ and rtp://@ on loopback", () => {
  test("rtp://@ L16: a payload of a part frame is dropped as malformed and its place filled with silence, so every sample after it stays in its channel", async () => {
    const { input, sender } = await liveInputRig("rtp");
    // PT 10 (L16 stereo, 4-byte frames): 350 frames a packet, packet 2 one byte long.
    const frames = (k: number) => new Uint8Array(1400).fill(k + 1);
    for (let k = 0; k < 5; k++) sender.send(rtpPacket(k, k === 2 ? new Uint8Array(1401).fill(9) : frames(k), PT_L16_STEREO));
    const got = await readAll(input, 5 * 1400);
    sender.close();
    input.close();
    expect(input.stats.malformed).toBe(1);
    expect(got.equals(Buffer.concat([frames(0), frames(1), new Uint8Array(1400), frames(3), frames(4)]))).toBe(true);
  });

  test("udp://@127.0.0.1:P gives the datagrams' bytes in order", async () => {
    const { input, sender } = await liveInputRig("udp");
    const all = await sendRandom(sender, 300, 50, 2);
    const got = await readAll(input, all.length);
    sender.close();
    input.close();
    expect(got.equals(all)).toBe(true);
    expect(input.stats.datagrams).toBe(300);
    expect(input.stats.kernelDrops).toBe(0);
  });

  test.each(["udp", "rtp"] as const)("%s://@: a reader that falls behind loses nothing while the socket's buffer can hold the rest (the full queue leaves it there), and that is no stall of the input", async (scheme) => {
    const { input, sender } = await liveInputRig(scheme);
    // 10 MB, nothing read meanwhile: 2 MB past the queue's 8 MiB (QUEUE_BYTES).
    const all = await sendRandom(sender, 7600, 100, 1, scheme === "rtp");
    // Past STALL_MS with the queue full: the reader is behind, and the input has not stalled.
    await Bun.sleep(1_300);
    expect(input.available).toBeLessThanOrEqual(8 << 20);
    const got = await readAll(input, all.length);
    sender.close();
    input.close();
    expect(input.stats.overflowBytes).toBe(0);
    expect(input.stats.kernelDrops).toBe(0);
    expect(input.stats.stalls).toBe(0);
    expect(got.length).toBe(all.length);
    expect(got.equals(all)).toBe(true);
  });

  test("a stall is one gap, at the offset between the bytes before it and those that ended it", async () => {
    const { input, gaps, sender } = await liveInputRig("udp");
    try {
      const before = await sendRandom(sender, 10, 100, 0);
      await Bun.sleep(1_300); // past STALL_MS
      const after = await sendRandom(sender, 10, 100, 0);
      const got = await readAll(input, before.length + after.length);
      expect(got.equals(Buffer.concat([before, after]))).toBe(true);
      const stalls = gaps.filter((g) => g.kind === "stall");
      expect(stalls).toHaveLength(1);
      expect(stalls[0]!.streamOffset).toBe(before.length);
    } finally {
      sender.close();
      input.close();
    }
  });

  test("rtp://@ strips headers, repairs a swap and reports a drop as one gap at its offset", async () => {
    const { input, gaps, sender } = await liveInputRig("rtp");
    const order = [0, 1, 2, 4, 3, 5, 7, 8, 9];
    for (const k of order) sender.send(rtpPacket(k, payloadOf(k, 188)));
    const want = 8 * 188;
    const got = await readAll(input, want);
    sender.close();
    input.close();
    expect([...Array(8).keys()].map((i) => got[i * 188])).toEqual([0, 1, 2, 3, 4, 5, 7, 8].map((k) => k));
    expect(input.stats.lost).toBe(1);
    const loss = gaps.filter((g) => g.kind === "lost");
    expect(loss.length).toBe(1);
    expect(loss[0]!.streamOffset).toBe(6 * 188);
    expect(loss[0]!.what).toBe("1 RTP packet lost (seq 6)");
  });

  test("a payload type change (the sender's format) is said once, in sequence order, at its offset, and counted; nothing is lost", async () => {
    const { input, gaps, sender } = await liveInputRig("rtp");
    // L16 stereo, then mono from packet 3 on; 3 and 2 swapped on the way.
    for (const k of [0, 1, 3, 2, 4]) sender.send(rtpPacket(k, payloadOf(k, 188), k >= 3 ? 11 : 10));
    const got = await readAll(input, 5 * 188);
    sender.close();
    input.close();
    expect([...Array(5).keys()].map((i) => got[i * 188])).toEqual([0, 1, 2, 3, 4]);
    expect(gaps.map((g) => [g.kind, g.streamOffset, g.what])).toEqual([
      ["format", 3 * 188, "RTP payload type changed from 10 to 11 (the sender's format changed); what follows is taken as it comes"],
    ]);
    expect([input.stats.formatChanges, input.stats.gaps, input.stats.lost]).toEqual([1, 0, 0]);
    expect(inputDamage(input.stats)).toBe("format changed once (an RTP payload type, a new source's WAV header: what followed was taken as it came)");
  });

  test("lost PCM is filled with silence as long as the packet before it: L16, or any payload type with a format given", async () => {
    const cases = [
      { pt: 10, format: undefined, silence: 0 },
      { pt: 96, format: { encoding: "u8", rate: 8000, channels: 1 } as const, silence: 0x80 },
    ];
    for (const { pt, format, silence } of cases) {
      const port = await freeUdpPort();
      const input = (await openLiveInput(`rtp://@127.0.0.1:${port}`, { format })) as LiveSource;
      const sender = await Bun.udpSocket({ connect: { hostname: "127.0.0.1", port } });
      // 3 and 4 lost; then a hole of 600 (a sender that started again, more likely than loss): not filled.
      for (const k of [0, 1, 2, 5, 6, 606, 607]) sender.send(rtpPacket(k, payloadOf(k, 160), pt));
      const got = await readAll(input, 9 * 160);
      await Bun.sleep(100);
      sender.close();
      input.close();
      expect(got.length).toBe(9 * 160);
      const firsts = [...Array(9).keys()].map((i) => got[i * 160]);
      expect(firsts).toEqual([0, 1, 2, silence, silence, 5, 6, 606 & 0xff, 607 & 0xff]);
      expect(got.subarray(3 * 160, 5 * 160).every((b) => b === silence)).toBe(true);
      expect(input.stats.lost).toBe(2 + 599);
    }
  });

  test("silence filled into holes counts against the queue's room: a reader far behind loses none of it", async () => {
    const port = await freeUdpPort();
    // At 4 MHz, 19.3 MB are 1.2 s of stream: silence may put it that far ahead of the time that passed.
    const format = { encoding: "s16le", rate: 4_000_000, channels: 2 } as const;
    const input = (await openLiveInput(`rtp://@127.0.0.1:${port}`, { format })) as LiveSource;
    const sender = await Bun.udpSocket({ connect: { hostname: "127.0.0.1", port } });
    // Stereo in 1200-byte payloads; after every 100 packets 450 are lost, each hole filled with
    // 540 KB of silence: 15.7 MB of fill for 3.6 MB sent, nothing read meanwhile.
    const expected: Uint8Array[] = [];
    let seq = 0;
    for (let k = 0; k < 3000; k++) {
      if (k > 0 && k % 100 === 0) {
        seq += 450;
        expected.push(new Uint8Array(450 * 1200));
      }
      const payload = crypto.getRandomValues(new Uint8Array(1200));
      expected.push(payload);
      sender.send(rtpPacket(seq++ % 65536, payload, 96));
      if (k % 100 === 0) await Bun.sleep(1);
    }
    await Bun.sleep(500);
    const all = Buffer.concat(expected);
    const got = await readAll(input, all.length, 10_000);
    sender.close();
    input.close();
    expect(input.stats.overflowBytes).toBe(0);
    expect(input.stats.kernelDrops).toBe(0);
    expect(got.length).toBe(all.length);
    expect(got.equals(all)).toBe(true);
  }, 15_000);

  test("silence never puts a PCM stream more than 10 s ahead of the time that passed: jumps of 400 numbers at once are no 27 s of silence", async () => {
    const port = await freeUdpPort();
    const input = (await openLiveInput(`rtp://@127.0.0.1:${port}`)) as LiveSource;
    const sender = await Bun.udpSocket({ connect: { hostname: "127.0.0.1", port } });
    // L16 stereo at 44.1 kHz: 1200 bytes are 6.8 ms, a hole of 399 of them 2.7 s, 4.8 MB for ten.
    const bytesPerSecond = 44_100 * 4;
    const payload = new Uint8Array(1200).fill(7);
    const started = performance.now();
    for (let k = 0; k <= 10; k++) sender.send(rtpPacket(k * 400, payload, PT_L16_STEREO));
    const got = await readAll(input, 5_000_000, 1500);
    const elapsedS = (performance.now() - started) / 1000;
    sender.close();
    input.close();
    expect(input.stats.lost).toBe(10 * 399);
    // The first hole is filled whole: its 2.7 s are within the 10 s.
    expect(got.subarray(1200, 1200 + 399 * 1200).every((b) => b === 0)).toBe(true);
    expect(got[1200 + 399 * 1200]).toBe(7);
    expect(got.length).toBeGreaterThanOrEqual(10 * bytesPerSecond);
    expect(got.length).toBeLessThanOrEqual((10 + elapsedS) * bytesPerSecond + 11 * 1200);
  });

  test("play's gateway fills a hole it did not wait through, and not one it starved through: an outage puts it no further behind", async () => {
    const port = await freeUdpPort();
    const pending = openInput(`rtp://@127.0.0.1:${port}`, { latencyMs: 100 });
    const sender = await Bun.udpSocket({ connect: { hostname: "127.0.0.1", port } });
    await Bun.sleep(20);
    const send = (seqs: number[]) => {
      for (const k of seqs) sender.send(rtpPacket(k, payloadOf(k + 1, 160), PT_L16_STEREO));
    };
    // 2 lost with no wait (filled), then an outage of 600 ms, 40 lost, longer than the latency (not filled).
    send([0, 1, 2, 5, 6]);
    const opened = await pending;
    await Bun.sleep(600);
    send([47, 48]);
    const got = await readAll(opened.source, 9 * 160, 2000);
    sender.close();
    opened.source.close();
    const firsts = [...Array(got.length / 160).keys()].map((i) => got[i * 160]);
    expect(firsts).toEqual([1, 2, 3, 0, 0, 6, 7, 48, 49]);
  });

  test("play's detection finds MPEG-TS after 6 KB of stray datagrams on the port, and paces it by its PCRs", async () => {
    const port = await freeUdpPort();
    const pending = openInput(`udp://@127.0.0.1:${port}`);
    const sender = await Bun.udpSocket({ connect: { hostname: "127.0.0.1", port } });
    await Bun.sleep(20);
    for (let k = 0; k < 6; k++) sender.send(garbageBytes(1000, k + 1));
    const ts = makeCbrTs({ bitrate: 1_000_000, duration: 0.6 });
    for (let at = 0; at < ts.length; at += 1316) sender.send(ts.subarray(at, at + 1316));
    const opened = await pending;
    sender.close();
    opened.source.close();
    expect(opened.container).toBe("mpegts");
    expect(opened.pacing).toBe("pcr");
  });

  test("play's detection reads RTP L16 at 44.1 kHz as big-endian PCM without --format", async () => {
    const port = await freeUdpPort();
    const pending = openInput(`rtp://@127.0.0.1:${port}`);
    const sender = await Bun.udpSocket({ connect: { hostname: "127.0.0.1", port } });
    await Bun.sleep(20);
    sender.send(rtpPacket(1, payloadOf(1, 400), 10));
    const opened = await pending;
    sender.close();
    opened.source.close();
    expect(opened.info.format).toEqual({ encoding: "s16be", rate: 44100, channels: 2 });
  });

  test("a port in use, a name for an address, a send form and an unknown option are one-line errors", async () => {
    const port = await freeUdpPort();
    const first = (await openLiveInput(`udp://@127.0.0.1:${port}`)) as LiveSource;
    await expect(openLiveInput(`udp://@127.0.0.1:${port}`)).rejects.toThrow(`udp://@127.0.0.1:${port}: port ${port} is in use`);
    // Named as the user wrote it (it had said udp://@ for an rtp://@ input).
    await expect(openLiveInput(`rtp://@127.0.0.1:${port}`)).rejects.toThrow(`rtp://@127.0.0.1:${port}: port ${port} is in use`);
    first.close();
    await expect(openLiveInput(`udp://@localhost:${port}`)).rejects.toThrow("must be an IP address");
    await expect(openLiveInput(`udp://127.0.0.1:${port}`)).rejects.toThrow(`write udp://@127.0.0.1:${port}`);
    await expect(openLiveInput(`rtp://@:${port}?ttl=3`)).rejects.toThrow('unknown option "ttl"');
    await expect(openLiveInput(`udp://@127.0.0.1:${port}?source=1.2.3.4`)).rejects.toThrow("multicast group only");
  });
});

describe("tcp://", () => {
  test("tcp://:PORT takes one connection, refuses a second, and ends at its EOF", async () => {
    const port = freeTcpPort();
    const input = await openLiveInput(`tcp://:${port}`);
    const data = crypto.getRandomValues(new Uint8Array(300_000));
    const a = connect({ host: "127.0.0.1", port });
    await new Promise((r) => a.once("connect", r));
    await Bun.sleep(50);
    const refused = await new Promise<boolean>((resolve) => {
      const b = connect({ host: "127.0.0.1", port });
      b.once("error", () => resolve(true));
      b.once("close", () => resolve(true));
      b.once("data", () => resolve(false));
    });
    expect(refused).toBe(true);
    a.end(data);
    const got = await readAll(input, data.length + 1);
    expect(Buffer.from(got).equals(Buffer.from(data))).toBe(true);
    expect(input.read(Buffer.alloc(1), 0, 1)).toBe(SOURCE_END);
    input.close();
  });

  test("tcp://HOST:PORT connects; a refused connection is one line", async () => {
    const port = freeTcpPort();
    const data = crypto.getRandomValues(new Uint8Array(50_000));
    const server = createServer((s) => s.end(data)).listen(port, "127.0.0.1");
    await new Promise((r) => server.once("listening", r));
    const input = await openLiveInput(`tcp://127.0.0.1:${port}`);
    const got = await readAll(input, data.length + 1);
    expect(Buffer.from(got).equals(Buffer.from(data))).toBe(true);
    input.close();
    server.close();
    await expect(openLiveInput(`tcp://127.0.0.1:${freeTcpPort()}`)).rejects.toThrow("connection refused");
  });

  test("tcp://HOST:PORT: a reset from the far end ends the input as a close does, every byte before it kept", async () => {
    const port = freeTcpPort();
    const data = crypto.getRandomValues(new Uint8Array(50_000));
    const server = createServer((s) => s.write(data, () => setTimeout(() => s.resetAndDestroy(), 100))).listen(port, "127.0.0.1");
    await new Promise((r) => server.once("listening", r));
    const input = await openLiveInput(`tcp://127.0.0.1:${port}`);
    const got = await readAll(input, data.length + 1);
    expect(Buffer.from(got).equals(Buffer.from(data))).toBe(true);
    for (const until = Date.now() + 3000; !input.ended && Date.now() < until; ) await Bun.sleep(10);
    expect(input.read(Buffer.alloc(1), 0, 1)).toBe(SOURCE_END);
    expect(input.endNote).toBe("the sender reset the connection");
    input.close();
    server.close();
  });
});
