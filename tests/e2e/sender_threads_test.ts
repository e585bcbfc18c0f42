/**
 * Sender threads (backends/net/senders/): with `--senders N` the udp:// and rtp:// outputs are
 * sent from N threads of their own. Story: a user plays a stream to several receivers, one of
 * them not listening, and spreads them over two threads: every listening receiver gets the whole
 * stream once, in order and at its pace; only the missing one is reported refused; and the
 * threads are really there. `--senders 0` sends the same bytes from the main thread.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeCbrTs, makeTempDir } from "../helpers/mpeg_fixtures.ts";
import { runPacer, startPacer } from "../helpers/pacer.ts";
import { freeUdpPort } from "../helpers/ports.ts";
import { udpReceiver } from "../helpers/udp_receiver.ts";
import { freeTcpPort, startServe } from "../server/serve_fixture.ts";

const tmp = makeTempDir();
afterAll(() => tmp.cleanup());
const source = makeCbrTs({ bitrate: 1_500_000, duration: 2 });
const file = join(tmp.dir, "two_seconds.ts");
writeFileSync(file, source);

/**
 * Bun Worker threads of a running process, by the name Bun gives them. Counting every thread
 * failed under CI's load: JSC starts its own helpers (HeapHelper, JITWorker) when it likes.
 */
function workerThreads(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/task`).filter((t) => readFileSync(`/proc/${pid}/task/${t}/comm`, "utf8").trim() === "Worker").length;
  } catch {
    return 0; // the process or the thread has just ended
  }
}

/** How long pacer held the destination at `port` back in all (its re-anchors, a host that stalled it), per its --verbose line. */
function behindSeconds(stderr: string, port: number): number {
  const line = stderr.split("\n").find((l) => l.includes("destination finished") && l.includes(`:${port} `));
  const m = line?.match(/behind_ms=(\d+)/);
  if (!m) throw new Error(`no "destination finished" line for port ${port}: ${stderr}`);
  return Number(m[1]) / 1000;
}

async function playTo(senders: string) {
  // Buffers that hold the whole stream: a loaded host may hold this test's event loop for a while.
  const [a, b, c] = await Promise.all([0, 0, 0].map(() => udpReceiver(0, { rcvbufBytes: 8 << 20 })));
  const closed = await freeUdpPort();
  const child = startPacer(["--verbose", "play", file, "--senders", senders, "--to", `udp://127.0.0.1:${a.port}`, "--to", `udp://127.0.0.1:${closed}`, "--to", `rtp://127.0.0.1:${b.port}`, "--to", `udp://127.0.0.1:${c.port}`]);
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  // The most sender threads seen while it ran (a loaded host may start it late).
  let workers = 0;
  const watch = setInterval(() => (workers = Math.max(workers, workerThreads(child.pid!))), 100);
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  clearInterval(watch);
  await Bun.sleep(100);
  for (const r of [a, b, c]) await r.settled();
  for (const r of [a, b, c]) r.close();
  return { code, stderr, workers, a, b, c, closed };
}

const concat = (parts: Buffer[]) => Buffer.concat(parts);

describe("--senders", () => {
  test("two threads: each listening receiver gets the stream once, in order, at its pace; only the closed port is refused", async () => {
    const run = await playTo("2");
    const single = await playTo("0");
    expect(run.code, run.stderr).toBe(0);
    expect(single.code, single.stderr).toBe(0);
    for (const r of [run, single]) {
      for (const rx of [r.a, r.c]) {
        expect(concat(rx.packets.map((p) => p.data)).equals(Buffer.from(source))).toBe(true);
        // At the stream's pace: 2 s of media over about 2 s, not a burst; less any time a
        // stalled host made pacer re-anchor, as DESIGN asks.
        const span = (rx.packets.at(-1)!.atUs - rx.packets[0]!.atUs) / 1e6 - behindSeconds(r.stderr, rx.port);
        expect(span).toBeGreaterThan(1.8);
        expect(span).toBeLessThan(2.4);
      }
      // RTP: consecutive sequence numbers, and the payloads are the stream.
      const seqs = r.b.packets.map((p) => p.data.readUInt16BE(2));
      seqs.forEach((s, i) => i > 0 && expect(s).toBe((seqs[i - 1]! + 1) & 0xffff));
      expect(concat(r.b.packets.map((p) => p.data.subarray(12))).equals(Buffer.from(source))).toBe(true);
      const refused = r.stderr.split("\n").filter((l) => l.includes("port unreachable"));
      expect(refused, r.stderr).toHaveLength(1);
      expect(refused[0]).toContain(`127.0.0.1:${r.closed}`);
    }
    // The two sender threads ran beside the main thread's own, and none with --senders 0.
    expect(run.workers).toBe(2);
    expect(single.workers).toBe(0);
  }, 20_000);

  test("a count that is not a whole number from 0 to 64 is a one-line usage error", async () => {
    for (const bad of ["-1", "x", "65", "1.5"]) {
      const child = startPacer(["play", file, "--senders", bad, "--to", "udp://127.0.0.1:9"]);
      let stderr = "";
      child.stderr!.on("data", (d) => (stderr += d));
      const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
      expect(code).toBe(2);
      expect(stderr.trim().split("\n")).toHaveLength(1);
      expect(stderr).toContain(`--senders ${bad}: give a whole number of sender threads`);
    }
  });
});

describe("serve --senders 1", () => {
  test("jobs that come and go share the thread: a later job's destination inherits nothing of an earlier one's errors", async () => {
    const httpPort = freeTcpPort();
    const serve = await startServe({ config: `http = "127.0.0.1:${httpPort}"`, args: ["--senders", "1"] });
    const rx = await udpReceiver();
    const ctl = (...args: string[]) => runPacer(["ctl", "--server", serve.address, ...args]);
    const destinationsOf = async (job: string) => {
      const status = (await (await fetch(`http://127.0.0.1:${httpPort}/status`)).json()) as { jobs: { id: string; destinations: { units: number; errors: Record<string, number> }[] }[] };
      return status.jobs.find((j) => j.id === job)!.destinations;
    };
    try {
      const closed = await freeUdpPort();
      const first = (await ctl("play", "clip.ts", "--loop", "--to", `udp://127.0.0.1:${closed}`)).stdout.trim();
      await Bun.sleep(800);
      expect((await destinationsOf(first))[0]!.errors.refused ?? 0).toBeGreaterThan(0);
      await ctl("stop", first);
      await Bun.sleep(200);
      // The second job's destination takes the first one's place in the thread.
      const second = (await ctl("play", "clip.ts", "--loop", "--to", `udp://127.0.0.1:${rx.port}`)).stdout.trim();
      await Bun.sleep(800);
      const [destination] = await destinationsOf(second);
      await ctl("stop", second);
      expect(destination!.errors).toEqual({});
      expect(destination!.units).toBeGreaterThan(30);
      expect(rx.packets.length).toBeGreaterThan(30);
    } finally {
      rx.close();
      await serve.stop();
      serve.cleanup();
    }
  }, 20_000);
});
