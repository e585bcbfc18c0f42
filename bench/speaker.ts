/**
 * Section 10, the speaker (issue 11): a real `pacer serve` with `[speaker] output = rtp://…`,
 * received by the kernel-stamped bench receiver. Three figures:
 *
 *   - queue → first packet: `queue` on an idle speaker, from the request's sending to the first
 *     datagram's arrival (three times, each after the speaker went idle);
 *   - track boundaries: tracks of three formats (44.1 kHz 16-bit stereo, 48 kHz 24-bit stereo,
 *     22.05 kHz 16-bit mono: two of them resampled) queued back to back; the arrival gap around
 *     each boundary's packet against the steady state's gaps (p99 and largest) in the same run;
 *   - pause latency: from the `pause` request's sending to the last datagram's arrival (three
 *     times, resumed between); the target is the lead (20 ms) plus 10 ms.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ControlClient } from "../client/control_client.ts";
import { DEFAULT_AUDIO_AHEAD_MS, DEFAULT_L16_PKT } from "../backends/rtp/rtp.ts";
import { wavTrack } from "../tests/e2e/speaker_fixture.ts";
import { freeUdpPort } from "../tests/helpers/ports.ts";
import { monoNs } from "./clock.ts";
import type { BenchContext, SectionResult } from "./context.ts";
import { startReceiver } from "./processes.ts";
import { ROW_ARRIVAL_NS, ROW_FIELDS, ROW_TS } from "./receiver.ts";
import { type BenchRow, below, fmt, formatRows, formatTable, quantile, sortedCopy } from "./stats.ts";
import { startServeBench } from "./serve_bench.ts";

const RATE = 44_100;
const FRAMES_PER_PACKET = Math.floor(DEFAULT_L16_PKT / 4);
const TRACK_FORMATS = ["s16le:44100:2", "s24le:48000:2", "s16le:22050:1"];
const PAUSE_TARGET_MS = DEFAULT_AUDIO_AHEAD_MS + 10;
const FIRST_PACKET_TARGET_MS = 100;
const TRIES = 3;

/** Frames a track of `seconds` in `spec` becomes at 44.1 kHz (the resampler keeps every frame's time). */
function outputFrames(spec: string, seconds: number): number {
  const rate = Number(spec.split(":")[1]);
  return Math.ceil((Math.round(rate * seconds) * RATE) / rate);
}

