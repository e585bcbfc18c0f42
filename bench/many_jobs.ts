/**
 * The many-jobs driver: N independent jobs (one input each, one
 * destination each) on ONE scheduler in one process, the way `pacer serve`
 * will run them, without the server. It is its own process so the bench
 * receiver and orchestrator never share its event loop.
 *
 * argv[2] is a JSON {@link ManyJobsConfig}. At the end it prints one JSON
 * line, {@link ManyJobsReport}: the scheduler's lateness summaries for
 * "send" and "load" events, CPU time, and RSS before the jobs (after one
 * warm-up job, so one-time costs are not counted per stream) and at its
 * peak while they ran.
 *
 * @example
 * ```sh
 * bun bench/many_jobs.ts '{"input":"/tmp/a.ts","destinations":["udp://127.0.0.1:5000"]}'
 * ```
 */
import "../backends/all.ts";
import { createLogger, type Logger } from "../foundation/log.ts";
import { Job } from "../pipeline/job.ts";
import { Scheduler } from "../scheduler/scheduler.ts";
import type { LatenessSummary } from "../scheduler/lateness.ts";
import { openInput } from "../sources/open_input.ts";

export interface ManyJobsConfig {
  input: string;
  /** One job per destination URL. */
  destinations: string[];
}

export interface ManyJobsReport {
  jobs: number;
  /**
   * Send lateness over the whole run. Creating the jobs does not yield to
   * the event loop, so the first sends wait for every job to be created
   * and count here too.
   */
  send: LatenessSummary;
  /** Seconds it took to create and start every job. */
  startingS: number;
  load: LatenessSummary;
  cpuS: number;
  wallS: number;
  rssBeforeBytes: number;
  rssPeakBytes: number;
  /** RSS halfway through the stream, right after a full GC (one pause, counted in the lateness). */
  rssSettledBytes: number;
  /** True when SIGTERM stopped the jobs before their end. */
  stopped: boolean;
  unitsSent: number;
  bytesSent: number;
  reanchors: number;
  failures: number;
}

const RSS_SAMPLE_MS = 250;
/** The warm-up job's outputs, and how long it sends (see warmUp). */
const WARM_UP_OUTPUTS = 20;
const WARM_UP_MS = 1_500;
/** Where the warm-up sends: the discard port, which nobody here listens on, so no receiver of the run counts it. */
const WARM_UP_TO = "udp://127.0.0.1:9";

if (import.meta.main) await main();

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? "{}") as ManyJobsConfig;
  const log = createLogger({ level: "error" });
  const scheduler = new Scheduler();
  // Its own scheduler, so its sends are not in the lateness the report gives.
  await warmUp(config.input, new Scheduler(), log);
  Bun.gc(true);
  const rssBeforeBytes = process.memoryUsage().rss;
  let rssPeakBytes = rssBeforeBytes;
  const sampler = setInterval(() => (rssPeakBytes = Math.max(rssPeakBytes, process.memoryUsage().rss)), RSS_SAMPLE_MS);
  const cpuBefore = process.cpuUsage();
  const started = Bun.nanoseconds();

  // Jobs start as they are created, as a server starts them when requests come in.
  const jobs: Job[] = [];
  let durationUs = 0;
  for (const destination of config.destinations) {
    const opened = await openInput(config.input);
    durationUs = opened.info.durationUs ?? 0;
    const job = await Job.create({
      input: opened.info,
      source: opened.source,
      byteClock: opened.byteClock,
      startOffset: opened.startOffset,
      outputs: [destination],
      scheduler,
      log,
    });
    job.start();
    jobs.push(job);
  }
  const startingS = (Bun.nanoseconds() - started) / 1e9;
  let stopped = false;
  process.once("SIGTERM", () => {
    stopped = true;
    for (const job of jobs) void job.stop();
  });
  let rssSettledBytes = NaN;
  const halfwayMs = Math.max(0, durationUs / 2000 - startingS * 1000);
  const settle = setTimeout(() => {
    Bun.gc(true);
    rssSettledBytes = process.memoryUsage().rss;
  }, halfwayMs);
  const results = await Promise.all(jobs.map((j) => j.done));
  clearTimeout(settle);
  clearInterval(sampler);
  const cpu = process.cpuUsage(cpuBefore);
  let unitsSent = 0;
  let bytesSent = 0;
  let reanchors = 0;
  for (const job of jobs) {
    const totals = job.totals();
    unitsSent += totals.units;
    bytesSent += totals.bytes;
    for (const d of job.destinations) reanchors += d.pace.reanchors;
  }
  const report: ManyJobsReport = {
    jobs: jobs.length,
    send: scheduler.lateness("send").summary(),
    startingS,
    load: scheduler.lateness("load").summary(),
    cpuS: (cpu.user + cpu.system) / 1e6,
    wallS: (Bun.nanoseconds() - started) / 1e9,
    rssBeforeBytes,
    rssPeakBytes,
    rssSettledBytes,
    stopped,
    unitsSent,
    bytesSent,
    reanchors,
    failures: results.reduce((n, r) => n + r.failures.length + (r.inputError ? 1 : 0), 0),
  };
  process.stdout.write(JSON.stringify(report) + "\n");
  process.exit(0);
}

/**
 * One job opened, created, sent for a while and stopped first, so the one-time costs of opening,
 * creating and sending (compiled code and the executable's pages it runs, shared buffers, FFI
 * bindings) are not counted per stream. Stopped before it sent, as it was, it left them to the
 * first streams (measured, RSS settled: 100 jobs read 314-329 KiB a stream, 300 jobs 259, so about
 * 7.6 MB was the process's, not its streams', 3.1 MB of it the executable's pages; a stream's own
 * is about 235 KiB, 192 of them its read-ahead buffer). One job of several outputs,
 * so its send path runs often enough to be compiled as the jobs' will be, and one buffer, so what
 * it frees and the jobs reuse is a chunk or two, not a buffer a stream.
 */
async function warmUp(input: string, scheduler: Scheduler, log: Logger): Promise<void> {
  const warm = await openInput(input);
  const outputs = Array.from({ length: WARM_UP_OUTPUTS }, () => WARM_UP_TO);
  const job = await Job.create({ input: warm.info, source: warm.source, byteClock: warm.byteClock, outputs, scheduler, log });
  job.start();
  await Bun.sleep(WARM_UP_MS);
  await job.stop();
}
