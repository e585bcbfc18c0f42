/**
 * Section 8, recording (issue 12): a 100 Mbit/s TS sent by `dist/pacer play` over UDP on
 * 127.0.0.1 is recorded by `dist/pacer record udp://@…` and, in the same run on the same input,
 * by multicat where it is installed. For each recorder: bytes lost against the source (the file
 * must equal it), the kernel's receive-buffer drops, CPU as a share of one core, and the write lag:
 * how far the file's size trails what the sender has sent, sampled every 20 ms (the least trail
 * seen is taken as the sender's start-up and subtracted). The trail includes the sender's own
 * unevenness at 9500 datagrams/s, which both recorders see alike: compare them with each other.
 */
import { readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeCbrTs } from "../tests/helpers/mpeg_fixtures.ts";
import { monoNs } from "./clock.ts";
import type { BenchContext, SectionResult } from "./context.ts";
import { udpRcvbufErrors } from "./processes.ts";
import { below, type BenchRow, fmt, formatRows, formatTable, quantile, row, sortedCopy } from "./stats.ts";

const BITRATE = 100_000_000;
const FULL_SECONDS = 30;
const QUICK_SECONDS = 6;
const SAMPLE_MS = 20;
const LAG_TARGET_MS = 50;

interface RecorderRun {
  tool: string;
  lostBytes: number;
  identical: boolean;
  kernelDrops: number;
  cpuShare: number;
  lagP99Ms: number;
  lagMaxMs: number;
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

async function freePort(): Promise<number> {
  const socket = await Bun.udpSocket({ hostname: "127.0.0.1", port: 0 });
  const port = socket.port;
  socket.close();
  return port;
}

/** Records one sending of `source` with `recorder(port, out)`; the sender is dist/pacer play. */
async function recordOnce(ctx: BenchContext, tool: string, source: string, sourceBytes: number, recorder: (port: number, out: string) => string[]): Promise<RecorderRun> {
  const port = await freePort();
  const out = join(ctx.dir, `recorded_${tool}.ts`);
  rmSync(out, { force: true });
  const rec = Bun.spawn(recorder(port, out), { stdout: "ignore", stderr: "pipe", stdin: "ignore" });
  await Bun.sleep(400); // it binds
  const dropsBefore = udpRcvbufErrors();
  const byteRate = BITRATE / 8;
  const sentAtNs = monoNs();
  const sender = Bun.spawn([ctx.pacer, "play", source, "--to", `udp://127.0.0.1:${port}`], { stdout: "ignore", stderr: "pipe", stdin: "ignore" });
  const trail: number[] = [];
  const sampler = setInterval(() => {
    const sent = Math.min(sourceBytes, ((monoNs() - sentAtNs) / 1e9) * byteRate);
    if (sent < sourceBytes) trail.push(((sent - fileSize(out)) / byteRate) * 1000);
  }, SAMPLE_MS);
  await sender.exited;
  clearInterval(sampler);
  await Bun.sleep(1000);
  rec.kill("SIGTERM");
  const stderr = await new Response(rec.stderr).text();
  await rec.exited;
  const kernelDrops = udpRcvbufErrors() - dropsBefore;
  const usage = rec.resourceUsage();
  const wallS = (monoNs() - sentAtNs) / 1e9;
  const recorded = readFileSync(out);
  const original = readFileSync(source);
  ctx.note(`${tool}: ${recorded.length} of ${original.length} bytes${stderr.trim() ? `; ${stderr.trim().split("\n").at(-1)}` : ""}`);
  const least = Math.min(...trail);
  const lag = sortedCopy(trail.map((t) => t - least));
  rmSync(out, { force: true });
  rmSync(out.replace(/\.ts$/, ".aux"), { force: true });
  return {
    tool,
    lostBytes: Math.max(0, original.length - recorded.length),
    identical: recorded.equals(original),
    kernelDrops,
    cpuShare: usage ? Number(usage.cpuTime.total) / 1e6 / wallS : NaN,
    lagP99Ms: quantile(lag, 0.99),
    lagMaxMs: lag.length ? lag[lag.length - 1]! : NaN,
  };
}

export async function benchRecord(ctx: BenchContext): Promise<SectionResult> {
  const seconds = ctx.quick ? QUICK_SECONDS : FULL_SECONDS;
  ctx.note(`record: making ${seconds} s of ${BITRATE / 1e6} Mbit/s TS`);
  const source = join(ctx.dir, "record_100M.ts");
  const ts = makeCbrTs({ bitrate: BITRATE, duration: seconds });
  writeFileSync(source, ts);
  const runs: RecorderRun[] = [];
  runs.push(await recordOnce(ctx, "pacer record", source, ts.length, (port, out) => [ctx.pacer, "record", `udp://@127.0.0.1:${port}`, "--out", out]));
  if (Bun.which("multicat")) {
    runs.push(await recordOnce(ctx, "multicat -u", source, ts.length, (port, out) => ["multicat", "-u", `@127.0.0.1:${port}`, out]));
  }
  rmSync(source, { force: true });
  const pacer = runs[0]!;
  const multicat = runs[1];
  const rows: BenchRow[] = [
    row(`pacer record: ${seconds} s at 100 Mbit/s, bytes lost`, String(pacer.lostBytes), "0", pacer.lostBytes === 0 && pacer.identical),
    below("pacer record: write lag p99", pacer.lagP99Ms, LAG_TARGET_MS, "ms"),
    multicat
      ? below("pacer record: CPU, share of a core, against 2 × multicat's", pacer.cpuShare * 100, Math.max(5, Math.round(2 * multicat.cpuShare * 100)), "%")
      : row("pacer record: CPU, share of a core", `${fmt(pacer.cpuShare * 100)} %`),
  ];
  const table = formatTable(
    `8. Recording ${seconds} s of 100 Mbit/s UDP (bench/record.ts; loopback, this host's load included)`,
    ["recorder", "lost bytes", "file = source", "kernel drops", "CPU % of a core", "write lag p99 ms", "max ms"],
    runs.map((r) => [r.tool, String(r.lostBytes), r.identical ? "yes" : "NO", String(r.kernelDrops), fmt(r.cpuShare * 100), fmt(r.lagP99Ms), fmt(r.lagMaxMs)]),
  );
  return { tables: [table, formatRows("8. Recording: targets", rows)], rows, figures: { runs } };
}
