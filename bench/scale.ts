/**
 * Section 6, scale (issue 14): one `pacer play` job to N destinations of 1.5 Mbit/s, with its
 * three send paths side by side in the same run, alternating: "threads" (sender threads,
 * `--senders auto`: cores minus one, each batching with sendmmsg), "batched" (sendmmsg on the
 * main thread, the default) and "socket" (a connected socket per destination on the main
 * thread, `PACER_SEND=socket`).
 *
 * For each: datagrams lost, the residual p99 (evenness against a least-squares line, as for one
 * stream in section 3a) at three sampled receivers (the first, middle and last destination; all
 * receivers live in the bench receiver's process), pacer's CPU seconds per stream-minute, and its
 * peak memory per stream. Beside them, with the same receiver, a C loop that sends the same
 * datagrams with sendmmsg and clock_nanosleep (bench/peers/paced_sendmmsg.c, built with gcc where
 * there is one): what this host's kernel costs with nothing above it, and how even it can be.
 *
 * @example
 * ```sh
 * npm run bench -- --only scale --streams 500,1000
 * ```
 */
import { statSync } from "node:fs";
import { join } from "node:path";
import { BATCH_WINDOW_US } from "../backends/net/send_batcher.ts";
import { cbrStream } from "./analysis.ts";
import type { BenchContext, SectionResult } from "./context.ts";
import { cbrTs } from "./fixtures.ts";
import { runBounded, startReceiver, udpRcvbufErrors } from "./processes.ts";
import { type BenchRow, below, fmt, formatRows, formatTable, row, spread } from "./stats.ts";

const TS_DATAGRAM = 1316;
const RATE = 1_500_000;
const RUN_SLACK_S = 15;
const RSS_SAMPLE_MS = 200;
/** Issue 14's targets at 1000 destinations on these 2-core machines. */
const RESIDUAL_TARGET_MS = 1;
const CPU_TARGET_S_PER_MIN = 0.04;
const PER_STREAM_TARGET_KIB = 300;

type Mode = "threads" | "batched" | "socket" | "C reference";

/** What each mode sets in pacer's environment. */
const MODE_ENV: Record<Mode, Record<string, string>> = {
  threads: { PACER_SEND: "batched", PACER_SENDERS: "auto" },
  batched: { PACER_SEND: "batched", PACER_SENDERS: "0" },
  socket: { PACER_SEND: "socket", PACER_SENDERS: "0" },
  // Staggered as one job's outputs are, with pacer's window and wake rule: the same sends, from C.
  "C reference": { STAGGER: "1", WINDOW_US: String(BATCH_WINDOW_US) },
};
/** The C reference sender (this host's kernel and nothing above it), built here with gcc. */
const PEER_SOURCE = join(import.meta.dir, "peers", "paced_sendmmsg.c");

/** Builds the C reference into `dir`; null (and a note) where gcc cannot. */
function buildPeer(ctx: BenchContext): string | null {
  const out = join(ctx.dir, "paced_sendmmsg");
  if (!Bun.which("gcc")) {
    ctx.note("scale: no gcc, so no C reference rows");
    return null;
  }
  const built = Bun.spawnSync(["gcc", "-O2", "-o", out, PEER_SOURCE], { stderr: "pipe" });
  if (built.exitCode === 0) return out;
  ctx.note(`scale: the C reference did not build: ${built.stderr.toString().trim().split("\n")[0]}`);
  return null;
}

interface ScaleFigures {
  mode: Mode;
  window: string;
  streams: number;
  status: string;
  lost: number;
  expected: number;
  rcvbufDrops: number;
  /** Residual p99 at the first, middle and last destination, ms. */
  residualP99Ms: number[];
  cpuPerStreamMin: number;
  cpuShare: number;
  perStreamKiB: number;
}

async function run(ctx: BenchContext, mode: Mode, path: string, n: number, seconds: number, baselineRss: number, windowUs?: number, peer?: string): Promise<ScaleFigures> {
  const window = mode === "socket" ? "-" : mode === "C reference" ? `${BATCH_WINDOW_US} µs` : windowUs === undefined ? `${BATCH_WINDOW_US} µs (default)` : `${windowUs} µs`;
  ctx.note(`scale: ${n} destinations, ${mode}${mode !== "socket" ? `, window ${window}` : ""}, ${seconds} s`);
  const perStream = Math.ceil(statSync(path).size / TS_DATAGRAM);
  const rx = await startReceiver({ streams: n, rtp: false, maxSeconds: seconds + RUN_SLACK_S + 10, expectedPackets: n * perStream });
  const args = rx.ports.flatMap((p) => ["--to", `udp://127.0.0.1:${p}`]);
  const dropsBefore = udpRcvbufErrors();
  const env: Record<string, string> = { ...MODE_ENV[mode] };
  if (windowUs !== undefined) env.PACER_BATCH_WINDOW_US = String(windowUs);
  const interval = String(Math.round((TS_DATAGRAM * 8 * 1e9) / RATE));
  const cmd = peer ? [peer, path, String(TS_DATAGRAM), interval, ...rx.ports.map(String)] : [ctx.pacer, "play", path, ...args];
  const result = await runBounded(cmd, seconds + RUN_SLACK_S, RSS_SAMPLE_MS, env);
  const { rows } = await rx.stop();
  const status = result.timedOut ? `stopped at ${seconds + RUN_SLACK_S} s` : result.exitCode !== 0 ? `exit ${result.exitCode}: ${result.stderr.trim().split("\n").pop()?.slice(0, 80) ?? ""}` : "ok";
  let received = 0;
  const counts = new Float64Array(n);
  for (let i = 0; i < rows.length; i += 5) counts[rows[i]!]!++;
  for (const c of counts) received += c;
  const sampled = [0, Math.floor(n / 2), n - 1];
  return {
    mode,
    window,
    streams: n,
    status,
    lost: n * perStream - received,
    expected: n * perStream,
    rcvbufDrops: udpRcvbufErrors() - dropsBefore,
    residualP99Ms: sampled.map((s) => spread(Array.from(cbrStream(rows, s).residualNs, (ns) => ns / 1e6)).p99),
    cpuPerStreamMin: (result.cpuS / seconds) * 60 / n,
    cpuShare: result.cpuS / result.wallS,
    perStreamKiB: (result.sampledRssBytes - baselineRss) / n / 1024,
  };
}

