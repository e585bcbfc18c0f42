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
 * there is one): what this host's kernel costs with nothing above it, and how even it can be;
 * and the same loop with a buffer for each destination, read from the file 128 KiB at a time as
 * each of a server's jobs reads its own, the floor under the serve rows. Then the same streams as
 * N separate jobs on a real `pacer serve`, each started by its own control request
 * (bench/scale_senders.ts), and, up to 500 and where multicat is installed, as N multicat
 * processes, the farm a push server replaces.
 *
 * Where a network namespace can be made (root), the one-job rows and the C reference run again
 * with the receivers off this host, as a push server's are (bench/wire.ts): the destinations
 * that are not sampled go out of a veth whose far end drops them, counted by its transmit
 * counter, and the three sampled ones still reach receivers on loopback. On loopback each
 * receiver's delivery is charged to the sender's system call, and the receiving sockets take the
 * second core; there neither is.
 *
 * @example
 * ```sh
 * npm run bench -- --only scale --streams 500,1000
 * ```
 */
import { statSync } from "node:fs";
import { join } from "node:path";
import { BATCH_WINDOW_US } from "../backends/net/send_batcher.ts";
import { cbrStream, residualP99Ms } from "./analysis.ts";
import type { BenchContext, SectionResult } from "./context.ts";
import { cbrTs } from "./fixtures.ts";
import { backlogDrops, type RunResult, runBounded, startReceiver, udpRcvbufErrors } from "./processes.ts";
import { ROW_FIELDS } from "./receiver.ts";
import { multicatProcesses, type SenderRun, serveJobs } from "./scale_senders.ts";
import { type BenchRow, below, fmt, formatRows, formatTable, row } from "./stats.ts";
import { makeWire, type Wire, WIRE_HOST } from "./wire.ts";

const TS_DATAGRAM = 1316;
const RATE = 1_500_000;
const RUN_SLACK_S = 15;
const RSS_SAMPLE_MS = 200;
/**
 * The steady column leaves out each stream's first second: at 1000 streams the start (cold code
 * and a core near saturation) puts a step there that the whole run's line spreads over every
 * datagram. The target stays on the whole run.
 */
const STEADY_AFTER_NS = 1e9;
/** Issue 14's targets at 1000 destinations on these 2-core machines. */
const RESIDUAL_TARGET_MS = 1;
const CPU_TARGET_S_PER_MIN = 0.04;
const PER_STREAM_TARGET_KIB = 300;
/** multicat rows only up to this many processes (the issue compares at 500). */
const MULTICAT_MAX = 500;
/** The unsampled destinations' ports on the wire's far end: WIRE_PORT_BASE + their index. */
const WIRE_PORT_BASE = 20_000;

const SERVE_MODES = ["serve, a job each, threads", "serve, a job each"] as const;
type Mode = "threads" | "batched" | "socket" | "C reference" | "C reference, a buffer each" | "serve, a job each" | "serve, a job each, threads" | "multicat, a process each";

/** What each `pacer play` mode sets in pacer's environment. */
const MODE_ENV: Partial<Record<Mode, Record<string, string>>> = {
  threads: { PACER_SEND: "batched", PACER_SENDERS: "auto" },
  batched: { PACER_SEND: "batched", PACER_SENDERS: "0" },
  socket: { PACER_SEND: "socket", PACER_SENDERS: "0" },
  // Staggered as one job's outputs are, with pacer's window and wake rule: the same sends, from C.
  "C reference": { STAGGER: "1", WINDOW_US: String(BATCH_WINDOW_US) },
  // The same, each destination reading the file into a buffer of its own (pacer's load size and
  // mark): the floor under the serve rows, where every job loads for itself.
  "C reference, a buffer each": { STAGGER: "1", WINDOW_US: String(BATCH_WINDOW_US), BUFFER_EACH: "1" },
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
  /** Where the receivers are: every one on loopback, or three there and the rest off the host (bench/wire.ts). */
  receivers: "loopback" | "wire";
  window: string;
  streams: number;
  status: string;
  lost: number;
  expected: number;
  rcvbufDrops: number;
  backlogDrops: number;
  /** Residual p99 at the first, middle and last destination, ms. */
  residualP99Ms: number[];
  /** The same, of what arrived after each one's first second (a step at the start left out), ms. */
  steadyP99Ms: number[];
  cpuPerStreamMin: number;
  cpuShare: number;
  /** NaN where not measured (the C reference). */
  perStreamKiB: number;
}

