/**
 * Spawning for the bench: the receiver process and bounded sender runs
 * with their CPU time and memory.
 *
 * @example
 * ```ts
 * const rx = await startReceiver({ streams: 1, rtp: true, maxSeconds: 20 });
 * const run = await runBounded(["dist/pacer", "play", "a.wav", "--to", `rtp://127.0.0.1:${rx.ports[0]}`], 20);
 * const { summary, rows } = await rx.stop();
 * ```
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { monoNs } from "./clock.ts";
import type { ReceiverConfig, ReceiverSummary } from "./receiver.ts";

export const BUN = process.execPath;
const RECEIVER = join(import.meta.dir, "receiver.ts");
/** After the sender exits, the receiver gets this long for datagrams still in flight. */
const DRAIN_MS = 300;
/** After SIGTERM at its time limit, a run gets this long before SIGKILL. */
const KILL_GRACE_MS = 3_000;
/** The receiver writes what it recorded, perhaps 100 MB; it gets this long to stop. */
const STOP_TIMEOUT_MS = 30_000;

let receiverSerial = 0;

export interface ReceiverHandle {
  ports: number[];
  /** Lets the last datagrams land, stops the receiver and reads what it recorded. */
  stop(): Promise<{ summary: ReceiverSummary; rows: Float64Array }>;
}

async function readLine(reader: { read(): Promise<{ done: boolean; value?: Uint8Array }> }, timeoutMs: number): Promise<string> {
  const decoder = new TextDecoder();
  let text = "";
  const deadline = Date.now() + timeoutMs;
  while (!text.includes("\n")) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error("bench receiver did not start in time");
    const chunk = await Promise.race([reader.read(), Bun.sleep(left).then(() => null)]);
    if (chunk === null) continue;
    if (chunk.done) throw new Error("bench receiver exited before binding its sockets");
    text += decoder.decode(chunk.value, { stream: true });
  }
  return text.slice(0, text.indexOf("\n"));
}

/**
 * Starts bench/receiver.ts in its own process and waits until its sockets are bound; `exec`
 * prefixes its command (`ip netns exec NAME`: bench/wire.ts).
 */
