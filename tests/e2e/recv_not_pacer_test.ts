/**
 * `pacer recv --from` an address where something other than a pacer server answers: it says ok to
 * every request but names no job. recv gives up with exit 1 and one line; before, each such reply
 * counted as hearing from the server, so --wait never ran out and recv asked for ever.
 *
 * And a server that answers as pacer does but sends datagrams that are not RTP (raw TS): recv
 * refuses them, and now counts them in its one line on what it refused; before, it reported "stream ended",
 * 0 bytes, and no word of the datagrams it had dropped.
 */
import { afterEach, describe, expect, test } from "bun:test";
import type { udp } from "bun";
import { runPacer } from "../helpers/pacer.ts";

let answerer: udp.Socket<"buffer"> | null = null;
let sender: udp.Socket<"buffer"> | null = null;
afterEach(() => {
  answerer?.close();
  sender?.close();
  answerer = sender = null;
});

/** A UDP responder on loopback that answers each request's id with `ok: true` and `result`. */
async function okToAnything(result: unknown): Promise<string> {
  answerer = await Bun.udpSocket({
    hostname: "127.0.0.1",
    socket: {
      data(socket, data, port, address) {
        const body = JSON.parse(data.toString("utf8").split("\n")[0]!) as { id: string };
        socket.send(JSON.stringify({ v: 1, id: body.id, ok: true, result }), port, address);
      },
    },
  });
  return `127.0.0.1:${answerer.port}`;
}

describe("pacer recv against a responder that names no job", () => {
  for (const [what, result] of [["a number for the job", { job: 123 }], ["a null result", null], ["an empty result", {}]] as const) {
    test(`${what}: exit 1 within --wait, one line saying so`, async () => {
      const from = await okToAnything(result);
      const started = Date.now();
      const run = await runPacer(["recv", "--from", from, "--request", "clip.ts", "--wait", "2"], { timeoutMs: 10_000 });
      expect(run.code).toBe(1);
      expect(run.stderr).toContain("named no job");
      expect(run.stdout).toBe("");
      expect(Date.now() - started).toBeLessThan(8_000);
    }, 15_000);
  }
});

/** Replies as a pacer server would, but what it sends to the requester's port is raw TS; the job ends after `endMs`. */
async function rawTsServer(endMs: number): Promise<string> {
  const started = Date.now();
  const media = (sender = await Bun.udpSocket({ hostname: "127.0.0.1" }));
  const nullPacket = new Uint8Array(188).fill(0xff);
  nullPacket.set([0x47, 0x1f, 0xff, 0x10]);
  answerer = await Bun.udpSocket({
    hostname: "127.0.0.1",
    socket: {
      data(socket, data, port, address) {
        const body = JSON.parse(data.toString("utf8").split("\n")[0]!) as { id: string; op: string; args: { to?: string[] } };
        let result: unknown = {};
        if (body.op === "play") {
          result = { job: "job-1", interest_timeout: 10, ssrc: [1234] };
          const to = Number(/:(\d+)\?/.exec(body.args.to![0]!)![1]);
          for (let i = 0; i < 5; i++) media.send(nullPacket, to, "127.0.0.1");
        } else if (body.op === "status") {
          result = { job: { id: "job-1", state: Date.now() - started < endMs ? "running" : "ended" } };
        }
        socket.send(JSON.stringify({ v: 1, id: body.id, ok: true, result }), port, address);
      },
    },
  });
  return `127.0.0.1:${answerer.port}`;
}

describe("pacer recv from a server that sends something other than RTP", () => {
  test("the datagrams are refused and counted in the one line on what was refused, naming the first sender", async () => {
    const from = await rawTsServer(1_500);
    const run = await runPacer(["recv", "--from", from, "--request", "clip.ts", "--wait", "5"], { timeoutMs: 10_000 });
    expect(run.code).toBe(0);
    expect(run.stdout).toBe("");
    expect(run.stderr).toMatch(new RegExp(`warn: refused (\\d+) datagrams not of the stream: \\1 not RTP; the first from 127\\.0\\.0\\.1:${sender!.port}\n`));
  }, 15_000);
});
