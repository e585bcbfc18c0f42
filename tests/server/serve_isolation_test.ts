/**
 * Stories of clients who must not reach what is not theirs, against a real `pacer serve` with two
 * client sockets: a signed request captured on the wire cannot be played again from another port;
 * one client's stream can be neither seen, refreshed nor stopped by another, nor its id guessed;
 * nobody can aim a stream at the server's own ports; and no client can take every job.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { type ControlReply, decodeReply, type Op } from "../../protocol/control.ts";
import { udpReceiver } from "../helpers/udp_receiver.ts";
import { freeTcpPort, freeUdpPort, KEY, rawPeer, requestBytes, type ServeFixture, startServe } from "./serve_fixture.ts";

type Peer = Awaited<ReturnType<typeof rawPeer>>;

function decoded(bytes: Uint8Array | null): ControlReply {
  expect(bytes).not.toBeNull();
  const r = decodeReply(bytes!);
  if (!r.ok) throw new Error(r.message);
  return r.reply;
}

const code = (r: ControlReply) => (r.ok ? "ok" : r.error.code);
const result = <T>(r: ControlReply) => (r.ok ? r.result : {}) as T;

/** Sends one request from `peer` and waits for its reply. */
async function ask(serve: ServeFixture, peer: Peer, op: Op, args: Record<string, unknown> = {}, key?: Uint8Array): Promise<ControlReply> {
  peer.send(requestBytes(op, args, { key }), serve.port);
  return decoded(await peer.next(2000));
}

async function packetsFlowing(rx: { packets: unknown[] }, atLeast = 5): Promise<boolean> {
  for (let i = 0; i < 40 && rx.packets.length < atLeast; i++) await Bun.sleep(25);
  return rx.packets.length >= atLeast;
}

async function stillFor(rx: { packets: unknown[] }, ms: number): Promise<boolean> {
  const count = rx.packets.length;
  await Bun.sleep(ms);
  return rx.packets.length === count;
}

