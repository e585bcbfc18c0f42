/**
 * The scale section's senders that are not one `pacer play`: N separate jobs on a real
 * `pacer serve` (one control `play` per destination, as N clients would start them), and N
 * multicat processes (one per destination, as a multicat farm serves them). Each runs the same
 * 1.5 Mbit/s transport stream to each destination and reports what it cost.
 *
 * @example
 * ```ts
 * const run = await serveJobs(ctx, "clip.ts", ["127.0.0.1:5000"], 40);
 * run.cpuS; // the server's CPU seconds from the first play request until the last job ended
 * ```
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { freeUdpPort } from "../tests/helpers/ports.ts";
import type { BenchContext } from "./context.ts";
import { serveMediaDirWith } from "./fixtures.ts";
import { BUN, CLK_TCK, processTicks, vmRssBytes } from "./processes.ts";
import { type ServeBench, startServeBench, writeServeConfig } from "./serve_bench.ts";

/** What a sender run cost: CPU over its whole run, and its memory above an idle baseline. */
export interface SenderRun {
  /** "ok", or what went wrong (the figures are still reported). */
  status: string;
  cpuS: number;
  wallS: number;
  /** Peak memory for all its streams, above what the sender holds idle (serve), or in all (multicat). */
  streamsRssBytes: number;
}

const POLL_MS = 200;
const DRIVER = join(import.meta.dir, "serve_driver.ts");

/**
 * `destinations.length` persistent jobs of `input` on a fresh `pacer serve`, one destination each,
 * started by bench/serve_driver.ts (run with the server, behind `exec`: inside the wire's
 * namespace, whose destinations `allow` lets the policy accept). CPU counts from the first play
 * request to the end of the last job, so it includes answering the requests; memory is the
 * server's peak above its RSS just before. What goes wrong (a server that does not start or dies,
 * a play refused or unanswered) comes back as the status, with whatever was measured, so the
 * other rows of the section still stand.
 */
export async function serveJobs(ctx: BenchContext, input: string, destinations: string[], limitS: number, serveArgs: string[] = [], exec: string[] = [], allow: string[] = []): Promise<SenderRun> {
  // The server reads only inside its media root, and as nobody when the bench runs as root.
  const { dir, media, clipName } = serveMediaDirWith("pacer-bench-scale-", input);
  let bench: ServeBench | null = null;
  let sampler: ReturnType<typeof setInterval> | null = null;
  const started = Bun.nanoseconds();
  let cpuS = NaN;
  let rssBefore = 0;
  let rssPeak = 0;
  let status = "ok";
  try {
    const controlPort = await freeUdpPort();
    const configPath = join(dir, "pacer.toml");
    writeServeConfig(configPath, { controlPort, media, maxJobs: destinations.length, settings: [`allow_destinations = ${JSON.stringify(allow)}`] });
    bench = await startServeBench(ctx, configPath, 0, serveArgs, exec);
    const { server } = bench;
    rssBefore = rssPeak = vmRssBytes(server.pid);
    // Sampled while the jobs start too: a busy server may take as long to start them as they run.
    sampler = setInterval(() => (rssPeak = Math.max(rssPeak, vmRssBytes(server.pid))), POLL_MS);
    const ticksBefore = processTicks(server.pid);
    const driver = Bun.spawn([...exec, BUN, DRIVER, `127.0.0.1:${controlPort}`, clipName, String(limitS), ...destinations.map((d) => `udp://${d}`)], {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "inherit",
    });
    const [out] = await Promise.all([new Response(driver.stdout).text(), driver.exited]);
    cpuS = (processTicks(server.pid) - ticksBefore) / CLK_TCK;
    status = server.exitCode !== null ? `pacer serve exited (${server.exitCode}) with jobs running` : ((JSON.parse(out || "{}") as { status?: string }).status ?? `driver exit ${driver.exitCode}`);
    // What the server itself says it lost, one line per output (no room to send, say).
    if (status === "ok" && bench.lossLines() > 0) status = `ok; ${bench.lossLines()} outputs logged a loss (${bench.firstLossReason() ?? "no reason given"})`;
  } catch (error) {
    status = `failed: ${(error as Error).message.slice(0, 70)}`;
  } finally {
    if (sampler) clearInterval(sampler);
    await bench?.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return { status, cpuS, wallS: (Bun.nanoseconds() - started) / 1e9, streamsRssBytes: rssPeak - rssBefore };
}

/**
 * One `multicat -U input ADDRESS:PORT` per destination, all at once (multicat paces by input's `.aux`).
 * Memory is the sum of their VmRSS halfway through `seconds`: a child's maxRSS here still holds
 * the spawning process's pages from before exec.
 */
export async function multicatProcesses(input: string, destinations: string[], seconds: number, limitS: number): Promise<SenderRun> {
  const started = Bun.nanoseconds();
  const procs: Bun.Subprocess<"ignore", "ignore", "pipe">[] = [];
  const killAll = () => procs.forEach((p) => p.kill("SIGKILL"));
  const killer = setTimeout(killAll, limitS * 1000);
  let rss = 0;
  const sampler = setTimeout(() => (rss = procs.reduce((sum, p) => sum + vmRssBytes(p.pid), 0)), (seconds * 1000) / 2);
  try {
    for (const d of destinations) procs.push(Bun.spawn(["multicat", "-U", input, d], { stdin: "ignore", stdout: "ignore", stderr: "pipe" }));
    // Each one's stderr is read as it comes, so a chatty one never blocks on a full pipe.
    const errors = await Promise.all(
      procs.map(async (p) => {
        const [text, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
        return code === 0 ? "" : text.trim() || `exit ${code}`;
      }),
    );
    let cpuS = 0;
    for (const p of procs) {
      const usage = p.resourceUsage();
      cpuS += usage ? Number(usage.cpuTime.total) / 1e6 : NaN;
    }
    const failed = errors.filter((e) => e !== "");
    const status = failed.length === 0 ? "ok" : `${failed.length} failed: ${failed[0]!.split("\n").pop()?.slice(0, 60)}`;
    return { status, cpuS, wallS: (Bun.nanoseconds() - started) / 1e9, streamsRssBytes: rss };
  } catch (error) {
    killAll();
    return { status: `failed: ${(error as Error).message.slice(0, 70)}`, cpuS: NaN, wallS: (Bun.nanoseconds() - started) / 1e9, streamsRssBytes: rss };
  } finally {
    clearTimeout(killer);
    clearTimeout(sampler);
  }
}
