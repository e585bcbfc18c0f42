/**
 * Section 2, audio pacing (issue 2): a 44.1 kHz stereo WAV played by
 * `dist/pacer play` to RTP L16, as one stream, as 8 outputs of one process,
 * and as 8 processes at once. Lateness is measured by the receiver against
 * the RTP timestamps (see bench/analysis.ts for the method).
 */
import { DEFAULT_AUDIO_AHEAD_MS, DEFAULT_L16_PKT } from "../backends/rtp/rtp.ts";
import { bytesPerFrame, parseSampleFormat } from "../protocol/sample_format.ts";
import { US_PER_MS } from "../scheduler/clock.ts";
import { rtpLateness } from "./analysis.ts";
import type { BenchContext, SectionResult } from "./context.ts";
import { TONE_FORMAT, toneWav } from "./fixtures.ts";
import { runBounded, startReceiver, type RunResult } from "./processes.ts";
import { type BenchRow, below, formatRows, row, spread } from "./stats.ts";

const TONE = parseSampleFormat(TONE_FORMAT);
const RATE = TONE.rate;
/** pacer's default rtp:// lead: that much goes out at once at the start. */
const RTP_AUDIO_LEAD_US = DEFAULT_AUDIO_AHEAD_MS * US_PER_MS;
/** pacer's default L16 payload: whole frames in DEFAULT_L16_PKT bytes. */
const FRAMES_PER_PACKET = Math.floor(DEFAULT_L16_PKT / bytesPerFrame(TONE));
const P99_TARGET_MS = 0.5;
const CONCURRENT = 8;

interface Scenario {
  label: string;
  /** Outputs per process, and processes. */
  outputs: number;
  processes: number;
}

export async function benchAudio(ctx: BenchContext): Promise<SectionResult> {
  const seconds = ctx.quick ? 3 : 10;
  const wav = toneWav(ctx.dir, "audio_tone.wav", seconds);
  const expected = Math.ceil((seconds * RATE) / FRAMES_PER_PACKET);
  const scenarios: Scenario[] = [
    { label: "1 stream", outputs: 1, processes: 1 },
    { label: `${CONCURRENT} outputs, 1 process`, outputs: CONCURRENT, processes: 1 },
    { label: `${CONCURRENT} processes`, outputs: 1, processes: CONCURRENT },
  ];
  const rows: BenchRow[] = [];
  const figures: Record<string, unknown> = {};
  for (const sc of scenarios) {
    ctx.note(`audio: ${sc.label}, ${seconds} s`);
    const streams = sc.outputs * sc.processes;
    const rx = await startReceiver({ streams, rtp: true, maxSeconds: seconds + 30, expectedPackets: streams * expected });
    const runs: Promise<RunResult>[] = [];
    for (let p = 0; p < sc.processes; p++) {
      const ports = rx.ports.slice(p * sc.outputs, (p + 1) * sc.outputs);
      const to = ports.flatMap((port) => ["--to", `rtp://127.0.0.1:${port}`]);
      runs.push(runBounded([ctx.pacer, "play", wav, ...to], seconds + 20));
    }
    const results = await Promise.all(runs);
    const { rows: received } = await rx.stop();
    for (const r of results) if (r.exitCode !== 0) throw new Error(`pacer play exited ${r.exitCode}: ${r.stderr.trim()}`);
    const a = rtpLateness(received, streams, RATE, RTP_AUDIO_LEAD_US);
    const ms = spread(Array.from(a.latenessNs, (ns) => ns / 1e6));
    const got = a.received.reduce((x, y) => x + y, 0);
    const cpuS = results.reduce((x, r) => x + r.cpuS, 0);
    rows.push(
      below(`${sc.label}: lateness p99`, ms.p99, P99_TARGET_MS, "ms", 3),
      row(`${sc.label}: lateness p50 / max`, `${ms.p50.toFixed(3)} / ${ms.max.toFixed(3)} ms`),
      row(`${sc.label}: datagrams received`, `${got} / ${expected * streams}`, "all", got === expected * streams),
      row(`${sc.label}: sender CPU`, `${((cpuS / seconds) * 60).toFixed(2)} s per min of audio (all streams)`),
    );
    figures[sc.label] = { latencyMs: ms, received: got, expected: expected * streams, cpuS };
  }
  return {
    tables: [formatRows(`2. Audio pacing: ${seconds} s 44.1 kHz stereo WAV → rtp:// (receiver-side lateness)`, rows)],
    rows: rows.filter((r) => r.ok !== null),
    figures,
  };
}
