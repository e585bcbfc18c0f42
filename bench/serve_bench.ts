/**
 * A real `pacer serve` (dist/pacer) for the load sections, next to bench/sink.ts's ports that
 * never read, and the many jobs those sections start on it.
 *
 * @example
 * ```ts
 * const bench = await startServeBench(ctx, configPath, 500);
 * try { … bench.sinkPorts … } finally { await bench.close(); }
 * ```
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ControlClient } from "../client/control_client.ts";
import { DEFAULT_INTAKE } from "../server/control_intake.ts";
import type { BenchContext } from "./context.ts";
import { BUN, firstLine, terminate, waitForLog } from "./processes.ts";

const SINK = join(import.meta.dir, "sink.ts");
/**
 * Play requests outstanding at once while jobs start: what one source may have queued at the
 * server. More are dropped there as `overloaded` and wait for the client to resend them.
 */
const PLAY_CONCURRENCY = DEFAULT_INTAKE.perSource;
/**
 * How long a play may go unanswered. A server whose loop is behind its sends (1000 streams and the
 * bench receiver on two cores) takes one request per few ms, so a request can wait seconds.
 */
const PLAY_TTL_MS = 30_000;

export interface ServeBench {
  server: Bun.Subprocess<"ignore", "ignore", "pipe">;
  sinkPorts: number[];
  /** Lines the server has logged with ": lost " in them: outputs that lost part of a stream (job.ts). */
  lossLines(): number;
  /** Why the first of them lost (the reason in its line's parentheses), or null. */
  firstLossReason(): string | null;
  /** Stops the server and the sink. */
  close(): Promise<void>;
}

/** `sinks` 0: no sink process. `args` go after the config (`--senders auto`, say). */
export async function startServeBench(ctx: BenchContext, configPath: string, sinks: number, args: string[] = [], exec: string[] = []): Promise<ServeBench> {
  const sink = sinks > 0 ? Bun.spawn([BUN, SINK, String(sinks)], { stdin: "pipe", stdout: "pipe", stderr: "inherit" }) : null;
  // `exec`: a prefix that runs it elsewhere (bench/wire.ts's namespace); `ip netns exec` execs in place, so the pid is the server's.
  const server = Bun.spawn([...exec, ctx.pacer, "serve", "--config", configPath, ...args], { stdin: "ignore", stdout: "ignore", stderr: "pipe" });
  const close = async () => {
    await terminate(server);
    sink?.stdin.end();
    await sink?.exited;
  };
  try {
    const sinkPorts = sink ? (JSON.parse((await firstLine(sink.stdout)).line) as { ports: number[] }).ports : [];
    let lossLines = 0;
    let firstLossReason: string | null = null;
    let partial = "";
    await waitForLog(server.stderr, "pacer: serving", 10_000, (text) => {
      const lines = (partial + text).split("\n");
      partial = lines.pop()!;
      for (const line of lines) {
        if (!line.includes(": lost ")) continue;
        lossLines++;
        firstLossReason ??= /\(([^)]*)\)/.exec(line)?.[1] ?? null;
      }
    });
    return { server, sinkPorts, lossLines: () => lossLines, firstLossReason: () => firstLossReason, close };
  } catch (e) {
    await close();
    throw e;
  }
}

/**
 * Writes a `pacer serve` config at `path`: control on 127.0.0.1:`controlPort`, media from `media`,
 * up to `maxJobs` jobs, and request limits that never throttle the bench's own requests.
 * `settings` join the top table (http, key_file, allow_destinations); `tables` follow ([[live]]).
 */
export function writeServeConfig(path: string, o: { controlPort: number; media: string; maxJobs: number; settings?: string[]; tables?: string[] }): void {
  const lines = [
    `control = "127.0.0.1:${o.controlPort}"`,
    `media_root = "${o.media}"`,
    ...(o.settings ?? []),
    "[limits]",
    `max_jobs = ${o.maxJobs}`,
    "requests_per_second = 1000000",
    "request_burst = 1000000",
    ...(o.tables ?? []),
  ];
  writeFileSync(path, lines.join("\n") + "\n");
}

/** One persistent job per destination, `PLAY_CONCURRENCY` requests at a time; their ids. */
export async function startJobs(client: ControlClient, source: string, to: string[], args: { loop?: boolean } = {}): Promise<string[]> {
  const jobs: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: PLAY_CONCURRENCY }, async () => {
      while (next < to.length) {
        const dest = to[next++]!;
        const reply = await client.request("play", { source, to: [dest], persistent: true, ...args }, { ttlMs: PLAY_TTL_MS });
        if (!reply.ok) throw new Error(`play ${source} refused: ${reply.error.code} ${reply.error.message ?? ""}`);
        jobs.push((reply.result as { job: string }).job);
      }
    }),
  );
  return jobs;
}