export async function benchScale(ctx: BenchContext): Promise<SectionResult> {
  const seconds = ctx.quick ? 8 : 20;
  const counts = ctx.streams ?? (ctx.quick ? [500] : [500, 1000, 1500]);
  const windows = process.env.PACER_BENCH_WINDOWS?.split(",").map(Number).filter(Number.isInteger) ?? [];
  const input = cbrTs(ctx.dir, RATE, seconds);
  const figures: ScaleFigures[] = [];
  // Memory per stream is the peak RSS above that of one destination playing for a few seconds.
  const shortInput = cbrTs(`${ctx.dir}`, RATE / 2, 3);
  const baseline = await runBounded([ctx.pacer, "play", shortInput.path, "--to", "udp://127.0.0.1:9"], 30, RSS_SAMPLE_MS);
  const baselineRss = baseline.sampledRssBytes;
  const peer = buildPeer(ctx);
  for (const n of counts) {
    // Side by side, alternating, so both modes see the same load on the host.
    figures.push(await run(ctx, "threads", input.path, n, seconds, baselineRss));
    figures.push(await run(ctx, "batched", input.path, n, seconds, baselineRss));
    if (!ctx.quick) figures.push(await run(ctx, "socket", input.path, n, seconds, baselineRss));
    // Other batching windows (PACER_BENCH_WINDOWS=200,500), on the main thread and the sender threads.
    for (const w of windows) {
      figures.push(await run(ctx, "batched", input.path, n, seconds, baselineRss, w));
      figures.push(await run(ctx, "threads", input.path, n, seconds, baselineRss, w));
    }
    // What the kernel alone costs here, with the same receiver: the floor under every pacer row.
    if (peer) figures.push(await run(ctx, "C reference", input.path, n, seconds, 0, undefined, peer));
  }
  const table = formatTable(
    `6. Scale: one job, N × 1.5 Mbit/s destinations, ${seconds} s: sender threads (--senders auto) vs batched on the main thread (the default) vs a connected socket each, and a C sendmmsg loop (bench/peers/paced_sendmmsg.c) as the host's floor`,
    ["streams", "send path", "window", "run", "lost or unsent", "rcvbuf drops (host-wide)", "residual p99 first/mid/last ms", "CPU s per stream-min (share)", "KiB/stream peak"],
    figures.map((f) => [
      String(f.streams),
      f.mode,
      f.window,
      f.status,
      `${f.lost}/${f.expected}`,
      String(f.rcvbufDrops),
      f.residualP99Ms.map((v) => fmt(v, 2)).join("/"),
      `${fmt(f.cpuPerStreamMin, 3)} (${fmt(f.cpuShare * 100, 0)}%)`,
      f.mode === "C reference" ? "-" : fmt(f.perStreamKiB, 0),
    ]),
  );
  const rows: BenchRow[] = [];
  for (const f of figures.filter((x) => x.mode === "C reference" && x.streams === 1000)) {
    // Not a target: the same measures for a sender with no runtime, so the targets can be read against the host.
    rows.push(row("1000 destinations, C reference: worst sampled residual p99 (ms)", fmt(Math.max(...f.residualP99Ms), 2)));
    rows.push(row("1000 destinations, C reference: CPU per stream-minute (s)", fmt(f.cpuPerStreamMin, 3)));
  }
  for (const f of figures.filter((x) => (x.mode === "threads" || x.mode === "batched") && x.window.includes("default"))) {
    const tag = `${f.streams} destinations, ${f.mode === "threads" ? "sender threads" : "main thread (default)"}`;
    if (f.status !== "ok") rows.push(row(`${tag}: run`, f.status, "ok", false));
    rows.push(row(`${tag}: lost`, String(f.lost), "0", f.lost === 0));
    if (f.streams === 1000) {
      rows.push(below(`${tag}: worst sampled residual p99`, Math.max(...f.residualP99Ms), RESIDUAL_TARGET_MS, "ms", 2));
      rows.push(below(`${tag}: CPU per stream-minute`, f.cpuPerStreamMin, CPU_TARGET_S_PER_MIN, "s", 3, true));
      rows.push(below(`${tag}: memory per stream`, f.perStreamKiB, PER_STREAM_TARGET_KIB, "KiB", 0, true));
    }
  }
  return { tables: [table, formatRows("6. Scale: targets", rows)], rows, figures: { scale: figures } };
}
