/**
 * Section 9, live relay (issue 13): one `[[live]]` channel of 20 Mbit/s TS, pushed into a real
 * `pacer serve` by `pacer acquire FILE --to tcp://…` (paced by its PCRs), relayed by 100 `live:`
 * jobs of one destination each (they share the channel's ring). Beside it, in the same server
 * and run, the peer: 100 file jobs of the same file, so the relay's cost and evenness are read
 * against pacer's own file pacing on the same host at the same moment's load.
 *
 * Three destinations (the first, middle and last) go to the kernel-stamped bench receiver; the
 * other 97 to bench/sink.ts, which never reads (as receivers elsewhere would cost this host
 * nothing). For each: datagrams lost at the sampled receivers, their residual p99 (evenness
 * against a least-squares line, as in section 3), and the server's CPU share over the run.
 *
 * @example
 * ```sh
 * npm run bench -- --only live --quick
 * ```
 */
import { rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { ControlClient } from "../client/control_client.ts";
import { freeTcpPort, freeUdpPort } from "../tests/helpers/ports.ts";
import { cbrStream, residualP99Ms } from "./analysis.ts";
import type { BenchContext, SectionResult } from "./context.ts";
import { serveMediaDir } from "./fixtures.ts";
import { CLK_TCK, processTicks, startReceiver } from "./processes.ts";
import { startJobs, startServeBench, writeServeConfig } from "./serve_bench.ts";
import { type BenchRow, below, fmt, formatRows, formatTable, row } from "./stats.ts";

const BITRATE = 20_000_000;
const DESTINATIONS = 100;
const TS_DATAGRAM = 1316;
const LATENCY_MS = 200;
const RESIDUAL_TARGET_MS = 1;

interface RelayRun {
  kind: string;
  lost: number;
  expected: number;
  residualP99Ms: number[];
  cpuShare: number;
  seconds: number;
}

/** Destination list: the receiver's three ports at the first, middle and last place, sinks between. */
function destinations(rxPorts: number[], sinkPorts: number[]): string[] {
  const ports = [...sinkPorts];
  ports.splice(0, 0, rxPorts[0]!);
  ports.splice(Math.floor(DESTINATIONS / 2), 0, rxPorts[1]!);
  ports.push(rxPorts[2]!);
  return ports.map((p) => `udp://127.0.0.1:${p}`);
}

async function stopJobs(client: ControlClient, jobs: string[]): Promise<void> {
  for (const job of jobs) await client.request("stop", { job }, { ttlMs: 10_000 });
}

export async function benchLive(ctx: BenchContext): Promise<SectionResult> {
  const seconds = ctx.quick ? 8 : 20;
  const { dir, media, clipPath, clipName } = serveMediaDir("pacer-bench-live-", BITRATE, seconds);
  const perStream = Math.ceil(statSync(clipPath).size / TS_DATAGRAM);
  const controlPort = await freeUdpPort();
  const livePort = freeTcpPort();
  writeServeConfig(join(dir, "pacer.toml"), {
    controlPort,
    media,
    maxJobs: 1000,
    tables: ["[[live]]", 'name = "cam"', `listen = "tcp://127.0.0.1:${livePort}"`, `latency_ms = ${LATENCY_MS}`],
  });
  const { server, sinkPorts, close } = await startServeBench(ctx, join(dir, "pacer.toml"), DESTINATIONS - 3);
  let client: ControlClient | null = null;
  const runs: RelayRun[] = [];
  try {
    client = await ControlClient.open(`127.0.0.1:${controlPort}`);

    const measure = async (kind: string, source: string, feed: () => Promise<void>): Promise<RelayRun> => {
      ctx.note(`live: ${kind}, ${DESTINATIONS} destinations, ${seconds} s`);
      const rx = await startReceiver({ streams: 3, rtp: false, maxSeconds: seconds + 60, expectedPackets: 3 * perStream });
      const jobs = await startJobs(client!, source, destinations(rx.ports, sinkPorts));
      const ticks = processTicks(server.pid);
      const started = Bun.nanoseconds();
      await feed();
      const wallS = (Bun.nanoseconds() - started) / 1e9;
      const cpuShare = (processTicks(server.pid) - ticks) / CLK_TCK / wallS;
      await stopJobs(client!, jobs);
      const { rows } = await rx.stop();
      const received = [0, 1, 2].map((s) => cbrStream(rows, s));
      return {
        kind,
        lost: 3 * perStream - received.reduce((n, r) => n + r.packets, 0),
        expected: 3 * perStream,
        residualP99Ms: received.map(residualP99Ms),
        cpuShare,
        seconds: wallS,
      };
    };

    // The peer first: file jobs end by themselves; wait for the stream's length and a margin.
    runs.push(await measure("file jobs (peer)", clipName, () => Bun.sleep(seconds * 1000 + 1500)));
    // The relay: acquire paces the file by its PCRs into the channel; it exits once all is sent,
    // then the jobs play out the latency buffer.
    runs.push(
      await measure("live: jobs (acquire → channel)", "live:cam", async () => {
        const acquire = Bun.spawn([ctx.pacer, "acquire", clipPath, "--to", `tcp://127.0.0.1:${livePort}`], { stdout: "ignore", stderr: "pipe" });
        const code = await acquire.exited;
        if (code !== 0) throw new Error(`pacer acquire exited ${code}: ${(await new Response(acquire.stderr).text()).trim().split("\n").pop()}`);
        await Bun.sleep(LATENCY_MS + 1500);
      }),
    );
  } finally {
    client?.close();
    await close();
    rmSync(dir, { recursive: true, force: true });
  }

  const [peer, live] = runs as [RelayRun, RelayRun];
  const table = formatTable(
    `9. Live relay: one ${BITRATE / 1e6} Mbit/s TS channel (pacer acquire → pacer serve, latency ${LATENCY_MS} ms) to ${DESTINATIONS} live: jobs, beside ${DESTINATIONS} file jobs of the same stream; 3 sampled receivers`,
    ["jobs", "lost at sampled receivers", "residual p99 first/mid/last ms", "server CPU % of a core", "run s"],
    runs.map((r) => [r.kind, `${r.lost}/${r.expected}`, r.residualP99Ms.map((v) => fmt(v, 2)).join("/"), fmt(r.cpuShare * 100, 0), fmt(r.seconds, 1)]),
  );
  const worst = (r: RelayRun) => Math.max(...r.residualP99Ms);
  const rows: BenchRow[] = [
    row(`live relay to ${DESTINATIONS}: lost`, String(live.lost), "0", live.lost === 0),
    below(`live relay to ${DESTINATIONS}: worst sampled residual p99 (file jobs: ${fmt(worst(peer), 2)} ms)`, worst(live), Number(Math.max(RESIDUAL_TARGET_MS, worst(peer) * 1.5).toFixed(2)), "ms", 2),
    below(`live relay to ${DESTINATIONS}: server CPU, share of a core (file jobs: ${fmt(peer.cpuShare * 100, 0)} %)`, live.cpuShare * 100, Math.round(Math.max(10, peer.cpuShare * 100 * 1.5)), "%", 0),
  ];
  return { tables: [table, formatRows("9. Live relay: targets", rows)], rows, figures: { runs } };
}
