/**
 * Stories against a real `pacer serve` process on loopback: a client asks for a stream with
 * `pacer ctl`, gets it, and stops it; a retried datagram is executed once; `pacer recv` gets the
 * file byte for byte; a client that goes away stops getting its stream; reload and shutdown.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { ControlClient } from "../../client/control_client.ts";
import { type ControlReply, decodeReply } from "../../protocol/control.ts";
import { RTP_HEADER_SIZE } from "../../protocol/rtp.ts";
import { runPacer, startPacer } from "../helpers/pacer.ts";
import { udpReceiver } from "../helpers/udp_receiver.ts";
import { CLIP, freeTcpPort, rawPeer, requestBytes, type ServeFixture, startServe, uids } from "./serve_fixture.ts";

let serve: ServeFixture;
const httpPort = freeTcpPort();
beforeAll(async () => {
  serve = await startServe({ config: `interest_timeout = 2\nhttp = "127.0.0.1:${httpPort}"` });
});
afterAll(async () => {
  await serve.stop();
  serve.cleanup();
});

const ctl = (...args: string[]) => runPacer(["ctl", "--server", serve.address, ...args]);

/** A looping clip.ts job to a `scheme`:// receiver while `body` runs (given the URL and the job); stopped after. */
async function withLoopingJob(scheme: "udp" | "rtp", body: (to: string, job: string, rx: Awaited<ReturnType<typeof udpReceiver>>) => Promise<void>): Promise<void> {
  const rx = await udpReceiver();
  try {
    const to = `${scheme}://127.0.0.1:${rx.port}`;
    const job = (await ctl("play", "clip.ts", "--loop", "--to", to)).stdout.trim();
    await body(to, job, rx);
    await ctl("stop", job);
  } finally {
    rx.close();
  }
}

async function status(args: Record<string, unknown> = {}) {
  const peer = await rawPeer();
  try {
    peer.send(requestBytes("status", args), serve.port);
    const bytes = await peer.next(2000);
    const decoded = decodeReply(bytes!);
    if (!decoded.ok) throw new Error(decoded.message);
    return decoded.reply;
  } finally {
    peer.close();
  }
}

