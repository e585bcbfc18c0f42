/**
 * Bench section 5: control requests answered while 500 streams run, and how
 * far the scheduler's p99 send lateness moves under that load (issue 5).
 *
 * A real `pacer serve` (dist/pacer, keyed, so every request pays for its
 * HMAC check) starts 500 persistent, looping 1.5 Mbit/s TS streams, each to
 * its own port of bench/sink.ts, which never reads them. Then five windows
 * of equal length:
 *
 *   1. baseline: the streams alone;
 *   2. typical load: 200 requests/s, open loop (500 clients sending interest
 *      every third of a 10 s timeout make ~150/s);
 *   3. flood: bench/control_flood.ts, closed loop, as fast as it is answered;
 *   4. a SIGHUP every 2 s (the config unchanged): a reload must cost no pacing;
 *   5. the streams alone again. The p99 shift of a loaded window is measured
 *      from the mean p99 of the two quiet ones, as the host is shared.
 *
 * Each window's send lateness comes from two scrapes of `/metrics`: the
 * difference of the cumulative `pacer_lateness_microseconds` buckets is that
 * window's histogram, and p99 is read from it by linear interpolation inside
 * the bucket that holds it. The per-source rate limit is lifted in this
 * config (by default one address may send 50 requests/s); everything else is
 * the default.
 */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ControlClient } from "../client/control_client.ts";
import { freeTcpPort, freeUdpPort } from "../tests/helpers/ports.ts";
import type { BenchContext, SectionResult } from "./context.ts";
import type { FloodConfig, FloodReport } from "./control_flood.ts";
import { serveMediaDir } from "./fixtures.ts";
import { BUN, CLK_TCK, firstLine, processTicks } from "./processes.ts";
import { startJobs, startServeBench, writeServeConfig } from "./serve_bench.ts";
import { type BenchRow, below, fmt, formatRows, formatTable, row } from "./stats.ts";

const STREAMS = 500;
const STREAM_RATE = 1_500_000;
const TYPICAL_RATE = 200;
const FLOOD_CLIENTS = 4;
/** Outstanding per client: within the 16 one address may have queued. */
const FLOOD_WINDOW = 8;
const P99_SHIFT_TARGET_MS = 0.5;
const RELOAD_EVERY_MS = 2_000;
const RELOAD_P99_SHIFT_TARGET_MS = 0.1;
const KEY_HEX = "5ca1ab1e".repeat(8);
/** JIT tiers and first loads settle after the jobs start. */
const SETTLE_MS = 4_000;
const FLOOD = join(import.meta.dir, "control_flood.ts");

/** One scrape of the counters the bench reads from `/metrics`. */
interface Scrape {
  atNs: number;
  /** Cumulative send-lateness buckets: [upper bound µs, count]; the last is +Inf. */
  buckets: [number, number][];
  bytes: number;
  errors: number;
  cpuTicks: number;
  /** Host-wide busy and total jiffies (/proc/stat), to tell a saturated host from a slow server. */
  hostBusy: number;
  hostTotal: number;
  /** Time the hypervisor ran someone else on our CPUs: a noisy neighbour, not pacer. */
  hostSteal: number;
}

interface WindowFigures {
  name: string;
  seconds: number;
  sendP50Us: number;
  sendP99Us: number;
  sends: number;
  /** Media rate over all streams, Mbit/s. */
  mbps: number;
  serverCpuShare: number;
  /** Share of all CPUs busy on the host (server, load generator, kernel, anything else). */
  hostBusyShare: number;
  hostStealShare: number;
  /** The load generator's CPU share of one core. */
  floodCpuShare: number | null;
  flood: FloodReport | null;
  /** The largest send lateness, as the top bucket any send fell in (at most this), µs. */
  sendMaxUs: number;
  /** SIGHUPs sent during the window. */
  reloads: number;
}

async function scrape(httpPort: number, pid: number): Promise<Scrape> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  const buckets: [number, number][] = [];
  for (const m of text.matchAll(/^pacer_lateness_microseconds_bucket\{kind="send",le="([^"]+)"\} (\d+)$/gm)) {
    buckets.push([m[1] === "+Inf" ? Infinity : Number(m[1]), Number(m[2])]);
  }
  const value = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, "m").exec(text)?.[1] ?? NaN);
  let errors = 0;
  for (const m of text.matchAll(/^pacer_destination_errors_total\{[^}]*\} (\d+)$/gm)) errors += Number(m[1]);
  const host = hostJiffies();
  return { atNs: Bun.nanoseconds(), buckets, bytes: value("pacer_bytes_total"), errors, cpuTicks: processTicks(pid), hostBusy: host.busy, hostTotal: host.total, hostSteal: host.steal };
}


function hostJiffies(): { busy: number; total: number; steal: number } {
  const cpu = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = cpu.reduce((x, y) => x + y, 0);
  // user nice system idle iowait irq softirq steal …: busy is all but idle and iowait.
  return { busy: total - cpu[3]! - (cpu[4] ?? 0), total, steal: cpu[7] ?? 0 };
}

