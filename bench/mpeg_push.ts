/**
 * Section 3, MPEG push (issue 3).
 *
 * Single streams: PCR-timed CBR transport streams at 1.5 and 20 Mbit/s,
 * played by `dist/pacer play x.ts --to udp://…` and, when installed, by
 * `multicat -U x.ts 127.0.0.1:PORT` (paced by the `.aux` index that
 * `ingests -p PCR_PID` writes), side by side.
 *
 * Many streams of 1.5 Mbit/s, two ways: one `pacer play` with N `--to`
 * outputs (one job whose destinations share its chunks), and N separate
 * jobs on one scheduler (bench/many_jobs.ts, as `pacer serve` will run
 * them). The receiver counts every stream's datagrams on its own port.
 */
import { statSync } from "node:fs";
import { join } from "node:path";
import { cbrLateness, cbrStream } from "./analysis.ts";
import type { BenchContext, SectionResult } from "./context.ts";
import { cbrTs } from "./fixtures.ts";
import type { ManyJobsReport } from "./many_jobs.ts";
import { BUN, runBounded, startReceiver, udpRcvbufErrors, type RunResult } from "./processes.ts";
import { type BenchRow, below, fmt, formatRows, formatTable, row, spread } from "./stats.ts";

const TS_DATAGRAM = 1316;
const LOW_RATE = 1_500_000;
const HIGH_RATE = 20_000_000;
const RESIDUAL_TARGET_US = 200;
const MANY_LATENESS_TARGET_MS = 2;
const PER_STREAM_TARGET_KIB = 300;
/** Extra seconds a bounded run may take beyond its stream's duration. */
const RUN_SLACK_S = 30;
/** Many-stream runs may overrun their stream by this much (falling behind re-anchors, which lengthens them). */
const MANY_SLACK_S = 15;
const RSS_SAMPLE_MS = 200;
const MANY_JOBS = join(import.meta.dir, "many_jobs.ts");

interface SingleFigures {
  sender: string;
  rate: number;
  packets: number;
  expected: number;
  gapUs: ReturnType<typeof spread>;
  residualUs: ReturnType<typeof spread>;
  bitrate: number;
  cpuPerMin: number;
  rssBytes: number;
}

async function single(ctx: BenchContext, sender: "pacer" | "multicat", path: string, rate: number, seconds: number): Promise<SingleFigures> {
  ctx.note(`mpeg: ${sender} 1 stream at ${rate / 1e6} Mbit/s, ${seconds} s`);
  const expected = Math.ceil(statSync(path).size / TS_DATAGRAM);
  const rx = await startReceiver({ streams: 1, rtp: false, maxSeconds: seconds + RUN_SLACK_S + 10, expectedPackets: expected });
  const dest = `127.0.0.1:${rx.ports[0]}`;
  const cmd = sender === "pacer" ? [ctx.pacer, "play", path, "--to", `udp://${dest}`] : ["multicat", "-U", path, dest];
  const run = await runBounded(cmd, seconds + RUN_SLACK_S, RSS_SAMPLE_MS);
  const { rows } = await rx.stop();
  if (run.exitCode !== 0) throw new Error(`${sender} exited ${run.exitCode}: ${run.stderr.trim()}`);
  const f = cbrStream(rows, 0);
  return {
    sender,
    rate,
    packets: f.packets,
    expected,
    gapUs: spread(Array.from(f.gapsNs, (ns) => ns / 1e3)),
    residualUs: spread(Array.from(f.residualNs, (ns) => ns / 1e3)),
    bitrate: f.bitrate,
    cpuPerMin: (run.cpuS / seconds) * 60,
    rssBytes: run.sampledRssBytes,
  };
}

interface ManyFigures {
  mode: "one job" | "N jobs";
  streams: number;
  lost: number;
  expected: number;
  rcvbufDrops: number;
  meanBitrate: number;
  minBitrate: number;
  receiverLatenessMs: ReturnType<typeof spread>;
  schedulerSendUs: { p50: number; p99: number; max: number } | null;
  startingS: number | null;
  /** "ok", or what went wrong with the sender run. */
  status: string;
  cpuPerMin: number;
  cpuShare: number;
  /** RSS delta per stream: peak, and (N jobs) settled after a full GC. */
  perStreamKiB: number;
  perStreamSettledKiB: number;
  reanchors: number | null;
}