describe("pacer serve", () => {
  test("never streams as root: started as root, it runs as nobody", async () => {
    if (process.getuid?.() !== 0) return;
    expect(serve.stderr()).toContain("dropped root privileges user=nobody");
    const [real, effective, saved] = await uids(serve.child.pid!);
    expect(real).not.toBe(0);
    expect(effective).not.toBe(0);
    expect(saved).not.toBe(0);
  });

  test("ctl play starts a stream to the requester, ctl stop ends it", async () => {
    const rx = await udpReceiver();
    try {
      const play = await ctl("play", "clip.ts", "--loop", "--to", `rtp://127.0.0.1:${rx.port}`);
      expect(play.stderr).toBe("");
      expect(play.code).toBe(0);
      const job = play.stdout.trim();
      expect(job).toMatch(/^job-\d+$/);
      for (let i = 0; i < 40 && rx.packets.length < 10; i++) await Bun.sleep(25);
      expect(rx.packets.length).toBeGreaterThanOrEqual(10);
      expect(rx.packets[0]!.data.length).toBe(RTP_HEADER_SIZE + 7 * 188);

      const stop = await ctl("stop", job);
      expect(stop.code).toBe(0);
      expect(stop.stdout).toContain(`stopped ${job}`);
      await Bun.sleep(150);
      const after = rx.packets.length;
      await Bun.sleep(300);
      expect(rx.packets.length).toBe(after);
      const reply = await status({ job });
      expect(reply.ok && (reply.result as { job: unknown }).job).toEqual({
        id: job,
        source: "clip.ts",
        state: "stopped",
        owner: "127.0.0.1",
        ended: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      });
    } finally {
      rx.close();
    }
  });

  test("a datagram sent twice starts one job and gets byte-identical replies", async () => {
    const rx = await udpReceiver();
    const peer = await rawPeer();
    try {
      const before = await status();
      const started = (r: typeof before) => (r.ok ? (r.result as { server: { jobs_total: { started: number } } }).server.jobs_total.started : -1);
      const datagram = requestBytes("play", { source: "clip.ts", to: [`rtp://127.0.0.1:${rx.port}`] });
      peer.send(datagram, serve.port);
      peer.send(datagram, serve.port);
      const first = await peer.next(2000);
      const second = await peer.next(2000);
      expect(first).not.toBeNull();
      expect(second).not.toBeNull();
      expect(Buffer.from(second!).equals(Buffer.from(first!))).toBe(true);
      // A late retry, after the job started, is answered from the cache too.
      await Bun.sleep(100);
      peer.send(datagram, serve.port);
      const third = await peer.next(2000);
      expect(Buffer.from(third!).equals(Buffer.from(first!))).toBe(true);
      const reply = decodeReply(first!);
      expect(reply.ok && reply.reply.ok).toBe(true);
      expect(started(await status())).toBe(started(before) + 1);
      const job = reply.ok && reply.reply.ok ? (reply.reply.result as { job: string }).job : "";
      peer.send(requestBytes("stop", { job }), serve.port);
      expect(await peer.next(2000)).not.toBeNull();
    } finally {
      peer.close();
      rx.close();
    }
  });

  test("a repeated play (new id) for the same stream refreshes the job instead of starting another", async () => {
    const rx = await udpReceiver();
    try {
      const to = `rtp://127.0.0.1:${rx.port}`;
      const first = await ctl("play", "clip.ts", "--loop", "--to", to);
      const again = await ctl("--json", "play", "clip.ts", "--loop", "--to", to);
      const reply = JSON.parse(again.stdout);
      expect(reply.result.job).toBe(first.stdout.trim());
      expect(reply.result.refreshed).toBe(true);
      await ctl("stop", first.stdout.trim());
    } finally {
      rx.close();
    }
  });

  test("a repeat that asks for the stream otherwise (from another start, looping or not) is busy, naming the running job, which goes on as it was", async () => {
    await withLoopingJob("udp", async (to, first) => {
      // Before: ok and `refreshed`, the start and the loop silently dropped.
      const seek = await ctl("play", "clip.ts", "--loop", "--start", "1", "--to", to);
      expect(seek.code).toBe(1);
      expect(seek.stderr).toContain(`busy: ${first} already streams clip.ts to these destinations (from 0 s, looping); stop it to play it from 1 s, looping`);
      const once = await ctl("play", "clip.ts", "--to", to);
      expect(once.stderr).toContain(`busy: ${first} already streams clip.ts to these destinations (from 0 s, looping); stop it to play it from 0 s`);
      const state = await status({ job: first });
      expect(state.ok && (state.result as { job: { state: string } }).job.state).toBe("running");
    });
  });

  test("the same stream asked for twice at once, with two ids (as pacer recv asks again), is started once: the second play refreshes it", async () => {
    const rx = await udpReceiver();
    const client = await ControlClient.open(serve.address);
    try {
      const to = [`udp://127.0.0.1:${rx.port}`];
      const replies = await Promise.all([0, 1].map(() => client.request("play", { source: "clip.ts", to, loop: true }, { ttlMs: 5_000 })));
      const results = replies.map((reply) => {
        if (!reply.ok) throw new Error(`play refused: ${reply.error.code}`);
        return reply.result as { job: string; refreshed?: boolean };
      });
      expect(results[1]!.job).toBe(results[0]!.job);
      expect(results.filter((r) => r.refreshed === true)).toHaveLength(1);
      await ctl("stop", results[0]!.job);
    } finally {
      client.close();
      rx.close();
    }
  });

  test("a --persistent repeat of a running stream makes it persistent: it outlives the interest timeout", async () => {
    await withLoopingJob("rtp", async (to, first, rx) => {
      const again = await ctl("--json", "play", "clip.ts", "--loop", "--persistent", "--to", to);
      const reply = JSON.parse(again.stdout);
      expect(reply.result).toMatchObject({ job: first, refreshed: true, interest_timeout: null });
      await Bun.sleep(2600); // past interest_timeout = 2 with no interest sent
      const state = await status({ job: first });
      expect(state.ok && (state.result as { job: { state: string; persistent: boolean } }).job).toMatchObject({ state: "running", persistent: true });
      const before = rx.packets.length;
      await Bun.sleep(200);
      expect(rx.packets.length).toBeGreaterThan(before);
    });
  });

  test("pacer recv gets a file byte-identical to the source and exits 0 at the end", async () => {
    const out = join(serve.dir, "received.ts");
    const started = Date.now();
    const run = await runPacer(["recv", "--from", serve.address, "--request", "clip.ts", "--out", out], { timeoutMs: 15_000 });
    expect(run.stderr).toContain("stream ended");
    expect(run.code).toBe(0);
    const got = readFileSync(out);
    expect(got.length).toBe(CLIP.length);
    expect(got.equals(Buffer.from(CLIP))).toBe(true);
    // Paced, not bursted: 1.5 s of stream takes about that long, plus end detection.
    expect(Date.now() - started).toBeGreaterThan(1400);
  });

  test("Ctrl-C on pacer recv stops its stream at the server and exits 0", async () => {
    const out = join(serve.dir, "interrupted.ts");
    const recv = startPacer(["recv", "--from", serve.address, "--request", "clip.ts", "--out", out]);
    let stderr = "";
    recv.stderr.on("data", (d) => (stderr += d));
    recv.stdin.end();
    const exit = new Promise<number | null>((resolve) => recv.on("close", (code) => resolve(code)));
    const receivedSome = () => existsSync(out) && statSync(out).size >= 20_000;
    // Its start-up, the request and the first 20 kB: 2 s was not enough beside another test file.
    for (let i = 0; i < 400 && !receivedSome(); i++) await Bun.sleep(25);
    expect(receivedSome()).toBe(true);
    recv.kill("SIGINT");
    expect(await exit).toBe(0);
    expect(stderr).toContain("pacer: stopped");
    const job = /job=(job-\d+)/.exec(serve.stderr().split("\n").filter((l) => l.includes("job stop requested")).at(-1) ?? "")?.[1];
    expect(job).toBeDefined();
    expect(statSync(out).size).toBeLessThan(CLIP.length);
  }, 20_000);

  test("a client that stops sending interest sees its stream stop within interest_timeout + 1 s", async () => {
    const rx = await udpReceiver();
    try {
      const play = await ctl("play", "clip.ts", "--loop", "--to", `rtp://127.0.0.1:${rx.port}`);
      const job = play.stdout.trim();
      await Bun.sleep(3_200); // interest_timeout 2 s, then a margin; no interest sent meanwhile
      // From its first datagram (the play, its only interest) to its last: not ctl's exit, which a
      // loaded host may see late.
      const ranUs = rx.packets.at(-1)!.atUs - rx.packets[0]!.atUs;
      expect(ranUs).toBeGreaterThan(1_500_000); // it did run for a while (looping)
      expect(ranUs).toBeLessThan(3_000_000);
      const reply = await status({ job });
      expect(reply.ok && (reply.result as { job: { state: string } }).job.state).toBe("expired");
      expect(serve.stderr()).toContain(`interest expired job=${job}`);
    } finally {
      rx.close();
    }
  }, 15_000);

  /**
   * Plays to RTP, then sends `stop` and `op` for the job together: RTP ends with a BYE 50 ms after
   * its last packet, so `op` comes while the job's outputs still close. Returns `op`'s answer.
   */
  async function askWhileStopping(op: "interest" | "status"): Promise<{ job: string; answer: unknown }> {
    const rx = await udpReceiver();
    const peer = await rawPeer();
    try {
      const job = (await ctl("play", "clip.ts", "--loop", "--to", `rtp://127.0.0.1:${rx.port}`)).stdout.trim();
      peer.send(requestBytes("stop", { job }, { id: `stop-${job}` }), serve.port);
      peer.send(requestBytes(op, { job }, { id: `${op}-${job}` }), serve.port);
      const replies = new Map<string | null, ControlReply>();
      for (const bytes of [await peer.next(2000), await peer.next(2000)]) {
        const decoded = decodeReply(bytes!);
        if (decoded.ok) replies.set(decoded.reply.id, decoded.reply);
      }
      expect(replies.get(`stop-${job}`)?.ok).toBe(true);
      const reply = replies.get(`${op}-${job}`);
      return { job, answer: reply?.ok ? reply.result : reply?.error };
    } finally {
      peer.close();
      rx.close();
    }
  }

  test("an interest that comes while a stopped stream's outputs close is not_found, not ok with expires_in null (which says persistent)", async () => {
    const { job, answer } = await askWhileStopping("interest");
    expect(answer).toEqual({ code: "not_found", message: `${job} has finished (stopped)` });
  });

  test("status of a stream whose outputs close after a stop says stopped, with expires_in 0, not running with its old interest count", async () => {
    const { answer } = await askWhileStopping("status");
    const shown = (answer as { job: { state: string; expires_in: number | null } }).job;
    expect({ state: shown.state, expires_in: shown.expires_in }).toEqual({ state: "stopped", expires_in: 0 });
  });

  test("interest keeps a stream alive past the timeout", async () => {
    // Interests from this process, not `pacer ctl` runs: a process start on a loaded host can take
    // longer than the margin between them. Each request's send and reply times bound when the
    // server acted on it, so the test measures, rather than assumes, that no two refreshes were a
    // timeout apart.
    const TIMEOUT_US = 2_000_000; // interest_timeout
    const rx = await udpReceiver();
    const client = await ControlClient.open(serve.address);
    const nowUs = () => Bun.nanoseconds() / 1000;
    const ask = async (op: "play" | "interest" | "status" | "stop", args: Record<string, unknown>) => {
      const sentUs = nowUs();
      const reply: ControlReply = await client.request(op, args, { ttlMs: 5_000 });
      const result = (reply.ok ? reply.result : reply.error) as Record<string, unknown>;
      return { reply, result, sentUs, repliedUs: nowUs() };
    };
    let keeping = true;
    let keeper: Promise<void> = Promise.resolve();
    try {
      const play = await ask("play", { source: "clip.ts", loop: true, to: [`rtp://127.0.0.1:${rx.port}`] });
      expect(play.reply.ok, JSON.stringify(play.result)).toBe(true);
      const job = play.result.job as string;
      expect(play.result.interest_timeout).toBe(TIMEOUT_US / 1e6);
      // An interest every 0.5 s until the checks below are done.
      const interests = [play];
      keeper = (async () => {
        while (keeping) {
          await Bun.sleep(500);
          if (keeping) interests.push(await ask("interest", { job }));
        }
      })();
      // Past a timeout and a second after the play: without the interests the job has expired by then.
      while (nowUs() - play.repliedUs < TIMEOUT_US + 1_000_000) await Bun.sleep(50);
      // `pacer ctl interest` renews it too (the in-process interests go on meanwhile, however long it takes to start).
      const renewed = await ctl("interest", job);
      const count = rx.packets.length;
      for (let i = 0; i < 40 && rx.packets.length <= count; i++) await Bun.sleep(25);
      const streaming = rx.packets.length > count;
      const status = await ask("status", { job });
      keeping = false;
      await keeper;
      const stop = await ask("stop", { job });

      // Every interest was accepted and renewed the job for a whole timeout.
      for (const interest of interests.slice(1)) expect(interest.result).toEqual({ job, expires_in: TIMEOUT_US / 1e6 });
      // Each refresh came less than a timeout after the one before (the first, the play's), and the
      // status and the stop less than a timeout after the last one answered before they were sent:
      // the server acted on each request between its send and its reply. Only a stall of this
      // process of 1.5 s breaks this.
      const gapsUs = interests.slice(1).map((interest, i) => interest.repliedUs - interests[i]!.sentUs);
      const lastBefore = (at: { sentUs: number }) => interests.filter((i) => i.repliedUs <= at.sentUs).at(-1)!;
      gapsUs.push(status.repliedUs - lastBefore(status).sentUs, stop.repliedUs - lastBefore(stop).sentUs);
      expect(Math.max(...gapsUs)).toBeLessThan(TIMEOUT_US);
      // So the job, which the play alone kept until a timeout after its reply at most, still runs
      // more than a second after that, and streams.
      expect(status.sentUs - play.repliedUs).toBeGreaterThan(TIMEOUT_US + 1_000_000);
      expect(status.result).toMatchObject({ job: { state: "running" } });
      expect(streaming).toBe(true);
      expect(renewed.stderr).toBe("");
      expect(renewed.code).toBe(0);
      expect(renewed.stdout).toBe(`${job}: interest renewed for 2 s\n`);
      expect(stop.result).toEqual({ job, stopped: true });
    } finally {
      keeping = false;
      await keeper;
      client.close();
      rx.close();
    }
  }, 15_000);

  test("list shows the media catalogue with durations; ping answers; queue is not yet available", async () => {
    const list = await ctl("list");
    expect(list.code).toBe(0);
    const seconds = ((CLIP.length * 8) / 1_000_000).toFixed(3); // 997 packets at 1 Mbit/s: 1.499 s
    expect(list.stdout).toBe(`clip.ts\tmpegts\t${seconds} s\n`);
    const ping = await ctl("ping");
    expect(ping.code).toBe(0);
    expect(ping.stdout).toContain("pong");
    const queue = await ctl("queue", "clip.ts");
    expect(queue.code).toBe(1);
    expect(queue.stderr).toContain("not_available");
  });

  test("status reports jobs with destination counters, server counters and lateness", async () => {
    const rx = await udpReceiver();
    try {
      const job = (await ctl("play", "clip.ts", "--to", `rtp://127.0.0.1:${rx.port}`)).stdout.trim();
      await Bun.sleep(200);
      const run = await ctl("--json", "status");
      const reply = JSON.parse(run.stdout.trim().split("\n")[0]!);
      expect(reply.ok).toBe(true);
      const entry = reply.result.jobs.find((j: { id: string }) => j.id === job);
      expect(entry.source).toBe("clip.ts");
      expect(entry.destinations[0].to).toBe(`rtp://127.0.0.1:${rx.port}`);
      expect(entry.destinations[0].units).toBeGreaterThan(0);
      expect(reply.result.server.requests).toBeGreaterThan(0);
      expect(reply.result.lateness.send.count).toBeGreaterThan(0);
      expect(reply.result.lateness.send.p99).toBeGreaterThanOrEqual(0);
      expect(reply.result.next).toBeNull();
      expect(reply.result.server.overloaded).toBe(0);
      // Without --json: one summary line, a lateness line per event kind, then each job.
      const text = (await ctl("status")).stdout;
      expect(text).toMatch(/^server: pacer \S+, up \d+ s, \d+ jobs, \d+ requests, \d+ rate-limited, 0 overloaded, dropped \{/);
      expect(text).toMatch(/^lateness send: p50 \d+ µs, p99 \d+ µs/m);
      expect(text).toContain(`${job}\tclip.ts`);
      await ctl("stop", job);
    } finally {
      rx.close();
    }
  });

  test("SIGHUP with an invalid config keeps the old one and the running stream", async () => {
    const rx = await udpReceiver();
    const good = readFileSync(serve.configPath, "utf8");
    try {
      const job = (await ctl("play", "clip.ts", "--loop", "--to", `rtp://127.0.0.1:${rx.port}`)).stdout.trim();
      writeFileSync(serve.configPath, good + "bogus_key = 1\n");
      serve.child.kill("SIGHUP");
      for (let i = 0; i < 40 && !serve.stderr().includes("keeping the old config"); i++) await Bun.sleep(25);
      expect(serve.stderr()).toContain("bogus_key: unknown key");
      expect(serve.stderr()).toContain("keeping the old config");
      const count = rx.packets.length;
      await Bun.sleep(200);
      expect(rx.packets.length).toBeGreaterThan(count);
      writeFileSync(serve.configPath, good);
      const reload = await ctl("reload");
      expect(reload.code).toBe(0);
      expect((await ctl("stop", job)).code).toBe(0);
    } finally {
      writeFileSync(serve.configPath, good);
      rx.close();
    }
  });
});

describe("observability over HTTP", () => {
  test("/metrics is Prometheus text with streams, packets, bytes, lateness and errors; /status is JSON", async () => {
    const rx = await udpReceiver();
    try {
      const job = (await ctl("play", "clip.ts", "--loop", "--to", `rtp://127.0.0.1:${rx.port}`)).stdout.trim();
      await Bun.sleep(150);
      const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
      expect(metrics).toContain("# TYPE pacer_streams gauge");
      expect(metrics).toMatch(/^pacer_streams [1-9]/m);
      expect(metrics).toMatch(/^pacer_packets_total [1-9]\d*/m);
      expect(metrics).toMatch(/^pacer_bytes_total [1-9]\d*/m);
      expect(metrics).toContain("# TYPE pacer_lateness_microseconds histogram");
      // Cumulative buckets: never decreasing, and +Inf equals the count.
      const buckets = [...metrics.matchAll(/^pacer_lateness_microseconds_bucket\{kind="send",le="([^"]+)"\} (\d+)$/gm)].map((m) => Number(m[2]));
      expect(buckets.length).toBeGreaterThan(10);
      for (let i = 1; i < buckets.length; i++) expect(buckets[i]!).toBeGreaterThanOrEqual(buckets[i - 1]!);
      const count = Number(/^pacer_lateness_microseconds_count\{kind="send"\} (\d+)$/m.exec(metrics)?.[1]);
      expect(count).toBeGreaterThan(0);
      expect(buckets.at(-1)).toBe(count);
      expect(metrics).toContain("# TYPE pacer_destination_errors_total counter");
      expect(metrics).toMatch(/^pacer_control_requests_total [1-9]/m);
      const status = (await (await fetch(`http://127.0.0.1:${httpPort}/status`)).json()) as { jobs: { id: string }[] };
      expect(status.jobs.some((j: { id: string }) => j.id === job)).toBe(true);
      expect((await fetch(`http://127.0.0.1:${httpPort}/nope`)).status).toBe(404);
      // HTTP/1.0 needs no Host (it was a 500); a malformed one is the client's error, 400.
      const raw = async (request: string) => {
        const socket = connect(httpPort, "127.0.0.1", () => socket.write(request));
        let reply = "";
        socket.on("data", (d) => (reply += d));
        await new Promise((resolve) => socket.on("close", resolve));
        return reply.split("\r\n")[0];
      };
      expect(await raw("GET /metrics HTTP/1.0\r\n\r\n")).toBe("HTTP/1.1 200 OK");
      expect(await raw("GET /metrics HTTP/1.1\r\nHost: [::1\r\nConnection: close\r\n\r\n")).toBe("HTTP/1.1 400 Bad Request");
      await ctl("stop", job);
    } finally {
      rx.close();
    }
  });
});

describe("pacer serve shutdown", () => {
  test("SIGTERM stops the streams and exits 0", async () => {
    const own = await startServe();
    const rx = await udpReceiver();
    try {
      const play = await runPacer(["ctl", "--server", own.address, "play", "clip.ts", "--loop", "--to", `rtp://127.0.0.1:${rx.port}`]);
      expect(play.code).toBe(0);
      await Bun.sleep(100);
      expect(await own.stop()).toBe(0);
      const count = rx.packets.length;
      await Bun.sleep(150);
      expect(rx.packets.length).toBe(count);
      expect(own.stderr()).toContain("SIGTERM: stopping");
    } finally {
      rx.close();
      own.cleanup();
    }
  });
});
