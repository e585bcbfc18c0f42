/**
 * Odd but real MPEG input, played with the real CLI to a UDP socket on 127.0.0.1: what goes on
 * the wire, and when. Timing bounds are loose (a shared host): they tell the right schedule from
 * the wrong one, not milliseconds.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ffmpegM2ts, ffmpegTs, haveFfmpeg, makeCbrPs, makeCbrTs, makeGstreamerLikePs, makeRsTs, makeTempDir, makeTrailedTs, markDiscontinuityAt } from "../helpers/mpeg_fixtures.ts";
import { psWriteMpeg2Pack } from "../../protocol/mpegps.ts";
import { runPacer } from "../helpers/pacer.ts";
import { udpReceiver } from "../helpers/udp_receiver.ts";
import { PCR_HZ, TS_SIZE } from "../../protocol/mpegts.ts";

const hasFfmpeg = haveFfmpeg();
const tmp = makeTempDir();
afterAll(() => tmp.cleanup());
/** Time for the last datagrams to cross loopback after pacer exits. */
const SETTLE_MS = 150;

/** `pacer play INPUTS --to udp://` to a receiver here: the run, what arrived, the span first to last, s. */
async function playToReceiver(inputs: string[], stdin?: Uint8Array) {
  // A buffer that holds the whole stream (3.2 Mbit/s at most here): a loaded host may hold this loop.
  const rx = await udpReceiver(0, { rcvbufBytes: 8 << 20 });
  try {
    const run = await runPacer(["play", ...inputs, "--to", `udp://127.0.0.1:${rx.port}`], { stdin });
    await Bun.sleep(SETTLE_MS);
    const packets = [...rx.packets];
    const spanS = packets.length > 0 ? (packets.at(-1)!.atUs - packets[0]!.atUs) / 1e6 : 0;
    return { run, packets, bytes: Buffer.concat(packets.map((p) => p.data)), spanS };
  } finally {
    rx.close();
  }
}