describe("a keyed server", () => {
  let serve: ServeFixture;
  const httpPort = freeTcpPort();
  beforeAll(async () => {
    serve = await startServe({ keyed: true, config: `allow_destinations = ["127.0.0.0/8"]\nhttp = "127.0.0.1:${httpPort}"` });
  });
  afterAll(async () => {
    await serve.stop();
    serve.cleanup();
  });

  const started = async (peer: Peer) => result<{ server: { jobs_total: { started: number } } }>(await ask(serve, peer, "status", {}, KEY)).server.jobs_total.started;

  test("a signed persistent play captured on the wire and resent from another port, after its client stopped it, does not start the stream again", async () => {
    const rx = await udpReceiver();
    const client = await rawPeer();
    const eavesdropper = await rawPeer();
    try {
      const captured = requestBytes("play", { source: "clip.ts", to: [`udp://127.0.0.1:${rx.port}`], loop: true, persistent: true }, { key: KEY });
      client.send(captured, serve.port);
      const firstBytes = await client.next(2000);
      const job = result<{ job: string }>(decoded(firstBytes)).job;
      expect(await packetsFlowing(rx)).toBe(true);
      expect(code(await ask(serve, client, "stop", { job }, KEY))).toBe("ok");
      const before = await started(client);

      eavesdropper.send(captured, serve.port);
      const answer = await eavesdropper.next(500);
      // Answered from the dedup cache (the very bytes the client got), or not at all.
      if (answer !== null) expect(Buffer.from(answer).equals(Buffer.from(firstBytes!))).toBe(true);
      await Bun.sleep(200);
      expect(await stillFor(rx, 300)).toBe(true);
      expect(await started(client)).toBe(before);
    } finally {
      rx.close();
      client.close();
      eavesdropper.close();
    }
  });

  test("the same captured play resent from another address while the stream runs starts no second stream", async () => {
    const rx = await udpReceiver();
    const client = await rawPeer();
    const eavesdropper = await rawPeer("127.0.0.2");
    try {
      const captured = requestBytes("play", { source: "clip.ts", to: [`udp://127.0.0.1:${rx.port}`], loop: true, persistent: true }, { key: KEY });
      client.send(captured, serve.port);
      const job = result<{ job: string }>(decoded(await client.next(2000))).job;
      const before = await started(client);
      eavesdropper.send(captured, serve.port);
      await eavesdropper.next(500);
      expect(await started(client)).toBe(before);
      expect(code(await ask(serve, client, "stop", { job }, KEY))).toBe("ok");
    } finally {
      rx.close();
      client.close();
      eavesdropper.close();
    }
  });

  test("a captured signed status resent from another address draws no reply larger than itself (no reflection); its own client's resend still gets the reply", async () => {
    const client = await rawPeer();
    const reflector = await rawPeer("127.0.0.2");
    try {
      const captured = requestBytes("status", {}, { key: KEY });
      client.send(captured, serve.port);
      const first = await client.next(2000);
      expect(decoded(first).ok).toBe(true);
      expect(first!.length).toBeGreaterThan(captured.length); // what a reflection would amplify
      // The copy arrives from the address a spoofer names as its victim.
      reflector.send(captured, serve.port);
      const reflected = await reflector.next(500);
      if (reflected !== null) expect(reflected.length).toBeLessThanOrEqual(captured.length);
      // The same datagram again from the socket that sent it: a client's lost reply, answered as before.
      client.send(captured, serve.port);
      const again = await client.next(2000);
      expect(Buffer.from(again!).equals(Buffer.from(first!))).toBe(true);
    } finally {
      client.close();
      reflector.close();
    }
  });

  test("a stream aimed at the server's own control or HTTP port is refused, by address or by name", async () => {
    const client = await rawPeer();
    try {
      for (const to of [`udp://127.0.0.1:${serve.port}`, `rtp://localhost:${serve.port}`, `udp://127.0.0.1:${httpPort}`]) {
        const reply = await ask(serve, client, "play", { source: "clip.ts", to: [to], persistent: true }, KEY);
        expect(code(reply)).toBe("forbidden");
        expect(!reply.ok && reply.error.message).toMatch(/the server's own (control|HTTP) port/);
      }
      // Any other port of the same host is fine.
      const rx = await udpReceiver();
      try {
        const ok = await ask(serve, client, "play", { source: "clip.ts", to: [`udp://127.0.0.1:${rx.port}`] }, KEY);
        expect(code(ok)).toBe("ok");
        expect(code(await ask(serve, client, "stop", { job: result<{ job: string }>(ok).job }, KEY))).toBe("ok");
      } finally {
        rx.close();
      }
    } finally {
      client.close();
    }
  });
});

describe("a server without a key, shared by two clients", () => {
  let serve: ServeFixture;
  beforeAll(async () => {
    serve = await startServe();
  });
  afterAll(async () => {
    await serve.stop();
    serve.cleanup();
  });

  test("another client can neither see, refresh nor stop my stream", async () => {
    const rx = await udpReceiver();
    const mine = await rawPeer("127.0.0.1");
    const other = await rawPeer("127.0.0.2");
    try {
      const job = result<{ job: string }>(await ask(serve, mine, "play", { source: "clip.ts", to: [`udp://127.0.0.1:${rx.port}`], loop: true })).job;
      for (const op of ["status", "interest", "stop"] as const) {
        const reply = await ask(serve, other, op, { job });
        expect(code(reply)).toBe("forbidden");
        expect(!reply.ok && reply.error.message).not.toContain("127.0.0.1");
      }
      const theirPage = result<{ jobs: { id: string }[] }>(await ask(serve, other, "status"));
      expect(theirPage.jobs.map((j) => j.id)).not.toContain(job);
      expect(await packetsFlowing(rx)).toBe(true);

      expect(code(await ask(serve, mine, "status", { job }))).toBe("ok");
      const myPage = result<{ jobs: { id: string }[] }>(await ask(serve, mine, "status"));
      expect(myPage.jobs.map((j) => j.id)).toContain(job);
      expect(code(await ask(serve, mine, "stop", { job }))).toBe("ok");
      // Finished, it stays mine: the other client still learns nothing of it.
      expect(code(await ask(serve, other, "status", { job }))).toBe("forbidden");
    } finally {
      rx.close();
      mine.close();
      other.close();
    }
  });

  test("a client asking to reload again and again gets its answers, but the config is not read (and logged) once per ask", async () => {
    const client = await rawPeer();
    try {
      const reloads = () => serve.stderr().split("config reloaded").length - 1;
      const before = reloads();
      for (let i = 0; i < 10; i++) client.send(requestBytes("reload"), serve.port);
      for (let i = 0; i < 10; i++) expect(code(decoded(await client.next(2000)))).toBe("ok");
      await Bun.sleep(50);
      // The first, and one for all that came while it waited or ran.
      expect(reloads() - before).toBeLessThanOrEqual(2);
    } finally {
      client.close();
    }
  });

  test("job ids cannot be guessed from the one before", async () => {
    const client = await rawPeer();
    const receivers = await Promise.all([udpReceiver(), udpReceiver(), udpReceiver()]);
    try {
      const ids: string[] = [];
      for (const rx of receivers) {
        ids.push(result<{ job: string }>(await ask(serve, client, "play", { source: "clip.ts", to: [`udp://127.0.0.1:${rx.port}`] })).job);
      }
      for (const id of ids) expect(id).toMatch(/^job-\d{12,}$/);
      const numbers = ids.map((id) => BigInt(id.slice("job-".length)));
      expect(numbers[1]! - numbers[0]!).not.toBe(1n);
      expect(numbers[2]! - numbers[1]!).not.toBe(1n);
      for (const job of ids) await ask(serve, client, "stop", { job });
    } finally {
      client.close();
      for (const rx of receivers) rx.close();
    }
  });
});

describe("a server that receives streams itself", () => {
  let serve: ServeFixture;
  let liveInput: number;
  let recordingSource: number;
  beforeAll(async () => {
    liveInput = await freeUdpPort();
    recordingSource = await freeUdpPort();
    serve = await startServe({
      config: [
        `[[live]]\nname = "news"\ninput = "udp://@127.0.0.1:${liveInput}"`,
        `[[recording]]\nname = "feed"\nsource = "udp://@:${recordingSource}"\nout = "feed/%H%M%S.ts"`,
      ].join("\n"),
    });
  });
  afterAll(async () => {
    await serve.stop();
    serve.cleanup();
  });

  test("a stream aimed at a live channel's input or a recording's source is refused: a client could inject into them, or loop a channel into itself", async () => {
    const client = await rawPeer();
    try {
      for (const [source, port, what] of [
        ["clip.ts", liveInput, `live "news" input`],
        ["live:news", liveInput, `live "news" input`],
        ["clip.ts", recordingSource, `recording "feed" source`],
      ] as const) {
        const reply = await ask(serve, client, "play", { source, to: [`udp://127.0.0.1:${port}`] });
        expect(code(reply)).toBe("forbidden");
        expect(!reply.ok && reply.error.message).toContain(`the server's own ${what} port`);
      }
    } finally {
      client.close();
    }
  });
});

describe("a server with a share of jobs per client", () => {
  let serve: ServeFixture;
  const limits = (share: number) => `max_jobs = 10\nmax_jobs_per_client = ${share}`;
  beforeAll(async () => {
    serve = await startServe({ config: `allow_destinations = ["127.0.0.0/8"]`, limits: limits(2) });
  });
  afterAll(async () => {
    await serve.stop();
    serve.cleanup();
  });

  test("one client cannot take every job: past its share it gets limit, its own repeat still refreshes, another client still plays, and a lowered share on reload stops nothing", async () => {
    const receivers = await Promise.all([udpReceiver(), udpReceiver(), udpReceiver(), udpReceiver()]);
    const [rx1, rx2, rx3, rx4] = receivers;
    const greedy = await rawPeer("127.0.0.1");
    const other = await rawPeer("127.0.0.2");
    const play = (peer: Peer, rx: { port: number }) => ask(serve, peer, "play", { source: "clip.ts", to: [`udp://127.0.0.1:${rx.port}`], loop: true });
    try {
      const first = result<{ job: string }>(await play(greedy, rx1!)).job;
      expect(code(await play(greedy, rx2!))).toBe("ok");
      const refused = await play(greedy, rx3!);
      expect(code(refused)).toBe("limit");
      expect(!refused.ok && refused.error.message).toContain("this client (127.0.0.1) runs 2 jobs already, its share of this server (limits.max_jobs_per_client = 2)");
      // Its own stream asked for again is no new job.
      const repeat = await play(greedy, rx1!);
      expect(result<{ job: string; refreshed: boolean }>(repeat)).toMatchObject({ job: first, refreshed: true });
      // The server has room, and another address its own share.
      expect(code(await play(other, rx3!))).toBe("ok");

      const reloads = serve.stderr().split("config reloaded").length;
      writeFileSync(serve.configPath, readFileSync(serve.configPath, "utf8").replace(limits(2), limits(1)));
      serve.child.kill("SIGHUP");
      for (let i = 0; i < 80 && serve.stderr().split("config reloaded").length === reloads; i++) await Bun.sleep(25);
      expect(code(await play(other, rx4!))).toBe("limit");
      // Over the lowered share, the greedy client's streams run on.
      expect(result<{ server: { jobs: number } }>(await ask(serve, greedy, "status")).server.jobs).toBe(3);
      const count = rx2!.packets.length;
      await Bun.sleep(100);
      expect(rx2!.packets.length).toBeGreaterThan(count);
      expect(result<{ refreshed: boolean }>(await play(greedy, rx1!)).refreshed).toBe(true);
    } finally {
      for (const rx of receivers) rx!.close();
      greedy.close();
      other.close();
    }
  });
});
