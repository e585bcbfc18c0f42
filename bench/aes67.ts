/**
 * Section 7, AES67 (issue 15): a 48 kHz 24-bit stereo tone as RTP L24 in 1 ms packets (1000
 * datagrams a second), sent by `dist/pacer play … --to 'rtp://…?format=s24be:48000:2&ptime=1'`
 * and, in the same run, by GStreamer (`rtpL24pay` with 1 ms packets into `udpsink sync=true`,
 * the usual way to pace RTP with it). One after the other, each to its own kernel-stamped
 * receiver (bench/receiver.ts).
 *
 * Figures per sender: the residual (|arrival − least-squares line of arrival against RTP media
 * time|, evenness alone, as for MPEG), lateness against the timestamps (bench/analysis.ts), the
 * largest burst (most datagrams arriving within any 1 ms; at 1 ms packets an even sender shows
 * 1 or 2), and the sender's CPU. pacer's lead (`ahead`, 20 ms sent at once by design) is left out
 * of the timing figures, as in section 2.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_AUDIO_AHEAD_MS } from "../backends/rtp/rtp.ts";
import { wavHeader } from "../protocol/wav.ts";
import { US_PER_MS } from "../scheduler/clock.ts";
import { rtpLateness } from "./analysis.ts";
import type { BenchContext, SectionResult } from "./context.ts";
import { runBounded, startReceiver, type RunResult } from "./processes.ts";
import { ROW_ARRIVAL_NS, ROW_FIELDS, ROW_TS } from "./receiver.ts";
import { type BenchRow, below, formatRows, lineResiduals, row, spread } from "./stats.ts";

const RATE = 48_000;
const FRAME_BYTES = 6;
const PTIME_MS = 1;
const RESIDUAL_P99_TARGET_MS = 0.5;
const TS_MOD = 2 ** 32;

/** A 997 Hz 24-bit stereo sine at 48 kHz. */
function toneWav24(dir: string, seconds: number): string {
  const frames = seconds * RATE;
  const samples = Buffer.alloc(frames * FRAME_BYTES);
  for (let i = 0; i < frames; i++) {
    const v = Math.round(Math.sin((2 * Math.PI * 997 * i) / RATE) * 4_000_000);
    samples.writeIntLE(v, i * FRAME_BYTES, 3);
    samples.writeIntLE(v, i * FRAME_BYTES + 3, 3);
  }
  const path = join(dir, "aes67_tone.wav");
  writeFileSync(path, Buffer.concat([wavHeader({ encoding: "s24le", rate: RATE, channels: 2 }, samples.length), samples]));
  return path;
}

interface SenderFigures {
  received: number;
  residualMs: ReturnType<typeof spread>;
  latenessMs: ReturnType<typeof spread>;
  largestBurst: number;
  cpuS: number;
}

/** Timing of one stream's rows, leaving out the first `leadUs` of media. */
function figures(rows: Float64Array, leadUs: number, run: RunResult): SenderFigures {
  const n = rows.length / ROW_FIELDS;
  const media: number[] = [];
  const arrivals: number[] = [];
  let ticks = 0;
  let lastTs = -1;
  for (let i = 0; i < n; i++) {
    const ts = rows[i * ROW_FIELDS + ROW_TS]!;
    if (ts < 0) continue;
    if (lastTs >= 0) ticks += (ts - lastTs + TS_MOD) % TS_MOD;
    lastTs = ts;
    if ((ticks / RATE) * 1e6 < leadUs) continue;
    media.push((ticks / RATE) * 1e9);
    arrivals.push(rows[i * ROW_FIELDS + ROW_ARRIVAL_NS]!);
  }
  const residual = lineResiduals(media, arrivals);
  let largestBurst = 0;
  for (let i = 0, j = 0; i < arrivals.length; i++) {
    while (arrivals[i]! - arrivals[j]! >= 1e6) j++;
    largestBurst = Math.max(largestBurst, i - j + 1);
  }
  const { latenessNs } = rtpLateness(rows, 1, RATE, leadUs);
  return {
    received: arrivals.length,
    residualMs: spread(Array.from(residual, (ns) => Math.abs(ns) / 1e6)),
    latenessMs: spread(Array.from(latenessNs, (ns) => ns / 1e6)),
    largestBurst,
    cpuS: run.cpuS,
  };
}

export async function benchAes67(ctx: BenchContext): Promise<SectionResult> {
  const seconds = ctx.quick ? 5 : 20;
  const wav = toneWav24(ctx.dir, seconds);
  const expected = (seconds * 1000) / PTIME_MS;
  const senders: { label: string; leadUs: number; command: (port: number) => string[] }[] = [
    {
      label: "pacer",
      leadUs: DEFAULT_AUDIO_AHEAD_MS * US_PER_MS,
      command: (port) => [ctx.pacer, "play", wav, "--to", `rtp://127.0.0.1:${port}?format=s24be:48000:2&ptime=${PTIME_MS}`],
    },
  ];
  if (Bun.which("gst-launch-1.0")) {
    const ns = PTIME_MS * 1_000_000;
    senders.push({
      label: "GStreamer rtpL24pay sync=true",
      leadUs: 0,
      command: (port) => [
        "gst-launch-1.0", "-q", "filesrc", `location=${wav}`, "!", "wavparse", "!", "audioconvert", "!",
        `audio/x-raw,format=S24BE,rate=${RATE},channels=2`, "!", "rtpL24pay", `min-ptime=${ns}`, `max-ptime=${ns}`, "!",
        "udpsink", "host=127.0.0.1", `port=${port}`, "sync=true",
      ],
    });
  } else {
    ctx.note("aes67: gst-launch-1.0 is not installed; pacer only");
  }
  const rows: BenchRow[] = [];
  const all: Record<string, SenderFigures> = {};
  for (const sender of senders) {
    ctx.note(`aes67: ${sender.label}, ${seconds} s`);
    const rx = await startReceiver({ streams: 1, rtp: true, maxSeconds: seconds + 30, expectedPackets: expected + 100 });
    const run = await runBounded(sender.command(rx.ports[0]!), seconds + 20);
    const { rows: received } = await rx.stop();
    if (run.exitCode !== 0) throw new Error(`${sender.label} exited ${run.exitCode}: ${run.stderr.trim()}`);
    const f = figures(received, sender.leadUs, run);
    all[sender.label] = f;
    const ms = (v: number) => `${v.toFixed(3)} ms`;
    const total = received.length / ROW_FIELDS;
    rows.push(
      sender.label === "pacer"
        ? below(`${sender.label}: residual p99`, f.residualMs.p99, RESIDUAL_P99_TARGET_MS, "ms", 3)
        : row(`${sender.label}: residual p99`, ms(f.residualMs.p99)),
      row(`${sender.label}: residual max`, ms(f.residualMs.max)),
      row(`${sender.label}: lateness p50 / p99 / max`, `${f.latenessMs.p50.toFixed(3)} / ${f.latenessMs.p99.toFixed(3)} / ${f.latenessMs.max.toFixed(3)} ms`),
      row(`${sender.label}: largest burst (datagrams within 1 ms)`, String(f.largestBurst)),
      row(`${sender.label}: datagrams received`, `${total} / ${expected}`, "all", total >= expected),
      row(`${sender.label}: sender CPU`, `${((f.cpuS / seconds) * 60).toFixed(2)} s per min of audio`),
    );
  }
  return {
    tables: [formatRows(`7. AES67: ${seconds} s 48 kHz 24-bit stereo → RTP L24, 1 ms packets (kernel-stamped receiver)`, rows)],
    rows: rows.filter((r) => r.ok !== null),
    figures: all,
  };
}
