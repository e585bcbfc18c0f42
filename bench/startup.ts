/**
 * Section 1, start-up: `dist/pacer --version` wall time (median of 20) and
 * the time from spawning `dist/pacer play tone.wav --to rtp://…` to the first
 * datagram at the receiver (median of 10). Both include the spawn itself.
 */
import type { BenchContext, SectionResult } from "./context.ts";
import { toneWav } from "./fixtures.ts";
import { monoNs } from "./clock.ts";
import { runBounded, startReceiver } from "./processes.ts";
import { ROW_ARRIVAL_NS, ROW_FIELDS } from "./receiver.ts";
import { below, formatRows, median, row } from "./stats.ts";

const VERSION_RUNS = 20;
const FIRST_PACKET_RUNS = 10;
const WARMUP_RUNS = 2;
const TONE_SECONDS = 0.3;
const STARTUP_TARGET_MS = 30;
const FIRST_PACKET_TARGET_MS = 20;

export async function benchStartup(ctx: BenchContext): Promise<SectionResult> {
  const versionMs: number[] = [];
  for (let i = 0; i < WARMUP_RUNS + VERSION_RUNS; i++) {
    const t0 = monoNs();
    const r = Bun.spawnSync([ctx.pacer, "--version"], { stdout: "ignore", stderr: "ignore" });
    const ms = (monoNs() - t0) / 1e6;
    if (r.exitCode !== 0) throw new Error(`${ctx.pacer} --version exited ${r.exitCode}`);
    if (i >= WARMUP_RUNS) versionMs.push(ms);
  }

  const wav = toneWav(ctx.dir, "startup_tone.wav", TONE_SECONDS);
  const rx = await startReceiver({ streams: 1, rtp: true, maxSeconds: 60 });
  const spawns: number[] = [];
  for (let i = 0; i < FIRST_PACKET_RUNS; i++) {
    const r = await runBounded([ctx.pacer, "play", wav, "--to", `rtp://127.0.0.1:${rx.ports[0]}`], 10);
    if (r.exitCode !== 0) throw new Error(`pacer play exited ${r.exitCode}: ${r.stderr.trim()}`);
    spawns.push(r.spawnedAtNs);
  }
  const { rows } = await rx.stop();
  const firstPacketMs: number[] = [];
  for (const [i, spawnedAt] of spawns.entries()) {
    const next = spawns[i + 1] ?? Infinity;
    let first = Infinity;
    for (let r = 0; r < rows.length; r += ROW_FIELDS) {
      const at = rows[r + ROW_ARRIVAL_NS]!;
      if (at >= spawnedAt && at < next && at < first) first = at;
    }
    if (first !== Infinity) firstPacketMs.push((first - spawnedAt) / 1e6);
  }
  const startup = median(versionMs);
  const firstPacket = firstPacketMs.length ? median(firstPacketMs) : NaN;
  const rowsOut = [
    below("start-up: pacer --version (median of 20)", startup, STARTUP_TARGET_MS, "ms"),
    row("start-up: min / max", `${Math.min(...versionMs).toFixed(1)} / ${Math.max(...versionMs).toFixed(1)} ms`),
    below("first packet after spawn (median of 10)", firstPacket, FIRST_PACKET_TARGET_MS, "ms"),
    row(
      "first packet: min / max",
      firstPacketMs.length ? `${Math.min(...firstPacketMs).toFixed(1)} / ${Math.max(...firstPacketMs).toFixed(1)} ms` : "n/a",
    ),
  ];
  if (firstPacketMs.length < FIRST_PACKET_RUNS) {
    rowsOut.push(row("runs with no packet seen", String(FIRST_PACKET_RUNS - firstPacketMs.length), "0", false));
  }
  return {
    tables: [formatRows("1. Start-up (dist/pacer; times include spawn)", rowsOut)],
    rows: rowsOut.filter((r) => r.ok !== null),
    figures: { versionMs, firstPacketMs },
  };
}
