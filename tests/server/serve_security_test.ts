/**
 * Security stories against a real `pacer serve`: a keyed server ignores forged and replayed
 * requests (and counts them); media and destination policy refuse escapes with clear codes;
 * a flood from one address is rate-limited without starving another; and thousands of random
 * and mutated datagrams neither crash the server nor grow its memory, while a real client keeps
 * being answered.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type ControlReply, decodeReply, encodeRequest, OPS } from "../../protocol/control.ts";
import { ControlClient } from "../../client/control_client.ts";
import { runPacer } from "../helpers/pacer.ts";
import { udpReceiver } from "../helpers/udp_receiver.ts";
import { CLIP, KEY, rawPeer, requestBytes, rssKb, type ServeFixture, startServe } from "./serve_fixture.ts";

const OTHER_KEY = new Uint8Array(32).fill(7);

function decoded(bytes: Uint8Array | null): ControlReply {
  expect(bytes).not.toBeNull();
  const r = decodeReply(bytes!);
  if (!r.ok) throw new Error(r.message);
  return r.reply;
}

describe("a keyed server", () => {
  let serve: ServeFixture;
  beforeAll(async () => {
    serve = await startServe({ keyed: true });
  });
  afterAll(async () => {
    await serve.stop();
    serve.cleanup();
  });

  test("answers signed requests, and ctl --key works", async () => {
    const keyFile = join(serve.dir, "key");
    const run = await runPacer(["ctl", "--server", serve.address, "--key", keyFile, "ping"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("pong");
  });

  test("drops a wrong MAC, a missing MAC and a stale timestamp without replying, and counts them", async () => {
    const peer = await rawPeer();
    try {
      peer.send(requestBytes("ping", {}, { key: OTHER_KEY }), serve.port);
      peer.send(requestBytes("ping", {}, { key: OTHER_KEY }), serve.port);
      peer.send(encodeRequest({ v: 1, id: "nomac", ts: Date.now(), op: "ping", args: {} }, undefined, { padTo: 1400 }), serve.port);
      peer.send(requestBytes("ping", {}, { key: KEY, ts: Date.now() - 60_000 }), serve.port);
      expect(await peer.next(500)).toBeNull();

      peer.send(requestBytes("status", {}, { key: KEY }), serve.port);
      const reply = decoded(await peer.next(2000));
      expect(reply.ok).toBe(true);
      const server = (reply.ok ? reply.result : null) as { server: { dropped: Record<string, number> } };
      expect(server.server.dropped.bad_mac).toBe(2);
      expect(server.server.dropped.missing_mac).toBe(1);
      expect(server.server.dropped.stale).toBe(1);
    } finally {
      peer.close();
    }
  });

  test("ctl without the key gets no reply and gives up after its TTL", async () => {
    const run = await runPacer(["ctl", "--server", serve.address, "--ttl", "0.5", "ping"]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`no reply from ${serve.address} within 0.5 s`);
  });

  test("a flood from one address is rate-limited while another address is still answered", async () => {
    const flood = await rawPeer("127.0.0.2");
    const key = KEY;
    try {
      const datagram = requestBytes("ping", {}, { key });
      for (let i = 0; i < 400; i++) {
        flood.send(datagram, serve.port);
        if (i % 20 === 19) await Bun.sleep(1);
      }
      const client = await ControlClient.open(serve.address, key);
      const reply = await client.request("status", {}, { ttlMs: 2000 });
      client.close();
      expect(reply.ok).toBe(true);
      const server = (reply.ok ? reply.result : null) as { server: { rate_limited: number } };
      // The default bucket: a burst of 100, then 50 a second. The rest is dropped, unanswered.
      expect(server.server.rate_limited).toBeGreaterThan(200);
      expect(flood.replies.length).toBeLessThan(150);
    } finally {
      flood.close();
    }
  });
});

describe("policy", () => {
  let serve: ServeFixture;
  beforeAll(async () => {
    serve = await startServe({ limits: "max_jobs = 1\nmax_destinations_per_job = 2" });
    symlinkSync("/etc/passwd", join(serve.mediaRoot, "escape.ts"));
  });
  afterAll(async () => {
    await serve.stop();
    serve.cleanup();
  });

  async function play(args: Record<string, unknown>): Promise<ControlReply> {
    const peer = await rawPeer();
    try {
      peer.send(requestBytes("play", args), serve.port);
      return decoded(await peer.next(2000));
    } finally {
      peer.close();
    }
  }
  const here = "rtp://127.0.0.1:9";
  const code = (r: ControlReply) => (r.ok ? "ok" : r.error.code);

  test("media outside the root is forbidden: ../, absolute paths, symlinks out", async () => {
    expect(code(await play({ source: "../../etc/passwd", to: [here] }))).toBe("forbidden");
    expect(code(await play({ source: "/etc/passwd", to: [here] }))).toBe("forbidden");
    const link = await play({ source: "escape.ts", to: [here] });
    expect(code(link)).toBe("forbidden");
    expect(!link.ok && link.error.message).toContain("outside the media root");
    expect(code(await play({ source: "missing.ts", to: [here] }))).toBe("not_found");
  });

  // The server drops to nobody only when started as root (as CI is): elsewhere it reads all it may.
  test.skipIf(process.getuid?.() !== 0)("media the server's user may not read says so, and names that user: a fix of permissions, not of the name", async () => {
    writeFileSync(join(serve.mediaRoot, "private.ts"), CLIP, { mode: 0o600 });
    mkdirSync(join(serve.mediaRoot, "closed"), { mode: 0o700 });
    writeFileSync(join(serve.mediaRoot, "closed", "in.ts"), CLIP, { mode: 0o644 });
    for (const source of ["private.ts", "closed/in.ts"]) {
      const reply = await play({ source, to: [here] });
      expect(code(reply)).toBe("forbidden");
      // Before: `cannot be opened (Error: private.ts: openat2 failed (errno 13)); name a file inside the media root`.
      expect(!reply.ok && reply.error.message).toBe(`media "${source}" cannot be read: permission denied to the server's user (nobody); make it readable by that user`);
    }
  });

  test("destinations other than the requester's address, or not rtp/udp, are forbidden", async () => {
    const third = await play({ source: "clip.ts", to: ["rtp://192.0.2.1:5004"] });
    expect(code(third)).toBe("forbidden");
    expect(!third.ok && third.error.message).toContain("192.0.2.1");
    expect(code(await play({ source: "clip.ts", to: ["cmd:rm -rf /"] }))).toBe("forbidden");
    expect(code(await play({ source: "clip.ts", to: ["file:/tmp/x"] }))).toBe("forbidden");
    // The server's own side is not the request's to choose: forbidden, and said so (it read "unknown option").
    const source = await play({ source: "clip.ts", to: ["rtp://127.0.0.1:9?source=0.0.0.0:53"] });
    expect(code(source)).toBe("forbidden");
    expect(!source.ok && source.error.message).toBe(`destination "rtp://127.0.0.1:9?source=0.0.0.0:53": source= picks the server's own address, which a request may not choose`);
    const iface = await play({ source: "clip.ts", to: ["udp://127.0.0.1:9?iface=127.0.0.1"] });
    expect(code(iface)).toBe("forbidden");
    expect(!iface.ok && iface.error.message).toContain("iface= picks the server's own interface");
    expect(code(await play({ source: "live:studio", to: [here] }))).toBe("not_found"); // live channels exist now; this server configures none named studio
  });

  test("one destination given twice in a play, however spelled, is refused; a repeat in another spelling refreshes the job", async () => {
    // Before: a job streaming to 127.0.0.1:9 twice, and /metrics listing its series twice under one label.
    const twice = await play({ source: "clip.ts", to: ["udp://127.0.0.1:9", "udp://127.1:9"] });
    expect(code(twice)).toBe("bad_request");
    expect(!twice.ok && twice.error.message).toBe(`destination 127.0.0.1:9 is given twice ("udp://127.0.0.1:9" and "udp://127.1:9"); each destination takes one stream`);
    expect(code(await play({ source: "clip.ts", to: ["udp://[::ffff:127.0.0.1]:9", "udp://127.0.0.1:9"] }))).toBe("bad_request");
    const first = await play({ source: "clip.ts", to: ["udp://127.0.0.1:9"], loop: true });
    expect(code(first)).toBe("ok");
    const job = first.ok && (first.result as { job: string }).job;
    // IPv4-mapped, in two spellings: the same host, so the same job (it started a second, here over max_jobs).
    for (const to of ["udp://[::ffff:7f00:1]:9", "udp://[0:0:0:0:0:ffff:127.0.0.1]:9"]) {
      const again = await play({ source: "clip.ts", to: [to], loop: true });
      expect(again.ok && again.result).toMatchObject({ job, refreshed: true });
    }
    const peer = await rawPeer();
    try {
      peer.send(requestBytes("stop", { job }), serve.port);
      expect(code(decoded(await peer.next(2000)))).toBe("ok");
    } finally {
      peer.close();
    }
  });

  test("limits: destinations per job, jobs, message size", async () => {
    const three = [here, "rtp://127.0.0.1:10", "rtp://127.0.0.1:11"];
    expect(code(await play({ source: "clip.ts", to: three }))).toBe("limit");
    const first = await play({ source: "clip.ts", to: [here], loop: true });
    expect(code(first)).toBe("ok");
    expect(code(await play({ source: "clip.ts", to: ["rtp://127.0.0.1:12"] }))).toBe("limit");
    const peer = await rawPeer();
    try {
      peer.send(new Uint8Array(1500).fill(0x20), serve.port);
      expect(code(decoded(await peer.next(2000)))).toBe("too_large");
      peer.send(requestBytes("stop", { job: (first.ok && (first.result as { job: string }).job) || "" }), serve.port);
      expect(code(decoded(await peer.next(2000)))).toBe("ok");
    } finally {
      peer.close();
    }
  });
});

describe("fuzzing the control port", () => {
  let serve: ServeFixture;
  beforeAll(async () => {
    serve = await startServe({ limits: "max_jobs = 20\nrequests_per_second = 1000000\nrequest_burst = 1000000" });
  });
  afterAll(async () => {
    await serve.stop();
    serve.cleanup();
  });

  const utf8 = new TextEncoder();
  const valid = requestBytes("status");
  const randomBytes = fc.uint8Array({ minLength: 0, maxLength: 1500 });
  const mutated = fc
    .tuple(fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }), fc.nat(valid.length))
    .map(([flips, cut]) => {
      const bytes = valid.slice(0, Math.max(1, cut));
      for (const [at, value] of flips) if (at < bytes.length) bytes[at] = value;
      return bytes;
    });
  const jsonish = fc
    .record({
      v: fc.oneof(fc.constant(1), fc.anything()),
      id: fc.oneof(fc.string({ maxLength: 70 }), fc.anything()),
      ts: fc.oneof(fc.constant(0), fc.integer(), fc.double()),
      op: fc.oneof(fc.constantFrom(...OPS), fc.string()),
      args: fc.oneof(
        fc.dictionary(fc.string({ maxLength: 10 }), fc.anything({ maxDepth: 2 })),
        fc.record({
          source: fc.constantFrom("clip.ts", "../clip.ts", "", "live:x", "nope.ts"),
          to: fc.array(fc.oneof(fc.constant("rtp://127.0.0.1:9"), fc.string()), { maxLength: 20 }),
          offset: fc.anything(),
          limit: fc.integer(),
          job: fc.oneof(fc.constant("job-1"), fc.string()),
          loop: fc.anything(),
        }, { requiredKeys: [] }),
      ),
    }, { requiredKeys: [] })
    .map((body) => {
      // Fresh timestamps for half of them, so they reach the ops instead of stopping at "stale".
      const fresh = typeof body.ts === "number" && body.ts === 0 ? { ...body, ts: Date.now() } : body;
      try {
        return utf8.encode(JSON.stringify(fresh) ?? "null").slice(0, 1500);
      } catch {
        return utf8.encode("{}");
      }
    });

  test("thousands of random and mutated datagrams: the server keeps answering a real client, memory bounded", async () => {
    const datagrams = fc.sample(fc.oneof(randomBytes, mutated, jsonish), { numRuns: 6000, seed: 42 });
    const pid = serve.child.pid!;
    const peer = await rawPeer("127.0.0.2");
    const client = await ControlClient.open(serve.address);
    try {
      // Warm up, so the baseline includes the code paths the fuzz will take.
      for (const d of datagrams.slice(0, 300)) peer.send(d, serve.port);
      await Bun.sleep(300);
      const before = await rssKb(pid);
      let pings = 0;
      let pingFailures = 0;
      let fuzzing = true;
      const pinger = (async () => {
        while (fuzzing) {
          const reply = await client.request("ping", {}, { ttlMs: 2000 }).catch(() => null);
          if (reply?.ok) pings++;
          else pingFailures++;
          await Bun.sleep(20);
        }
      })();
      const middle: number[] = [];
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < datagrams.length; i += 50) {
          for (const d of datagrams.slice(i, i + 50)) peer.send(d, serve.port);
          await Bun.sleep(2);
        }
        middle.push(await rssKb(pid));
      }
      await Bun.sleep(200);
      fuzzing = false;
      await pinger;
      const after = await rssKb(pid);
      console.log(`fuzz: ${datagrams.length} datagrams x3, ${pings} pings answered, RSS ${before} kB -> ${middle.join(" -> ")} -> ${after} kB`);
      expect(pingFailures).toBe(0);
      expect(pings).toBeGreaterThan(5);
      // kB: the heap settles after the first round (dedup and rate-limit tables are bounded).
      expect(after - before).toBeLessThan(40_000);
      expect(Math.max(...middle.slice(1)) - middle[0]!).toBeLessThan(20_000);
      expect(serve.child.exitCode).toBeNull();
      const status = await client.request("status", {}, { ttlMs: 2000 });
      expect(status.ok).toBe(true);
      const server = (status.ok ? status.result : null) as { server: { requests: number; errors: Record<string, number> } };
      // UDP may drop some under this load; thousands must have reached the server.
      expect(server.server.requests).toBeGreaterThan(5000);
      expect(server.server.errors.bad_request).toBeGreaterThan(100);
    } finally {
      client.close();
      peer.close();
    }
  }, 30_000);

  test("a flood from one source, with no rate limit: the excess is dropped as overloaded, another source is answered and a stream keeps its rate", async () => {
    const rx = await udpReceiver();
    const flood = await rawPeer("127.0.0.3");
    const client = await ControlClient.open(serve.address);
    try {
      const started = await client.request("play", { source: "clip.ts", to: [`udp://127.0.0.1:${rx.port}`], loop: true }, { ttlMs: 2000 });
      expect(started.ok).toBe(true);
      const job = (started.ok ? started.result : null) as { job: string };
      await Bun.sleep(300);
      const before = rx.packets.length;
      const t0 = Bun.nanoseconds();
      let flooding = true;
      const flooder = (async () => {
        const ping = requestBytes("ping");
        // Up to 25,000 a second: twenty times what the intake answers, and no more however fast
        // this host sends (at 100 a ms, 50,000-80,000 a second here, one CI run failed without
        // saying which figure fell short).
        while (flooding) {
          for (let i = 0; i < 25; i++) flood.send(ping, serve.port);
          await Bun.sleep(1);
        }
      })();
      // Meanwhile the other source's request gets through (how the queue is shared between sources
      // is shown exactly in control_intake_test.ts).
      const asked = Bun.nanoseconds();
      const reply = await client.request("status", { job: job.job }, { ttlMs: 5000 });
      const answeredMs = (Bun.nanoseconds() - asked) / 1e6;
      await Bun.sleep(1500);
      flooding = false;
      await flooder;
      const seconds = (Bun.nanoseconds() - t0) / 1e9;
      const rate = (rx.packets.length - before) / seconds;
      const status = await client.request("status", {}, { ttlMs: 5000 });
      await client.request("stop", { job: job.job }, { ttlMs: 2000 });
      const overloaded = status.ok ? (status.result as { server: { overloaded: number } }).server.overloaded : null;
      // Printed before the checks, so a failure on a loaded CI host says which figure it was.
      console.log(`flood: status answered in ${answeredMs.toFixed(1)} ms (ok ${reply.ok}), stream at ${rate.toFixed(1)} datagrams/s, ${overloaded} overloaded`);
      expect(reply.ok).toBe(true);
      // Generous: copies may be dropped while the flood keeps the kernel's socket buffer full (a
      // loaded host drains it slower), and retries come 100, 200, 400, 800 ms apart.
      expect(answeredMs).toBeLessThan(3_000);
      expect(overloaded).toBeGreaterThan(1000);
      // 1 Mbit/s of 1316-byte datagrams is 95/s; a starved stream would fall far below. Counted
      // by this process, which also floods: under a CPU quota of one core it counted 84.8 a second.
      expect(rate).toBeGreaterThan(0.75 * (1_000_000 / 8 / 1316));
    } finally {
      rx.close();
      flood.close();
      client.close();
    }
  }, 15_000);
});