async function many(
  ctx: BenchContext,
  mode: "one job" | "N jobs",
  path: string,
  n: number,
  seconds: number,
  baselineRss: number,
): Promise<ManyFigures> {
  ctx.note(`mpeg: ${n} streams at 1.5 Mbit/s (${mode}), ${seconds} s`);
  const perStream = Math.ceil(statSync(path).size / TS_DATAGRAM);
  const rx = await startReceiver({ streams: n, rtp: false, maxSeconds: seconds + RUN_SLACK_S + 10, expectedPackets: n * perStream });
  const urls = rx.ports.map((p) => `udp://127.0.0.1:${p}`);
  const dropsBefore = udpRcvbufErrors();
  let run: RunResult;
  let report: ManyJobsReport | null = null;
  if (mode === "one job") {
    run = await runBounded([ctx.pacer, "play", path, ...urls.flatMap((u) => ["--to", u])], seconds + MANY_SLACK_S, RSS_SAMPLE_MS);
  } else {
    run = await runBounded([BUN, MANY_JOBS, JSON.stringify({ input: path, destinations: urls })], seconds + MANY_SLACK_S);
    const last = run.stdout.trim().split("\n").pop();
    if (last?.startsWith("{")) report = JSON.parse(last) as ManyJobsReport;
  }
  const { rows } = await rx.stop();
  const rcvbufDrops = udpRcvbufErrors() - dropsBefore;
  // A run that overruns its bound is still reported, marked, rather than failing the section.
  const status = run.timedOut
    ? `stopped at ${seconds + MANY_SLACK_S} s`
    : run.exitCode !== 0
      ? `exit ${run.exitCode}: ${run.stderr.trim().split("\n").pop()?.slice(0, 80) ?? ""}`
      : "ok";
  const c = cbrLateness(rows, n, LOW_RATE / 8);
  const received = c.received.reduce((x, y) => x + y, 0);
  const perStreamBytes = report
    ? (report.rssPeakBytes - report.rssBeforeBytes) / n
    : (run.sampledRssBytes - baselineRss) / n;
  const bitrates = c.bitrates.filter(Number.isFinite);
  return {
    mode,
    streams: n,
    lost: n * perStream - received,
    expected: n * perStream,
    rcvbufDrops,
    meanBitrate: bitrates.reduce((x, y) => x + y, 0) / Math.max(1, bitrates.length),
    minBitrate: bitrates.length ? Math.min(...bitrates) : NaN,
    receiverLatenessMs: spread(Array.from(c.latenessNs, (ns) => ns / 1e6)),
    schedulerSendUs: report ? report.send : null,
    startingS: report ? report.startingS : null,
    status,
    cpuPerMin: ((report ? report.cpuS : run.cpuS) / seconds) * 60,
    cpuShare: (report ? report.cpuS : run.cpuS) / run.wallS,
    perStreamKiB: perStreamBytes / 1024,
    perStreamSettledKiB: report ? (report.rssSettledBytes - report.rssBeforeBytes) / n / 1024 : perStreamBytes / 1024,
    reanchors: report ? report.reanchors : null,
  };
}