/** Quantile of the events between two scrapes, interpolated linearly inside its bucket. */
export function windowQuantile(before: [number, number][], after: [number, number][], q: number): { value: number; count: number } {
  const counts = after.map(([le, n], i) => [le, n - (before[i]?.[1] ?? 0)] as const);
  const total = counts.at(-1)?.[1] ?? 0;
  if (total <= 0) return { value: NaN, count: 0 };
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const [le, cumulative] of counts) {
    if (cumulative >= rank) {
      if (!Number.isFinite(le)) return { value: lower, count: total };
      const inBucket = cumulative - below;
      return { value: lower + ((rank - below) / Math.max(1, inBucket)) * (le - lower), count: total };
    }
    lower = le;
    below = cumulative;
  }
  return { value: lower, count: total };
}

function figures(name: string, a: Scrape, b: Scrape, flood: FloodReport | null, floodCpuS: number | null = null): WindowFigures {
  const seconds = (b.atNs - a.atNs) / 1e9;
  return {
    name,
    seconds,
    sendP50Us: windowQuantile(a.buckets, b.buckets, 0.5).value,
    sendP99Us: windowQuantile(a.buckets, b.buckets, 0.99).value,
    sends: windowQuantile(a.buckets, b.buckets, 0.5).count,
    mbps: ((b.bytes - a.bytes) * 8) / seconds / 1e6,
    serverCpuShare: (b.cpuTicks - a.cpuTicks) / CLK_TCK / seconds,
    hostBusyShare: (b.hostBusy - a.hostBusy) / (b.hostTotal - a.hostTotal),
    hostStealShare: (b.hostSteal - a.hostSteal) / (b.hostTotal - a.hostTotal),
    floodCpuShare: floodCpuS === null || !flood ? null : floodCpuS / flood.seconds,
    flood,
    sendMaxUs: windowMax(a.buckets, b.buckets),
    reloads: 0,
  };
}

/** The upper edge of the highest bucket that gained a count between the scrapes (Infinity: past the last edge). */
export function windowMax(before: [number, number][], after: [number, number][]): number {
  let top = NaN;
  let below = 0;
  for (const [i, [le, cumulative]] of after.entries()) {
    const inBucket = cumulative - (before[i]?.[1] ?? 0) - below;
    if (inBucket > 0) top = le;
    below += inBucket;
  }
  return top;
}



/** `seconds` of SIGHUP to the server every RELOAD_EVERY_MS (the config unchanged), scraped either side. */
async function reloading(name: string, httpPort: number, server: Bun.Subprocess, seconds: number): Promise<WindowFigures> {
  const a = await scrape(httpPort, server.pid);
  let reloads = 0;
  const timer = setInterval(() => {
    server.kill("SIGHUP");
    reloads++;
  }, RELOAD_EVERY_MS);
  await Bun.sleep(seconds * 1000);
  clearInterval(timer);
  return { ...figures(name, a, await scrape(httpPort, server.pid), null), reloads };
}

/** Runs the flood for `seconds`, scraping when it starts and `seconds` later. */
async function loadWindow(name: string, config: FloodConfig, httpPort: number, pid: number): Promise<WindowFigures> {
  const proc = Bun.spawn([BUN, FLOOD, JSON.stringify(config)], { stdout: "pipe", stderr: "inherit" });
  const { rest } = await firstLine(proc.stdout);
  const a = await scrape(httpPort, pid);
  const floodTicks = processTicks(proc.pid);
  await Bun.sleep(config.seconds * 1000);
  const floodCpuS = (processTicks(proc.pid) - floodTicks) / CLK_TCK;
  const b = await scrape(httpPort, pid);
  const report = JSON.parse((await rest).trim().split("\n").pop()!) as FloodReport;
  await proc.exited;
  return figures(name, a, b, report, floodCpuS);
}