export async function benchSpeaker(ctx: BenchContext): Promise<SectionResult> {
  const trackSeconds = ctx.quick ? 1.5 : 3;
  const rounds = ctx.quick ? 1 : 2;
  const dir = mkdtempSync(join(tmpdir(), "pacer-bench-speaker-"));
  chmodSync(dir, 0o755);
  const media = join(dir, "media");
  mkdirSync(media, { mode: 0o755 });
  const tracks: { name: string; spec: string }[] = [];
  for (let r = 0; r < rounds; r++) {
    TRACK_FORMATS.forEach((spec, i) => {
      const name = `t${r}${i}.wav`;
      wavTrack(media, name, spec, trackSeconds, 300 + 110 * i);
      tracks.push({ name, spec });
    });
  }
  wavTrack(media, "short.wav", "s16le:44100:2", 0.3, 440);
  wavTrack(media, "long.wav", "s16le:44100:2", 2 + TRIES * 1.2, 440);
  const controlPort = await freeUdpPort();
  const rx = await startReceiver({ streams: 1, rtp: true, maxSeconds: 120 });
  writeFileSync(
    join(dir, "pacer.toml"),
    [`control = "127.0.0.1:${controlPort}"`, `media_root = "${media}"`, "[speaker]", `output = "rtp://127.0.0.1:${rx.ports[0]}"`, "buffer_seconds = 2"].join("\n") + "\n",
  );
  const { close } = await startServeBench(ctx, join(dir, "pacer.toml"), 0);
  const client = await ControlClient.open(`127.0.0.1:${controlPort}`);
  const request = async (op: "queue" | "pause" | "resume" | "status", args: Record<string, unknown> = {}) => {
    const reply = await client.request(op, args, { ttlMs: 3000 });
    if (!reply.ok) throw new Error(`${op}: ${reply.error.code} ${reply.error.message ?? ""}`);
    return reply.result as { speaker?: { state: string; finished: { id: string }[] } };
  };
  const finished = async (id: string) => (await request("status")).speaker?.finished.some((t) => t.id === id) ?? false;
  const waitFinished = async (id: string) => {
    const deadline = Date.now() + 60_000;
    while (!(await finished(id))) {
      if (Date.now() > deadline) throw new Error("the speaker did not finish its queue in time");
      await Bun.sleep(20);
    }
  };
  const queuedAt: number[] = [];
  const pausedAt: number[] = [];
  let boundaryFirstNs = 0;
  let boundaryLastNs = 0;
  try {
    ctx.note("speaker: queue on an idle speaker, to the first packet");
    for (let i = 0; i < TRIES; i++) {
      await Bun.sleep(300); // idle
      queuedAt.push(monoNs());
      await request("queue", { path: "short.wav", id: `short${i}` });
      await waitFinished(`short${i}`);
    }
    ctx.note(`speaker: ${tracks.length} tracks back to back`);
    await Bun.sleep(300);
    boundaryFirstNs = monoNs();
    for (const t of tracks) await request("queue", { path: t.name, id: t.name });
    await waitFinished(tracks.at(-1)!.name);
    boundaryLastNs = monoNs();
    ctx.note("speaker: pause latency");
    await Bun.sleep(300);
    await request("queue", { path: "long.wav", id: "long" });
    await Bun.sleep(1000);
    for (let i = 0; i < TRIES; i++) {
      pausedAt.push(monoNs());
      await request("pause");
      await Bun.sleep(400);
      await request("resume");
      await Bun.sleep(800);
    }
    await waitFinished("long");
  } finally {
    client.close();
    await close();
  }
  const { rows } = await rx.stop();
  rmSync(dir, { recursive: true, force: true });
  const n = rows.length / ROW_FIELDS;
  const at = (i: number) => rows[i * ROW_FIELDS + ROW_ARRIVAL_NS]!;
  const ts = (i: number) => rows[i * ROW_FIELDS + ROW_TS]!;

  const firstPacketMs = queuedAt.map((t) => {
    let i = 0;
    while (i < n && at(i) < t) i++;
    return i < n ? (at(i) - t) / 1e6 : NaN;
  });
  const pauseMs = pausedAt.map((t) => {
    let last = NaN;
    for (let i = 0; i < n && at(i) < t + 300e6; i++) last = at(i);
    return (last - t) / 1e6;
  });

  // The boundary run's packets, and each boundary's packet by its RTP timestamp.
  const run: number[] = [];
  for (let i = 0; i < n; i++) if (at(i) >= boundaryFirstNs && at(i) <= boundaryLastNs) run.push(i);
  const ts0 = ts(run[0]!);
  let cumulative = 0;
  const boundaryPackets = new Set<number>();
  for (const t of tracks.slice(0, -1)) {
    cumulative += outputFrames(t.spec, trackSeconds);
    const k = run.findIndex((i) => ((ts(i) - ts0) >>> 0) + FRAMES_PER_PACKET > cumulative);
    if (k > 0) boundaryPackets.add(k);
  }
  const gaps: number[] = [];
  const boundaryGaps: number[] = [];
  // From packet 20 on: the first ones go out at once (the lead).
  for (let k = 20; k < run.length; k++) {
    const gap = (at(run[k]!) - at(run[k - 1]!)) / 1e6;
    if (boundaryPackets.has(k) || boundaryPackets.has(k - 1)) boundaryGaps.push(gap);
    else gaps.push(gap);
  }
  const steady = sortedCopy(gaps);
  const steadyP99 = quantile(steady, 0.99);
  const steadyMax = steady[steady.length - 1] ?? NaN;
  const boundaryMax = Math.max(...boundaryGaps);
  const table = formatTable(
    `10. Speaker over RTP: ${tracks.length} tracks of ${trackSeconds} s in ${TRACK_FORMATS.join(", ")} back to back; queue on idle and pause ${TRIES} times each`,
    ["figure", "value", "beside"],
    [
      ["queue on idle → first packet", `${firstPacketMs.map((v) => fmt(v, 1)).join(" / ")} ms`, "-"],
      ["arrival gap around the track boundaries (largest)", `${fmt(boundaryMax, 2)} ms (${boundaryGaps.length} gaps)`, `steady state p99 ${fmt(steadyP99, 2)} ms, largest ${fmt(steadyMax, 2)} ms (${steady.length} gaps; nominal ${fmt((FRAMES_PER_PACKET / RATE) * 1000, 2)} ms)`],
      ["pause request → last packet (below 0: none left after the request)", `${pauseMs.map((v) => fmt(v, 1)).join(" / ")} ms`, `lead ${DEFAULT_AUDIO_AHEAD_MS} ms`],
    ],
  );
  const rows_: BenchRow[] = [
    below("speaker: largest arrival gap at a track boundary (vs the steady state's largest)", boundaryMax, Number(steadyMax.toFixed(2)), "ms", 2),
    below("speaker: pause request → last packet, worst", Math.max(...pauseMs), PAUSE_TARGET_MS, "ms", 1),
    below("speaker: queue on idle → first packet, worst", Math.max(...firstPacketMs), FIRST_PACKET_TARGET_MS, "ms", 1),
  ];
  return { tables: [table, formatRows("10. Speaker: targets", rows_)], rows: rows_, figures: { firstPacketMs, pauseMs, boundaryGaps, steadyP99, steadyMax } };
}
