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
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ControlClient } from "../client/control_client.ts";
import { freeUdpPort } from "../tests/helpers/ports.ts";
import type { BenchContext } from "./context.ts";
import { serveMediaDirWith } from "./fixtures.ts";
import { CLK_TCK, processTicks, vmRssBytes } from "./processes.ts";
import { type ServeBench, startJobs, startServeBench } from "./serve_bench.ts";

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

/**
 * `destinations.length` persistent jobs of `input` on a fresh `pacer serve`, one destination each. CPU
 * counts from the first play request to the end of the last job, so it includes answering the
 * requests; memory is the server's peak above its RSS just before. What goes wrong (a server that
 * does not start or dies, a play refused or unanswered) comes back as the status, with whatever
 * was measured, so the other rows of the section still stand.
 */
export async function serveJobs(ctx: BenchContext, input: string, destinations: string[], limitS: number, serveArgs: string[] = []): Promise<SenderRun> {
  // The server reads only inside its media root, and as nobody when the bench runs as root.
  const { dir, media, clipName } = serveMediaDirWith("pacer-bench-scale-", input);
  let bench: ServeBench | null = null;
  let client: ControlClient | null = null;
  let sampler: ReturnType<typeof setInterval> | null = null;
  const started = Bun.nanoseconds();
  let cpuS = NaN;
  let rssBefore = 0;
  let rssPeak = 0;
  let status = "ok";
  try {
    const controlPort = await freeUdpPort();
    const configPath = join(dir, "pacer.toml");
    writeFileSync(
      configPath,
      [
        `control = "127.0.0.1:${controlPort}"`,
        `media_root = "${media}"`,
        "[limits]",
        `max_jobs = ${destinations.length}`,
        "requests_per_second = 1000000",
        "request_burst = 1000000",
      ].join("\n") + "\n",
    );
    bench = await startServeBench(ctx, configPath, 0, serveArgs);
    const { server } = bench;
    client = await ControlClient.open(`127.0.0.1:${controlPort}`);
    rssBefore = rssPeak = vmRssBytes(server.pid);
    // Sampled while the jobs start too: a busy server may take as long to start them as they run.
    sampler = setInterval(() => (rssPeak = Math.max(rssPeak, vmRssBytes(server.pid))), POLL_MS);
    const ticksBefore = processTicks(server.pid);
    await startJobs(client, clipName, destinations.map((d) => `udp://${d}`));
    // Until the server runs no job (each ends with its file).
    const deadline = Date.now() + limitS * 1000;
    for (;;) {
      if (server.exitCode !== null) throw new Error(`pacer serve exited (${server.exitCode}) with jobs running`);
      // A busy server may leave a status unanswered for a while: that is no answer yet, not an end.
      const reply = await client.request("status", { limit: 1 }, { ttlMs: 5_000 }).catch(() => null);
      if (reply?.ok && (reply.result as { server: { jobs: number } }).server.jobs === 0) break;
      if (Date.now() > deadline) {
        status = `jobs still running at ${limitS} s`;
        break;
      }
      await Bun.sleep(POLL_MS);
    }
    cpuS = (processTicks(server.pid) - ticksBefore) / CLK_TCK;
    // What the server itself says it lost, one line per output (no room to send, say).
    if (status === "ok" && bench.lossLines() > 0) status = `ok; ${bench.lossLines()} outputs logged a loss (${bench.firstLossReason() ?? "no reason given"})`;
  } catch (error) {
    status = `failed: ${(error as Error).message.slice(0, 70)}`;
  } finally {
    if (sampler) clearInterval(sampler);
    client?.close();
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
