/**
 * Where one job's CPU goes, thread by thread: `pacer play` of a 1.5 Mbit/s TS to N destinations
 * off the host (bench/wire.ts), with the user and system seconds of each of its threads (the
 * main thread "pacer", sender threads "Worker", the JIT's) read from /proc as it ends, and the
 * voluntary context switches (wake-ups) of each. The scale section gives a process's whole CPU;
 * this says which thread spends it, which is what moving work between threads changes.
 *
 * Needs root (a network namespace), as the scale section does.
 *
 * @example
 * ```sh
 * npm run build
 * bun bench/thread_split.ts --destinations 1000 --senders 1
 * # 1000 destinations, --senders 1, 10 s: 1425000 datagrams left; 7.03 CPU s, 0.0422 per stream-minute
 * #   pacer   user 0.97  sys 0.24  wake-ups 10694
 * #   Worker  user 1.12  sys 4.37  wake-ups 42586
 * ```
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { cbrTs } from "./fixtures.ts";
import { CLK_TCK } from "./processes.ts";
import { makeWire, WIRE_HOST } from "./wire.ts";

const BITRATE = 1_500_000;
const FIRST_PORT = 20_000;
const SAMPLE_MS = 100;

const { values } = parseArgs({
  options: {
    destinations: { type: "string", default: "1000" },
    senders: { type: "string", default: "1" },
    seconds: { type: "string", default: "10" },
    pacer: { type: "string", default: join(import.meta.dir, "..", "dist", "pacer") },
  },
});
const n = Number(values.destinations);
const seconds = Number(values.seconds);

interface ThreadFigures {
  name: string;
  userS: number;
  sysS: number;
  wakeUps: number;
}

/** Each thread of `pid` as it stands now (the last reading before it exits is the whole run). */
function threadsOf(pid: number, into: Map<string, ThreadFigures>): void {
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
    const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const status = readFileSync(`/proc/${pid}/task/${tid}/status`, "utf8");
    const wakeUps = Number(/\bvoluntary_ctxt_switches:\s*(\d+)/.exec(status)?.[1] ?? 0);
    into.set(tid, { name, userS: Number(fields[11]) / CLK_TCK, sysS: Number(fields[12]) / CLK_TCK, wakeUps });
  }
}

const dir = mkdtempSync(join(tmpdir(), "pacer-thread-split-"));
const wire = makeWire();
if (typeof wire === "string") throw new Error(`no wire: ${wire}`);
try {
  const input = cbrTs(dir, BITRATE, seconds);
  const to = Array.from({ length: n }, (_, i) => ["--to", `udp://${WIRE_HOST}:${FIRST_PORT + i}`]).flat();
  const before = wire.sentPackets();
  const proc = Bun.spawn([...wire.exec, values.pacer, "play", input.path, ...to, "--senders", values.senders], { stdout: "ignore", stderr: "pipe" });
  const threads = new Map<string, ThreadFigures>();
  let pid = 0;
  const sample = () => {
    try {
      // The namespace's exec wrapper runs pacer as its child.
      if (pid === 0) pid = Number(readFileSync(`/proc/${proc.pid}/task/${proc.pid}/children`, "utf8").trim().split(" ")[0]) || proc.pid;
      threadsOf(pid, threads);
    } catch {
      // It has exited between the listing and the read: the last reading stands.
    }
  };
  const sampler = setInterval(sample, SAMPLE_MS);
  const stderr = await new Response(proc.stderr).text();
  await proc.exited;
  clearInterval(sampler);
  const total = [...threads.values()].reduce((sum, t) => sum + t.userS + t.sysS, 0);
  const sent = wire.sentPackets() - before;
  console.log(`${n} destinations, --senders ${values.senders}, ${seconds} s: ${sent} datagrams left; ${total.toFixed(2)} CPU s, ${(total / ((n * seconds) / 60)).toFixed(4)} per stream-minute`);
  for (const t of threads.values()) {
    if (t.userS + t.sysS < 0.03) continue;
    console.log(`  ${t.name.padEnd(9)} user ${t.userS.toFixed(2)}  sys ${t.sysS.toFixed(2)}  wake-ups ${t.wakeUps}`);
  }
  if (proc.exitCode !== 0) console.log(`pacer exited ${proc.exitCode}: ${stderr.trim().split("\n")[0]}`);
} finally {
  wire.remove();
  rmSync(dir, { recursive: true, force: true });
}