export async function benchControl(ctx: BenchContext): Promise<SectionResult> {
  const seconds = ctx.quick ? 5 : 15;
  const { dir, media, clipPath, clipName } = serveMediaDir("pacer-bench-control-", STREAM_RATE, 10);
  writeFileSync(join(dir, "key"), KEY_HEX + "\n", { mode: 0o644 });
  const controlPort = await freeUdpPort();
  const httpPort = freeTcpPort();
  writeServeConfig(join(dir, "pacer.toml"), { controlPort, media, maxJobs: 1000, settings: [`key_file = "${join(dir, "key")}"`, `http = "127.0.0.1:${httpPort}"`] });

  const { server, sinkPorts: ports, close } = await startServeBench(ctx, join(dir, "pacer.toml"), STREAMS);
  let client: ControlClient | null = null;
  try {
    const server_ = `127.0.0.1:${controlPort}`;
    const key = new Uint8Array(Buffer.from(KEY_HEX, "hex"));
    client = await ControlClient.open(server_, key);
    ctx.note(`control: starting ${STREAMS} streams through pacer serve`);
    const startedAt = Bun.nanoseconds();
    const jobs = await startJobs(client, clipName, ports.map((port) => `udp://127.0.0.1:${port}`), { loop: true });
    const startingS = (Bun.nanoseconds() - startedAt) / 1e9;
    await Bun.sleep(SETTLE_MS);

    const quiet = async (name: string) => {
      ctx.note(`control: ${name}, ${seconds} s`);
      const a = await scrape(httpPort, server.pid);
      await Bun.sleep(seconds * 1000);
      return figures(name, a, await scrape(httpPort, server.pid), null);
    };
    const windows: WindowFigures[] = [await quiet("streams only")];
    const mix = [
      ...jobs.slice(0, 7).map((job) => ({ op: "interest" as const, args: { job } })),
      { op: "ping" as const, args: {} },
      { op: "status" as const, args: {} },
      { op: "interest" as const, args: { job: jobs.at(-1)! } },
    ];
    const base = { server: server_, keyHex: KEY_HEX, seconds, clients: FLOOD_CLIENTS, window: FLOOD_WINDOW, mix };
    ctx.note(`control: ${TYPICAL_RATE} requests/s, ${seconds} s`);
    windows.push(await loadWindow(`${TYPICAL_RATE} requests/s`, { ...base, ratePerSecond: TYPICAL_RATE }, httpPort, server.pid));
    ctx.note(`control: flood, ${seconds} s`);
    windows.push(await loadWindow(`flood (${FLOOD_CLIENTS} × ${FLOOD_WINDOW} outstanding)`, base, httpPort, server.pid));
    ctx.note(`control: SIGHUP every ${RELOAD_EVERY_MS / 1000} s, ${seconds} s`);
    windows.push(await reloading(`SIGHUP every ${RELOAD_EVERY_MS / 1000} s`, httpPort, server, seconds));
    windows.push(await quiet("streams only, after"));

    // The host is shared and noisy: the reference is the mean of the quiet windows either side.
    const quietWindows = windows.filter((w) => w.flood === null && w.reloads === 0);
    const baselineP99 = quietWindows.reduce((sum, w) => sum + w.sendP99Us, 0) / quietWindows.length;
    const tables = [
      formatTable(
        `5. Control under load: ${STREAMS} × ${STREAM_RATE / 1e6} Mbit/s TS through pacer serve (jobs started in ${fmt(startingS, 2)} s), ${seconds} s per window; keyed requests from ${FLOOD_CLIENTS} addresses: 70 % interest, 10 % ping, 10 % status`,
        ["window", "requests/s answered", "lost", "reply p50/p99 ms", "send p50/p99 µs (max ≤)", "p99 shift µs (vs quiet mean)", "media Mbit/s (of " + (STREAMS * STREAM_RATE) / 1e6 + ")", "CPU: server / load gen / host busy (steal)"],
        windows.map((w) => [
          w.name,
          w.flood ? fmt(w.flood.answered / w.flood.seconds, 0) : "-",
          w.flood ? `${w.flood.lost}/${w.flood.sent}` : "-",
          w.flood ? `${fmt(w.flood.replyUs.p50 / 1e3, 2)}/${fmt(w.flood.replyUs.p99 / 1e3, 2)}` : "-",
          `${fmt(w.sendP50Us, 0)}/${fmt(w.sendP99Us, 0)} (${fmt(w.sendMaxUs, 0)})`,
          w.flood === null && w.reloads === 0 ? "-" : fmt(w.sendP99Us - baselineP99, 0),
          fmt(w.mbps, 1),
          `${fmt(w.serverCpuShare * 100, 0)} % / ${w.floodCpuShare === null ? "-" : `${fmt(w.floodCpuShare * 100, 0)} %`} / ${fmt(w.hostBusyShare * 100, 0)} % (${fmt(w.hostStealShare * 100, 1)} %)`,
        ]),
      ),
    ];
    const rows: BenchRow[] = [];
    for (const w of windows.filter((x) => x.flood !== null)) {
      const errors = Object.values(w.flood!.errorReplies).reduce((x, y) => x + y, 0);
      rows.push(row(`${w.name}: answered`, `${fmt(w.flood!.answered / w.flood!.seconds, 0)}/s, ${errors} error replies`, "no errors", errors === 0));
      rows.push(below(`${w.name}: send p99 shift`, (w.sendP99Us - baselineP99) / 1e3, P99_SHIFT_TARGET_MS, "ms", 3));
    }
    // Reloads must cost no pacing (issue 16): p99 within 0.1 ms of the quiet windows', the max no worse.
    const quietMax = Math.max(...quietWindows.map((w) => w.sendMaxUs));
    for (const w of windows.filter((x) => x.reloads > 0)) {
      rows.push(below(`${w.name} (${w.reloads} reloads): send p99 shift`, (w.sendP99Us - baselineP99) / 1e3, RELOAD_P99_SHIFT_TARGET_MS, "ms", 3));
      rows.push(row(`${w.name}: send max (bucket edge)`, `≤ ${fmt(w.sendMaxUs / 1e3, 2)} ms`, `≤ quiet windows' ${fmt(quietMax / 1e3, 2)} ms`, w.sendMaxUs <= quietMax));
    }
    return { tables: [...tables, formatRows("5. Control under load: targets", rows)], rows, figures: { streams: STREAMS, startingS, baselineP99, windows } };
  } finally {
    client?.close();
    await close();
    rmSync(dir, { recursive: true, force: true });
  }
}