/** Sends the input to each destination (`ADDRESS:PORT`, one per stream) and says what that cost. */
type Sender = (destinations: string[]) => Promise<SenderRun>;

function statusOf(result: RunResult, limitS: number): string {
  if (result.timedOut) return `stopped at ${limitS} s`;
  if (result.exitCode !== 0) return `exit ${result.exitCode}: ${result.stderr.trim().split("\n").pop()?.slice(0, 80) ?? ""}`;
  return "ok";
}

/** `cmd` (then the destinations) as one process; memory above `baselineRss` (NaN: not measured). */
function oneProcess(cmd: (destinations: string[]) => string[], limitS: number, baselineRss: number, env: Record<string, string>): Sender {
  return async (destinations) => {
    const result = await runBounded(cmd(destinations), limitS, RSS_SAMPLE_MS, env);
    return { status: statusOf(result, limitS), cpuS: result.cpuS, wallS: result.wallS, streamsRssBytes: result.sampledRssBytes - baselineRss };
  };
}

/**
 * `limitS`: the longest the sender may take; the receiver outlasts it (rx.stop ends it sooner).
 * With a `wire`, only the sampled destinations have receivers (receiver stream 0, 1, 2), and the
 * rest are counted as they leave the wire's interface.
 */
async function run(mode: Mode, window: string, path: string, n: number, seconds: number, limitS: number, send: Sender, wire: Wire | null = null): Promise<ScaleFigures> {
  const perStream = Math.ceil(statSync(path).size / TS_DATAGRAM);
  const sampled = [0, Math.floor(n / 2), n - 1];
  const receivers = wire ? sampled.length : n;
  const rx = await startReceiver({ streams: receivers, rtp: false, maxSeconds: limitS + RUN_SLACK_S, expectedPackets: receivers * perStream }, wire?.exec);
  const destinations = wire
    ? Array.from({ length: n }, (_, i) => (sampled.includes(i) ? `127.0.0.1:${rx.ports[sampled.indexOf(i)]}` : `${WIRE_HOST}:${WIRE_PORT_BASE + i}`))
    : rx.ports.map((p) => `127.0.0.1:${p}`);
  const dropsBefore = udpRcvbufErrors();
  const backlogBefore = backlogDrops();
  const wireBefore = wire?.sentPackets() ?? 0;
  let result: SenderRun;
  let rows: Float64Array;
  try {
    result = await send(destinations);
  } finally {
    // Stopped whatever the sender did, so nothing is left running.
    rows = (await rx.stop()).rows;
  }
  const received = rows.length / ROW_FIELDS + (wire ? wire.sentPackets() - wireBefore : 0);
  const streamOf = wire ? [0, 1, 2] : sampled;
  return {
    mode,
    receivers: wire ? "wire" : "loopback",
    window,
    streams: n,
    status: result.status,
    lost: n * perStream - received,
    expected: n * perStream,
    rcvbufDrops: udpRcvbufErrors() - dropsBefore,
    backlogDrops: backlogDrops() - backlogBefore,
    residualP99Ms: streamOf.map((s) => residualP99Ms(cbrStream(rows, s))),
    steadyP99Ms: streamOf.map((s) => residualP99Ms(cbrStream(rows, s, STEADY_AFTER_NS))),
    cpuPerStreamMin: (result.cpuS / seconds) * 60 / n,
    cpuShare: result.cpuS / result.wallS,
    perStreamKiB: result.streamsRssBytes / n / 1024,
  };
}