export async function startReceiver(config: Omit<ReceiverConfig, "out">, exec: string[] = []): Promise<ReceiverHandle> {
  const out = join(tmpdir(), `pacer-bench-rx-${process.pid}-${receiverSerial++}`);
  const full: ReceiverConfig = { ...config, out };
  const proc = Bun.spawn([...exec, BUN, RECEIVER, JSON.stringify(full)], { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
  const reader = proc.stdout.getReader();
  const ready = JSON.parse(await readLine(reader, 15_000)) as { ports: number[] };
  reader.releaseLock();
  return {
    ports: ready.ports,
    async stop() {
      await Bun.sleep(DRAIN_MS);
      // End of stdin stops the receiver; SIGKILL only if it does not stop.
      await proc.stdin.end();
      const killer = setTimeout(() => proc.kill("SIGKILL"), STOP_TIMEOUT_MS);
      await proc.exited;
      clearTimeout(killer);
      const summary = JSON.parse(readFileSync(`${out}.json`, "utf8")) as ReceiverSummary;
      const bin = readFileSync(`${out}.bin`);
      const rows = new Float64Array(bin.buffer, bin.byteOffset, bin.byteLength / 8);
      await Bun.file(`${out}.json`).delete();
      await Bun.file(`${out}.bin`).delete();
      return { summary, rows };
    },
  };
}

export interface RunResult {
  exitCode: number | null;
  timedOut: boolean;
  /** Monotonic ns just before spawning. */
  spawnedAtNs: number;
  wallS: number;
  /** User + system CPU seconds of the process. */
  cpuS: number;
  maxRssBytes: number;
  /** Largest VmRSS seen while sampling (bytes), if sampled. */
  sampledRssBytes: number;
  stdout: string;
  stderr: string;
}

/** The current resident memory of process `pid`, bytes (0 once it has gone). */
export function vmRssBytes(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * Runs `cmd` to completion, stopping it after `limitS` seconds (every bench
 * run is bounded). Samples VmRSS every `rssEveryMs` if given; `env` adds to the environment.
 */
export async function runBounded(cmd: string[], limitS: number, rssEveryMs = 0, env?: Record<string, string>): Promise<RunResult> {
  const spawnedAtNs = monoNs();
  const proc = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe", stdin: "ignore", ...(env && { env: { ...process.env, ...env } }) });
  let timedOut = false;
  let hardKiller: ReturnType<typeof setTimeout> | null = null;
  // SIGTERM first, so a sender can stop cleanly and report; SIGKILL if it does not.
  const killer = setTimeout(() => {
    timedOut = true;
    proc.kill("SIGTERM");
    hardKiller = setTimeout(() => proc.kill("SIGKILL"), KILL_GRACE_MS);
  }, limitS * 1000);
  let sampledRssBytes = 0;
  const sampler = rssEveryMs > 0
    ? setInterval(() => (sampledRssBytes = Math.max(sampledRssBytes, vmRssBytes(proc.pid))), rssEveryMs)
    : null;
  const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  await proc.exited;
  clearTimeout(killer);
  if (hardKiller) clearTimeout(hardKiller);
  if (sampler) clearInterval(sampler);
  const usage = proc.resourceUsage();
  return {
    exitCode: proc.exitCode,
    timedOut,
    spawnedAtNs,
    wallS: (monoNs() - spawnedAtNs) / 1e9,
    cpuS: usage ? Number(usage.cpuTime.total) / 1e6 : NaN,
    maxRssBytes: usage ? usage.maxRSS : 0,
    sampledRssBytes,
    stdout,
    stderr,
  };
}

/** The kernel's UDP receive-buffer drop counter (/proc/net/snmp RcvbufErrors). */
export function udpRcvbufErrors(): number {
  try {
    const lines = readFileSync("/proc/net/snmp", "utf8").split("\n").filter((l) => l.startsWith("Udp:"));
    const names = lines[0]!.split(/\s+/);
    const values = lines[1]!.split(/\s+/);
    return Number(values[names.indexOf("RcvbufErrors")]);
  } catch {
    return NaN;
  }
}

/**
 * Datagrams the kernel dropped host-wide before any socket saw them: its per-CPU input backlog
 * (/proc/net/softnet_stat's second column) overflows when loopback senders burst faster than
 * softirq delivers.
 */
export function backlogDrops(): number {
  try {
    return readFileSync("/proc/net/softnet_stat", "utf8")
      .trim()
      .split("\n")
      .reduce((n, line) => n + parseInt(line.split(/\s+/)[1] ?? "0", 16), 0);
  } catch {
    return NaN;
  }
}

/** Clock ticks per second of /proc/PID/stat's CPU times (USER_HZ, 100 on Linux). */
export const CLK_TCK = 100;

/** User + system CPU ticks of process `pid`. */
export function processTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

/** The first line a process prints, and a promise of the rest of its output. */
export async function firstLine(stream: ReadableStream<Uint8Array>): Promise<{ line: string; rest: Promise<string> }> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let text = "";
  while (!text.includes("\n")) {
    const chunk = await reader.read();
    if (chunk.done) throw new Error(`process ended before its first line: ${text}`);
    text += decoder.decode(chunk.value, { stream: true });
  }
  const cut = text.indexOf("\n");
  const rest = (async () => {
    let more = text.slice(cut + 1);
    for (;;) {
      const chunk = await reader.read();
      if (chunk.done) return more;
      more += decoder.decode(chunk.value, { stream: true });
    }
  })();
  return { line: text.slice(0, cut), rest };
}

/** Waits until a process's stream has printed `needle`, then keeps draining it, passing what comes to `onText`. */
export async function waitForLog(stream: ReadableStream<Uint8Array>, needle: string, timeoutMs: number, onText?: (text: string) => void): Promise<void> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let text = "";
  const deadline = Date.now() + timeoutMs;
  while (!text.includes(needle)) {
    const left = deadline - Date.now();
    const chunk = await Promise.race([reader.read(), Bun.sleep(Math.max(0, left)).then(() => null)]);
    if (chunk === null || chunk.done) throw new Error(`pacer serve did not start: ${text.trim().split("\n").pop() ?? ""}`);
    text += decoder.decode(chunk.value, { stream: true });
  }
  // Keep draining so the server never blocks on a full stderr pipe.
  void (async () => {
    for (;;) {
      const chunk = await reader.read();
      if (chunk.done) return;
      onText?.(decoder.decode(chunk.value, { stream: true }));
    }
  })();
}

/** SIGTERM, then SIGKILL if it has not exited within `graceMs`; resolves once it has exited. */
export async function terminate(proc: Bun.Subprocess, graceMs = 5_000): Promise<void> {
  proc.kill("SIGTERM");
  const killer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
  await proc.exited;
  clearTimeout(killer);
}