describe("play: odd MPEG-TS input on the wire", () => {
  test("two files joined whose PCR PIDs differ (1 Mbit/s on 0x100, then 3 Mbit/s on 0x200) take their 1.2 s, not 2.4", async () => {
    const a = makeCbrTs({ bitrate: 1_000_000, duration: 0.6, pcrPid: 0x100 });
    const b = makeCbrTs({ bitrate: 3_000_000, duration: 0.6, pcrPid: 0x200, payloadPid: 0x201, firstPcr: 900 * PCR_HZ });
    const path = join(tmp.dir, "joined.ts");
    const joined = Buffer.concat([a, b]);
    writeFileSync(path, joined);
    const { run, bytes, spanS } = await playToReceiver([path]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(bytes.equals(joined)).toBe(true);
    // 1.2 s of content; at the first file's rate throughout it took 0.6 + 1.8 s.
    expect(spanS).toBeGreaterThan(0.9);
    expect(spanS).toBeLessThan(1.8);
  });

  test("a sequence, play b.ts a.ts (3 Mbit/s on PCR PID 0x200, then 1 Mbit/s on 0x100), takes 1.2 s: the second went at the first's rate, in 0.8", async () => {
    const b = makeCbrTs({ bitrate: 3_000_000, duration: 0.6, pcrPid: 0x200, payloadPid: 0x201, firstPcr: 900 * PCR_HZ });
    const a = makeCbrTs({ bitrate: 1_000_000, duration: 0.6, pcrPid: 0x100 });
    const first = join(tmp.dir, "seq_b.ts");
    const second = join(tmp.dir, "seq_a.ts");
    writeFileSync(first, b);
    writeFileSync(second, a);
    const { run, bytes, spanS } = await playToReceiver([first, second]);
    expect(run.code).toBe(0);
    expect(bytes.equals(Buffer.concat([b, a]))).toBe(true);
    expect(spanS).toBeGreaterThan(1.0);
    expect(spanS).toBeLessThan(1.8);
  });

  test("packets cut short (bytes removed from the file) are left out as garbage, and each next packet arrives whole: inside a load and across one", async () => {
    const ts = Buffer.from(makeCbrTs({ bitrate: 4_000_000, duration: 0.4 }));
    const packet = (k: number) => ts.subarray(k * 188, (k + 1) * 188);
    // Packet 40 keeps its first 100 bytes; packet 697 its first 150, which in the cut file (88 bytes
    // shorter by then) run from 130,948 across 131,072, where play's first 128 KiB load ends.
    const cuts = [{ k: 40, kept: 100 }, { k: 697, kept: 150 }];
    const parts: Buffer[] = [];
    let from = 0;
    for (const { k, kept } of cuts) {
      parts.push(ts.subarray(from, k * 188 + kept));
      from = (k + 1) * 188;
    }
    const path = join(tmp.dir, "cut.ts");
    writeFileSync(path, Buffer.concat([...parts, ts.subarray(from)]));
    const { run, packets, bytes } = await playToReceiver([path]);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe(`pacer: warn: ${path}: 100 bytes at byte 7520 are not MPEG-TS packets; skipped, so datagrams stay packet-aligned\n` +
      `pacer: warn: ${path}: 250 bytes of garbage skipped in 2 places\n`);
    for (const p of packets) {
      expect(p.data.length % 188).toBe(0);
      for (let at = 0; at < p.data.length; at += 188) expect(p.data[at]).toBe(0x47);
    }
    // Each next packet as the source has it; it went out with its first 88 (38) bytes behind the cut one's.
    for (const { k } of cuts) expect(bytes.indexOf(packet(k + 1))).toBeGreaterThan(0);
    const whole = Buffer.concat([ts.subarray(0, 40 * 188), ts.subarray(41 * 188, 697 * 188), ts.subarray(698 * 188)]);
    expect(bytes.equals(whole)).toBe(true);
  });

  test("40 Mbit/s with PCRs 100 ms apart (500 KB between them, as ffmpeg's 80 ms are at 60 Mbit/s) plays, paced by them, from a file and a pipe: it was refused, 'only one PCR in the first 256 KiB'", async () => {
    const fast = makeCbrTs({ bitrate: 40_000_000, duration: 0.6, pcrIntervalMs: 100 });
    const path = join(tmp.dir, "fast_sparse.ts");
    writeFileSync(path, fast);
    const out = join(tmp.dir, "fast_sparse.out");
    const started = Bun.nanoseconds();
    const run = await runPacer(["play", path, "--to", `file:${out}`]);
    const seconds = (Bun.nanoseconds() - started) / 1e9;
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(readFileSync(out).equals(fast)).toBe(true);
    // Paced: the 3 MB take their 0.6 s (their last PCR is at 0.5 s), not the moment a copy takes.
    expect(seconds).toBeGreaterThan(0.45);
    // The same piped in (cat fast_sparse.ts | pacer play -).
    const piped = await runPacer(["play", "-", "--to", `file:${out}`], { stdin: fast });
    expect(piped.stderr).toBe("");
    expect(piped.code).toBe(0);
    expect(readFileSync(out).equals(fast)).toBe(true);
  });

  test("PCRs that give no rate (1.2 s apart; a single one) are refused naming that, not as 'no PCR', and naming how much was looked in; nothing is sent", async () => {
    // 3 s at 500 kbit/s is 183 KiB: all of it was looked in (a 367 KiB file was said to have none
    // "in the first 2048 KiB"); 45 s, 2.8 MB, is looked in as far as 2 MiB.
    const kib = (seconds: number, pcrIntervalMs: number) => Math.round(makeCbrTs({ bitrate: 500_000, duration: seconds, pcrIntervalMs }).length / 1024);
    const cases = [
      { pcrIntervalMs: 1200, seconds: 3, says: `the 3 PCRs in all ${kib(3, 1200)} KiB of it give no rate: each is more than 1 s after the one before, behind it, or marked a discontinuity (the standard has them at most 100 ms apart)` },
      { pcrIntervalMs: 5000, seconds: 3, says: `only one PCR in all ${kib(3, 5000)} KiB of it` },
      { pcrIntervalMs: 7000, seconds: 6, says: `only one PCR in all ${kib(6, 7000)} KiB of it` }, // past the first 256 KiB
      { pcrIntervalMs: 40_000, seconds: 45, says: "only one PCR in the first 2048 KiB" },
    ];
    for (const { pcrIntervalMs, seconds, says } of cases) {
      const path = join(tmp.dir, `sparse_${pcrIntervalMs}.ts`);
      writeFileSync(path, makeCbrTs({ bitrate: 500_000, duration: seconds, pcrIntervalMs }));
      const { run, packets } = await playToReceiver([path]);
      expect(run.code).toBe(1);
      expect(run.stderr).toBe(`pacer: error: ${path}: ${says}, nothing to pace by; give --bitrate\n`);
      expect(packets.length).toBe(0);
    }
  });
});

describe("play --start in a TS", () => {
  test("--start in the last packet's time sends that packet, as a play from the start ends with it (it was skipped as garbage: nothing went out)", async () => {
    // A PCR in every packet, so the search lands on the packet asked for.
    const ts = Buffer.from(makeCbrTs({ bitrate: 1_000_000, duration: 0.3, pcrIntervalMs: 1 }));
    const path = join(tmp.dir, "end.ts");
    writeFileSync(path, ts);
    const lastAt = ts.length - TS_SIZE;
    const lastS = lastAt / 125_000;
    const whole = await playToReceiver([path]);
    expect(whole.bytes.equals(ts)).toBe(true);
    for (const [start, from] of [[lastS + 0.0005, lastAt], [lastS - 0.001, lastAt - TS_SIZE]] as const) {
      const { run, bytes } = await playToReceiver([path, "--start", start.toFixed(4)]);
      expect(run.stderr).toBe("");
      expect(run.code).toBe(0);
      expect(bytes.equals(ts.subarray(from))).toBe(true);
    }
    // Past the end, the clear error as before.
    const past = await playToReceiver([path, "--start", "0.31"]);
    expect(past.run.code).toBe(1);
    expect(past.run.stderr).toBe(`pacer: error: start 0.31 s: ${path} is only 0.299 s long, so nothing would play\n`);
    expect(past.packets.length).toBe(0);
  });

  test("--start after a flagged forward step under a second begins where a play from the start is at that time (it began 0.6 s early)", async () => {
    // 1 s, then 1 s whose clock starts 0.6 s on, flagged: play times the step as its bytes.
    const first = makeCbrTs({ bitrate: 1_000_000, duration: 1 });
    const second = makeCbrTs({ bitrate: 1_000_000, duration: 1, firstPcr: 11.6 * PCR_HZ });
    markDiscontinuityAt(second, 0);
    const ts = Buffer.concat([first, second]);
    const path = join(tmp.dir, "flagged.ts");
    writeFileSync(path, ts);
    const started = await playToReceiver([path, "--start", "1.8"]);
    expect(started.run.code).toBe(0);
    const from = ts.length - started.bytes.length;
    expect(started.bytes.equals(ts.subarray(from))).toBe(true);
    // When the whole play sent that byte, from its first datagram.
    const whole = await playToReceiver([path]);
    expect(whole.bytes.equals(ts)).toBe(true);
    let sent = 0;
    const at = whole.packets.find((p) => (sent += p.data.length) > from)!;
    const reachedS = (at.atUs - whole.packets[0]!.atUs) / 1e6;
    expect(reachedS).toBeGreaterThan(1.65); // counting the step as time it was 1.2 s
    expect(reachedS).toBeLessThan(1.95);
  });
});

describe.skipIf(!hasFfmpeg)("192-byte units: TS with trailers, and M2TS", () => {
  test("a TS whose packets each have a 4-byte trailer after them (sync at 0 of each unit) plays as that TS, trailers stripped, and ffprobe reads what arrives; an M2TS (sync 4 bytes in) is still M2TS", async () => {
    const ts = readFileSync(ffmpegTs(tmp.dir, 1));
    const path = join(tmp.dir, "trailers.ts");
    writeFileSync(path, makeTrailedTs(ts, (k) => Math.imul(k + 1, 2654435761)));
    const probe = await runPacer(["probe", path]);
    expect(probe.code).toBe(0);
    // It was: container: m2ts, its first packet 188 bytes of garbage, the trailers taken for stamps.
    expect(probe.stdout).toMatch(/^container: mpegts \(188-byte packets each followed by a 4-byte trailer; sent as 188-byte TS\)$/m);
    expect(probe.stdout).not.toMatch(/^(garbage|arrival):/m);
    const { run, packets, bytes } = await playToReceiver([path]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    for (const p of packets) expect(p.data.length % 188).toBe(0);
    expect(bytes.equals(ts)).toBe(true);
    const received = join(tmp.dir, "trailers_received.ts");
    writeFileSync(received, bytes);
    const ffprobe = Bun.spawnSync(["ffprobe", "-v", "error", "-show_entries", "format=format_name:stream=codec_name", "-of", "json", received]);
    expect(ffprobe.stderr.toString()).toBe("");
    const seen = JSON.parse(ffprobe.stdout.toString());
    expect(seen.format.format_name).toBe("mpegts");
    expect(seen.streams.map((x: { codec_name: string }) => x.codec_name)).toEqual(["mpeg2video"]);
    const m2tsProbe = await runPacer(["probe", ffmpegM2ts(tmp.dir, 1)]);
    expect(m2tsProbe.stdout).toMatch(/^container: m2ts /m);
  });
});

describe("204-byte units: TS with Reed-Solomon parity", () => {
  test("a DVB-ASI capture's 204-byte packets play as their TS, parity stripped, paced by the PCRs, from a file and a pipe, and probe says so: it was 'no MPEG-TS packets found'", async () => {
    const ts = makeCbrTs({ bitrate: 2_000_000, duration: 1 });
    const rs = makeRsTs(ts);
    const path = join(tmp.dir, "asi.ts");
    writeFileSync(path, rs);
    const probe = await runPacer(["probe", path]);
    expect(probe.code).toBe(0);
    expect(probe.stdout).toMatch(/^container: mpegts \(204-byte packets: 188 and 16 bytes of Reed-Solomon parity; sent as 188-byte TS\)$/m);
    expect(probe.stdout).toMatch(/^duration:\s+1\.0\d\d s$/m);
    expect(probe.stdout).not.toMatch(/^garbage:/m);
    for (const [inputs, stdin] of [[[path]], [["-"], rs]] as const) {
      const { run, packets, bytes, spanS } = await playToReceiver([...inputs], stdin);
      expect(run.stderr).toBe("");
      expect(run.code).toBe(0);
      for (const p of packets) expect(p.data.length % 188).toBe(0);
      expect(bytes.equals(ts)).toBe(true);
      expect(spanS).toBeGreaterThan(0.8);
      expect(spanS).toBeLessThan(1.3);
    }
  });
});

describe("play and probe: odd MPEG-PS input", () => {
  test("a PS whose packs all say SCR 0 plays at its mux rate, and probe's duration says so (it said 0.016 s)", async () => {
    const ps = makeCbrPs({ muxRate: 125_000, duration: 1.5 });
    for (let at = 0; at < ps.length; at += 2048) psWriteMpeg2Pack(ps, at, 0, 125_000);
    const path = join(tmp.dir, "scr0.mpg");
    writeFileSync(path, ps);
    const probe = await runPacer(["probe", path]);
    expect(probe.code).toBe(0);
    const duration = Number(probe.stdout.match(/^duration:\s+([\d.]+) s$/m)?.[1]);
    expect(duration).toBeCloseTo(1.5, 1);
    const { run, packets, spanS } = await playToReceiver([path]);
    expect(run.code).toBe(0);
    expect(packets.reduce((n, p) => n + p.data.length, 0)).toBe(ps.length);
    expect(spanS).toBeGreaterThan(1.2);
    expect(spanS).toBeLessThan(2.5);
  });

  test("GStreamer's PS (3.2 Mbit/s, SCRs 0.7 s apart, program_mux_rate 409600 bit/s) takes its 1.5 s from a file and a pipe: its head went at the mux rate, and the file took 11.7 s", async () => {
    const ps = makeGstreamerLikePs({ muxRate: 400_000, duration: 1.5, scrEvery: 0.7 });
    const path = join(tmp.dir, "gst.mpg");
    writeFileSync(path, ps);
    for (const [inputs, stdin] of [[[path]], [["-"], ps]] as const) {
      const { run, bytes, spanS } = await playToReceiver([...inputs], stdin);
      expect(run.stderr).toBe("");
      expect(run.code).toBe(0);
      expect(bytes.equals(ps)).toBe(true);
      // The last SCR is at 1.4 s; the bytes after it go at the rate before.
      expect(spanS).toBeGreaterThan(1.2);
      expect(spanS).toBeLessThan(1.9);
    }
  });
});

describe("a name that says the other MPEG", () => {
  test("a TS named .mpg (a recorder's name for it) plays as TS, paced by its PCRs, in whole packets; a PS named .ts is PS", async () => {
    const ts = makeCbrTs({ bitrate: 1_000_000, duration: 0.8 });
    const path = join(tmp.dir, "recording.mpg");
    writeFileSync(path, ts);
    const { run, packets, bytes, spanS } = await playToReceiver([path]);
    // It was: no SCR or mux rate to pace by in the first 256 KiB; give --bitrate.
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(bytes.equals(Buffer.from(ts))).toBe(true);
    for (const p of packets.slice(0, -1)) expect(p.data.length).toBe(7 * 188);
    expect(spanS).toBeGreaterThan(0.5);
    expect(spanS).toBeLessThan(1.3);
    const psPath = join(tmp.dir, "program.ts");
    writeFileSync(psPath, makeCbrPs({ muxRate: 125_000, duration: 1 }));
    const probe = await runPacer(["probe", psPath]);
    expect(probe.code).toBe(0);
    expect(probe.stdout).toMatch(/^container: mpegps/m);
  });

  test("a PS named .mpg stays PS where bytes before its first pack happen to look like TS (a cut file)", async () => {
    // Three sync bytes a TS packet apart, as chance puts in other data, then the packs.
    const lookalike = Buffer.alloc(3 * 188 + 4);
    for (const at of [0, 188, 376]) lookalike[at] = 0x47;
    const path = join(tmp.dir, "cut.mpg");
    writeFileSync(path, Buffer.concat([lookalike, makeCbrPs({ muxRate: 125_000, duration: 1 })]));
    const probe = await runPacer(["probe", path]);
    expect(probe.code).toBe(0);
    expect(probe.stdout).toMatch(/^container: mpegps/m);
  });
});