export async function benchScale(ctx: BenchContext): Promise<SectionResult> {
  const seconds = ctx.quick ? 8 : 20;
  const counts = ctx.streams ?? (ctx.quick ? [500] : [500, 1000, 1500]);
  const windows = process.env.PACER_BENCH_WINDOWS?.split(",").map(Number).filter(Number.isInteger) ?? [];
  // PACER_BENCH_SCALE_ROWS=serve,C: only the rows whose send path contains one of these words.
  const only = process.env.PACER_BENCH_SCALE_ROWS?.split(",").filter(Boolean);
  const want = (mode: string) => !only || only.some((word) => mode.includes(word));
  const input = cbrTs(ctx.dir, RATE, seconds);
  const figures: ScaleFigures[] = [];
  // Memory per stream is the peak RSS above that of one destination playing for a few seconds.
  const shortInput = cbrTs(`${ctx.dir}`, RATE / 2, 3);
  const baseline = await runBounded([ctx.pacer, "play", shortInput.path, "--to", "udp://127.0.0.1:9"], 30, RSS_SAMPLE_MS);
  const baselineRss = baseline.sampledRssBytes;
  const peer = buildPeer(ctx);
  const multicat = Bun.which("multicat") !== null && input.aux;
  if (!multicat) ctx.note("scale: multicat (or its ingests, for the .aux) is not installed, so no multicat rows");
  const limitS = seconds + RUN_SLACK_S;
  const made = makeWire();
  const wire = typeof made === "string" ? null : made;
  if (typeof made === "string") ctx.note(`scale: no rows with the receivers off the host (${made})`);
  const exec = (w: Wire | null) => w?.exec ?? [];
  const play = (mode: Mode, n: number, windowUs?: number, w: Wire | null = null) => {
    const env = { ...MODE_ENV[mode] };
    if (windowUs !== undefined) env.PACER_BATCH_WINDOW_US = String(windowUs);
    const window = mode === "socket" ? "-" : windowUs === undefined ? `${BATCH_WINDOW_US} µs (default)` : `${windowUs} µs`;
    ctx.note(`scale: ${n} destinations, ${mode}, window ${window}, ${seconds} s${w ? ", receivers off the host" : ""}`);
    const cmd = (to: string[]) => [...exec(w), ctx.pacer, "play", input.path, ...to.flatMap((d) => ["--to", `udp://${d}`])];
    return run(mode, window, input.path, n, seconds, limitS, oneProcess(cmd, limitS, baselineRss, env), w);
  };
  const reference = (mode: "C reference" | "C reference, a buffer each", n: number, w: Wire | null = null) => {
    ctx.note(`scale: ${n} destinations, ${mode}, ${seconds} s${w ? ", receivers off the host" : ""}`);
    const cmd = (to: string[]) => [...exec(w), peer!, input.path, String(TS_DATAGRAM), String(Math.round((TS_DATAGRAM * 8 * 1e9) / RATE)), ...to];
    return run(mode, `${BATCH_WINDOW_US} µs`, input.path, n, seconds, limitS, oneProcess(cmd, limitS, NaN, MODE_ENV[mode]!), w);
  };
  const references = ["C reference", "C reference, a buffer each"] as const;
  // N separate jobs, each started by its own control request, with and without sender threads.
  const serve = (mode: (typeof SERVE_MODES)[number], n: number, w: Wire | null = null) => {
    const args = mode === "serve, a job each, threads" ? ["--senders", "auto"] : [];
    ctx.note(`scale: ${n} jobs through pacer serve ${args.join(" ")}, ${seconds} s${w ? ", receivers off the host" : ""}`);
    // Starting the jobs takes seconds on a busy server (each play may wait 30 s), then they run.
    const serveLimitS = limitS + n / 10;
    // Off the host, the policy must let the jobs stream to the wire's neighbour.
    const allow = w ? [`${WIRE_HOST}/32`] : [];
    return run(mode, `${BATCH_WINDOW_US} µs (default)`, input.path, n, seconds, serveLimitS, (to) => serveJobs(ctx, input.path, to, limitS + n / 100, args, exec(w), allow), w);
  };
  try {
    for (const n of counts) {
      // Side by side, alternating, so every sender sees the same load on the host.
      if (want("threads")) figures.push(await play("threads", n));
      if (want("batched")) figures.push(await play("batched", n));
      if (!ctx.quick && want("socket")) figures.push(await play("socket", n));
      // Other batching windows (PACER_BENCH_WINDOWS=200,500), on the main thread and the sender threads (as PACER_BENCH_SCALE_ROWS picks).
      for (const w of windows) {
        if (want("batched")) figures.push(await play("batched", n, w));
        if (want("threads")) figures.push(await play("threads", n, w));
      }
      // The same streams as N separate jobs, each started by its own control request, with and
      // without sender threads: a server's loop also loads, times and copies for every job.
      for (const mode of SERVE_MODES) if (want(mode)) figures.push(await serve(mode, n));
      // What the kernel alone costs here, with the same receiver: the floor under every pacer row
      // (one buffer: one job's; a buffer each: the serve rows').
      if (peer) for (const mode of references) if (want(mode)) figures.push(await reference(mode, n));
      // What the same streams cost as a farm of multicat processes (the comparison, at 500).
      if (multicat && n <= MULTICAT_MAX && want("multicat")) {
        ctx.note(`scale: ${n} multicat processes, ${seconds} s`);
        figures.push(await run("multicat, a process each", "-", input.path, n, seconds, limitS, (to) => multicatProcesses(input.path, to, seconds, limitS)));
      }
      // The receivers off the host (bench/wire.ts): one job both ways, and the C loop.
      if (wire) {
        if (want("threads")) figures.push(await play("threads", n, undefined, wire));
        if (want("batched")) figures.push(await play("batched", n, undefined, wire));
        for (const w of windows) if (want("batched")) figures.push(await play("batched", n, w, wire));
        for (const mode of SERVE_MODES) if (want(mode)) figures.push(await serve(mode, n, wire));
        if (peer) for (const mode of references) if (want(mode)) figures.push(await reference(mode, n, wire));
      }
    }
  } finally {
    wire?.remove();
  }
  const table = formatTable(
    `6. Scale: N × 1.5 Mbit/s destinations, ${seconds} s: one pacer play job with sender threads (--senders auto), batched on the main thread (the default) or a connected socket each; N jobs through pacer serve; a C sendmmsg loop (bench/peers/paced_sendmmsg.c) as the host's floor, from one buffer or a buffer each; N multicat processes. Receivers "off the host": three sampled on loopback, the rest out of a veth whose far end drops them (bench/wire.ts)`,
    ["streams", "send path", "receivers", "window", "run", "lost or unsent", "rcvbuf / backlog drops (host-wide)", "residual p99 first/mid/last ms", "after 1 s", "CPU s per stream-min (share)", "KiB/stream peak"],
    figures.map((f) => [
      String(f.streams),
      f.mode,
      f.receivers === "wire" ? "off the host" : "all on loopback",
      f.window,
      f.status,
      `${f.lost}/${f.expected}`,
      `${f.rcvbufDrops} / ${f.backlogDrops}`,
      f.residualP99Ms.map((v) => fmt(v, 2)).join("/"),
      f.steadyP99Ms.map((v) => fmt(v, 2)).join("/"),
      `${fmt(f.cpuPerStreamMin, 3)} (${fmt(f.cpuShare * 100, 0)}%)`,
      Number.isNaN(f.perStreamKiB) ? "-" : fmt(f.perStreamKiB, 0),
    ]),
  );
  const rows: BenchRow[] = [];
  for (const f of figures.filter((x) => (x.mode.startsWith("C reference") && x.streams === 1000) || x.mode === "multicat, a process each")) {
    // Not targets: the same measures for senders with no runtime, so the targets can be read against the host.
    const tag = `${f.streams} destinations, ${f.mode}${f.receivers === "wire" ? ", receivers off the host" : ""}`;
    rows.push(row(`${tag}: worst sampled residual p99 (ms)`, fmt(Math.max(...f.residualP99Ms), 2)));
    rows.push(row(`${tag}: the same after 1 s (ms)`, fmt(Math.max(...f.steadyP99Ms), 2)));
    rows.push(row(`${tag}: CPU per stream-minute (s)`, fmt(f.cpuPerStreamMin, 3)));
  }
  const tags: Partial<Record<Mode, string>> = {
    threads: "sender threads",
    batched: "main thread (default)",
    "serve, a job each": "a job each through pacer serve",
    "serve, a job each, threads": "a job each through pacer serve --senders auto",
  };
  for (const f of figures.filter((x) => tags[x.mode] !== undefined && x.window.includes("default"))) {
    const tag = `${f.streams} destinations, ${tags[f.mode]}${f.receivers === "wire" ? ", receivers off the host" : ""}`;
    if (f.status !== "ok") rows.push(row(`${tag}: run`, f.status, "ok", false));
    rows.push(row(`${tag}: lost`, String(f.lost), "0", f.lost === 0));
    if (f.streams === 1000) {
      rows.push(below(`${tag}: worst sampled residual p99`, Math.max(...f.residualP99Ms), RESIDUAL_TARGET_MS, "ms", 2));
      // Not a target: what the run's start (above) spreads over the whole line, left out.
      rows.push(row(`${tag}: the same after 1 s (ms)`, fmt(Math.max(...f.steadyP99Ms), 2)));
      rows.push(below(`${tag}: CPU per stream-minute`, f.cpuPerStreamMin, CPU_TARGET_S_PER_MIN, "s", 3, true));
      rows.push(below(`${tag}: memory per stream`, f.perStreamKiB, PER_STREAM_TARGET_KIB, "KiB", 0, true));
    }
  }
  return { tables: [table, formatRows("6. Scale: targets", rows)], rows, figures: { scale: figures } };
}
