/**
 * Two pacer builds side by side: each runs `pacer serve` with the same number of looping jobs
 * (one destination each, a 1.5 Mbit/s TS, receivers off the host through bench/wire.ts), and
 * their CPU is read over the same seconds. A change to the send path is a few per cent, and this
 * host's load moves more than that between one run and the next (±7–10 %, docs/scale.md): two
 * builds measured at once see the same host. Run it both ways round; say both.
 *
 * Needs root (a network namespace), as the scale section does.
 *
 * @example
 * ```sh
 * npm run build && cp dist/pacer /tmp/pacer_after
 * bun bench/serve_side_by_side.ts --jobs 500 --seconds 10 /tmp/pacer_before /tmp/pacer_after
 * # pacer_before 0.0532  pacer_after 0.0512   (CPU s per stream-minute)
 * bun bench/serve_side_by_side.ts --jobs 500 --senders auto /tmp/pacer_before /tmp/pacer_after # both with sender threads
 * ```
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ControlClient } from "../client/control_client.ts";
import { serveMediaDir } from "./fixtures.ts";
import { BUN, CLK_TCK, processTicks, terminate, waitForLog } from "./processes.ts";
import { startJobs, writeServeConfig } from "./serve_bench.ts";
import { makeWire, WIRE_HOST } from "./wire.ts";

const BITRATE = 1_500_000;
const FIRST_CONTROL_PORT = 17_070;
const FIRST_DESTINATION_PORT = 6_000;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { jobs: { type: "string" }, seconds: { type: "string" }, senders: { type: "string" }, "start-jobs": { type: "boolean" } },
});

if (values["start-jobs"]) {
  // Inside the namespace, where the servers' control ports are: CONTROL CLIP JOBS FIRST_PORT.
  const [control, clip, jobs, firstPort] = positionals;
  const client = await ControlClient.open(control!);
  const to = Array.from({ length: Number(jobs) }, (_, i) => `udp://${WIRE_HOST}:${Number(firstPort) + i}`);
  await startJobs(client, clip!, to, { loop: true });
  client.close();
  process.exit(0);
}

const jobs = Number(values.jobs ?? 500);
const seconds = Number(values.seconds ?? 10);
if (positionals.length !== 2 || !(jobs > 0) || !(seconds > 0)) {
  console.error("usage: bun bench/serve_side_by_side.ts [--jobs 500] [--seconds 10] [--senders N] PACER_A PACER_B");
  process.exit(2);
}
const wire = makeWire();
if (typeof wire === "string") {
  console.error(`serve_side_by_side: ${wire}`);
  process.exit(1);
}
const { dir, media, clipName } = serveMediaDir("pacer-side-by-side-", BITRATE, 30);
const servers: { name: string; proc: Bun.Subprocess }[] = [];
const startUp: string[] = [];
try {
  for (const [k, bin] of positionals.entries()) {
    const port = FIRST_CONTROL_PORT + k;
    const config = join(dir, `pacer-${k}.toml`);
    writeServeConfig(config, { controlPort: port, media, maxJobs: jobs, settings: [`allow_destinations = ["${WIRE_HOST}/32"]`] });
    const senders = values.senders === undefined ? [] : ["--senders", values.senders];
    const proc = Bun.spawn([...wire.exec, bin, "serve", "--config", config, ...senders], { stdin: "ignore", stdout: "ignore", stderr: "pipe" });
    servers.push({ name: bin.split("/").pop()!, proc });
    await waitForLog(proc.stderr, "pacer: serving", 10_000);
    const ticks = processTicks(proc.pid);
    const from = Bun.nanoseconds();
    const start = Bun.spawnSync([...wire.exec, BUN, import.meta.path, "--start-jobs", `127.0.0.1:${port}`, clipName, String(jobs), String(FIRST_DESTINATION_PORT + k * jobs)]);
    if (start.exitCode !== 0) throw new Error(`starting ${bin}'s jobs: ${start.stderr.toString().trim()}`);
    startUp.push(`${servers.at(-1)!.name} ${((processTicks(proc.pid) - ticks) / CLK_TCK).toFixed(2)} s CPU in ${((Bun.nanoseconds() - from) / 1e9).toFixed(2)} s`);
  }
  console.log("starting the jobs (sending the first ones included):", startUp.join("  "));
  // Past the start-up of both (the first began before the second's jobs): steady state only.
  await Bun.sleep(3_000);
  const before = servers.map((s) => processTicks(s.proc.pid));
  const from = Bun.nanoseconds();
  await Bun.sleep(seconds * 1_000);
  const after = servers.map((s) => processTicks(s.proc.pid));
  const wallS = (Bun.nanoseconds() - from) / 1e9;
  const perStreamMinute = servers.map((_, k) => (after[k]! - before[k]!) / CLK_TCK / ((jobs * wallS) / 60));
  console.log(servers.map((s, k) => `${s.name} ${perStreamMinute[k]!.toFixed(4)}`).join("  "), "  (CPU s per stream-minute)");
} finally {
  for (const s of servers) await terminate(s.proc, 60_000);
  wire.remove();
}

