/**
 * What starting many plays at once costs the streams already running. One `pacer serve` takes N
 * plays (one looping job each, one destination each, a 1.5 Mbit/s TS, receivers off the host
 * through bench/wire.ts), asked for as fast as the bench's client goes (16 in flight, as the scale
 * section starts them). Printed per run: how long the plays took to be answered and the server's
 * CPU meanwhile, the server's own send lateness over those seconds (`status`: the p99 and the
 * largest, counted from its start, so nearly all of it while the plays came), its peak RSS, and
 * then its CPU over the next 10 s with every job running. With several builds, they run in
 * turn, `--rounds` times, so that each sees the host as it goes.
 *
 * Needs root (a network namespace), as the scale section does.
 *
 * @example
 * ```sh
 * bun bench/serve_start.ts --jobs 1000 --rounds 3 /tmp/pacer_before dist/pacer
 * # pacer_before  plays 1.45 s (CPU 1.48 s)  sends meanwhile p99 2.66 ms, max 6.29 ms  peak 306 MiB  then 0.0337 CPU s/stream-min
 * # pacer         plays 3.55 s (CPU 2.44 s)  sends meanwhile p99 0.61 ms, max 3.35 ms  peak 295 MiB  then 0.0286 CPU s/stream-min
 * ```
 */
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ControlClient } from "../client/control_client.ts";
import { serveMediaDir } from "./fixtures.ts";
import { BUN, CLK_TCK, processTicks, terminate, waitForLog } from "./processes.ts";
import { startJobs, writeServeConfig } from "./serve_bench.ts";
import { makeWire, WIRE_HOST } from "./wire.ts";

const BITRATE = 1_500_000;
const CONTROL_PORT = 17_080;
const FIRST_DESTINATION_PORT = 6_000;
const STEADY_S = 10;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { jobs: { type: "string" }, rounds: { type: "string" }, inside: { type: "boolean" } },
});

if (values.inside) {
  // Inside the namespace, where the server's control port is: CLIP JOBS. Prints the send lateness.
  const [clip, jobs] = positionals;
  const client = await ControlClient.open(`127.0.0.1:${CONTROL_PORT}`);
  const to = Array.from({ length: Number(jobs) }, (_, i) => `udp://${WIRE_HOST}:${FIRST_DESTINATION_PORT + i}`);
  const from = Bun.nanoseconds();
  await startJobs(client, clip!, to, { loop: true });
  const playsS = (Bun.nanoseconds() - from) / 1e9;
  const reply = await client.request("status", { limit: 1 }, { ttlMs: 5_000 });
  client.close();
  if (!reply.ok) throw new Error(`status: ${reply.error.code}`);
  const { send } = (reply.result as { lateness: Record<string, { p99: number; max: number }> }).lateness;
  console.log(JSON.stringify({ playsS, p99Us: send!.p99, maxUs: send!.max }));
  process.exit(0);
}

const jobs = Number(values.jobs ?? 1000);
const rounds = Number(values.rounds ?? 1);
if (positionals.length === 0 || !(jobs > 0) || !(rounds > 0)) {
  console.error("usage: bun bench/serve_start.ts [--jobs 1000] [--rounds 1] PACER...");
  process.exit(2);
}
const wire = makeWire();
if (typeof wire === "string") {
  console.error(`serve_start: ${wire}`);
  process.exit(1);
}
const peakKiB = (pid: number) => Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]);
const { dir, media, clipName } = serveMediaDir("pacer-serve-start-", BITRATE, 30);
const config = join(dir, "pacer.toml");
writeServeConfig(config, { controlPort: CONTROL_PORT, media, maxJobs: jobs, settings: [`allow_destinations = ["${WIRE_HOST}/32"]`] });
try {
  for (let round = 0; round < rounds; round++) {
    for (const bin of positionals) {
      const proc = Bun.spawn([...wire.exec, bin, "serve", "--config", config], { stdin: "ignore", stdout: "ignore", stderr: "pipe" });
      try {
        await waitForLog(proc.stderr, "pacer: serving", 10_000);
        const ticks = processTicks(proc.pid);
        const plays = Bun.spawnSync([...wire.exec, BUN, import.meta.path, "--inside", clipName, String(jobs)]);
        if (plays.exitCode !== 0) throw new Error(`${bin}: ${plays.stderr.toString().trim()}`);
        const cpuS = (processTicks(proc.pid) - ticks) / CLK_TCK;
        const { playsS, p99Us, maxUs } = JSON.parse(plays.stdout.toString()) as { playsS: number; p99Us: number; maxUs: number };
        const steadyFrom = processTicks(proc.pid);
        await Bun.sleep(STEADY_S * 1_000);
        const steady = (processTicks(proc.pid) - steadyFrom) / CLK_TCK / ((jobs * STEADY_S) / 60);
        const name = bin.split("/").pop();
        console.log(
          `${name}  plays ${playsS.toFixed(2)} s (CPU ${cpuS.toFixed(2)} s)  sends meanwhile p99 ${(p99Us / 1000).toFixed(2)} ms, max ${(maxUs / 1000).toFixed(2)} ms` +
            `  peak ${Math.round(peakKiB(proc.pid) / 1024)} MiB  then ${steady.toFixed(4)} CPU s/stream-min`,
        );
      } finally {
        await terminate(proc, 60_000);
      }
    }
  }
} finally {
  wire.remove();
  rmSync(dir, { recursive: true, force: true });
}