export async function benchMpeg(ctx: BenchContext): Promise<SectionResult> {
  const seconds = ctx.quick ? 5 : 20;
  const manySeconds = ctx.quick ? 5 : 15;
  const counts = ctx.streams ?? (ctx.quick ? [100] : [100, 500, 1000]);
  const haveMulticat = Bun.which("multicat") !== null;
  const low = cbrTs(ctx.dir, LOW_RATE, seconds);
  const high = cbrTs(ctx.dir, HIGH_RATE, seconds);
  const tables: string[] = [];
  const rows: BenchRow[] = [];

  // Single streams, pacer and multicat side by side.
  const singles: SingleFigures[] = [];
  for (const input of [low, high]) {
    const rate = input === low ? LOW_RATE : HIGH_RATE;
    singles.push(await single(ctx, "pacer", input.path, rate, seconds));
    if (haveMulticat && input.aux) singles.push(await single(ctx, "multicat", input.path, rate, seconds));
  }
  const us = (v: number) => fmt(v, 0);
  const columns = singles.map((s) => `${s.sender} ${s.rate / 1e6} Mb/s`);
  const metric = (name: string, f: (s: SingleFigures) => string) => [name, ...singles.map(f)];
  tables.push(
    formatTable(`3a. MPEG push, one stream, ${seconds} s, raw UDP (µs unless stated)`, ["metric", ...columns], [
      metric("datagrams received / sent by file", (s) => `${s.packets}/${s.expected}`),
      metric("gap p50", (s) => us(s.gapUs.p50)),
      metric("gap p99", (s) => us(s.gapUs.p99)),
      metric("gap max", (s) => us(s.gapUs.max)),
      metric("residual p99", (s) => us(s.residualUs.p99)),
      metric("residual max", (s) => us(s.residualUs.max)),
      metric("achieved Mbit/s", (s) => fmt(s.bitrate / 1e6, 3)),
      metric("CPU s per min of stream", (s) => fmt(s.cpuPerMin, 2)),
      metric("RSS MiB", (s) => fmt(s.rssBytes / 2 ** 20, 1)),
    ]) + (haveMulticat ? "" : "\n(multicat is not installed: its columns are skipped)"),
  );
  for (const s of singles.filter((x) => x.sender === "pacer")) {
    rows.push(below(`pacer ${s.rate / 1e6} Mbit/s: residual p99`, s.residualUs.p99, RESIDUAL_TARGET_US, "µs", 0, true));
    rows.push(row(`pacer ${s.rate / 1e6} Mbit/s: datagrams`, `${s.packets}/${s.expected}`, "all", s.packets === s.expected));
  }

  // Many streams.
  const baselineRss = singles.find((s) => s.sender === "pacer" && s.rate === LOW_RATE)!.rssBytes;
  const manyFigures: ManyFigures[] = [];
  for (const n of counts) {
    for (const mode of ["one job", "N jobs"] as const) {
      manyFigures.push(await many(ctx, mode, low.path, n, manySeconds, baselineRss));
    }
  }
  tables.push(
    formatTable(
      `3b. MPEG push, N × 1.5 Mbit/s from one process, ${manySeconds} s ("one job": pacer play with N --to; "N jobs": bench/many_jobs.ts)`,
      ["streams", "mode", "run", "lost or unsent", "rcvbuf drops (host-wide)", "Mbit/s mean (min)", "rx lateness p50/p99/max ms", "sched send p50/p99/max µs", "jobs created in", "CPU s/min (share)", "KiB/stream peak (settled)"],
      manyFigures.map((m) => [
        String(m.streams),
        m.mode,
        m.status,
        `${m.lost}/${m.expected}`,
        String(m.rcvbufDrops),
        `${fmt(m.meanBitrate / 1e6, 3)} (${fmt(m.minBitrate / 1e6, 3)})`,
        `${fmt(m.receiverLatenessMs.p50, 2)}/${fmt(m.receiverLatenessMs.p99, 2)}/${fmt(m.receiverLatenessMs.max, 1)}`,
        m.schedulerSendUs ? `${m.schedulerSendUs.p50}/${m.schedulerSendUs.p99}/${m.schedulerSendUs.max}` : "-",
        m.startingS !== null ? `${fmt(m.startingS, 2)} s` : "-",
        `${fmt(m.cpuPerMin, 1)} (${fmt(m.cpuShare * 100, 0)}%)`,
        m.mode === "N jobs" ? `${fmt(m.perStreamKiB, 0)} (${fmt(m.perStreamSettledKiB, 0)})` : fmt(m.perStreamKiB, 0),
      ]),
    ),
  );
  for (const m of manyFigures) {
    const tag = `${m.streams} streams, ${m.mode}`;
    if (m.status !== "ok") rows.push(row(`${tag}: run`, m.status, "ok", false));
    rows.push(row(`${tag}: lost`, String(m.lost), "0", m.lost === 0));
    if (m.schedulerSendUs) rows.push(below(`${tag}: scheduler send p99`, m.schedulerSendUs.p99 / 1000, MANY_LATENESS_TARGET_MS, "ms", 2));
    else rows.push(below(`${tag}: receiver lateness p99`, m.receiverLatenessMs.p99, MANY_LATENESS_TARGET_MS, "ms", 2));
    rows.push(below(`${tag}: memory per stream${m.mode === "N jobs" ? " (settled)" : ""}`, m.perStreamSettledKiB, PER_STREAM_TARGET_KIB, "KiB", 0, true));
  }
  return {
    tables: [...tables, formatRows("3. MPEG push: targets", rows)],
    rows,
    figures: { singles, many: manyFigures },
  };
}
