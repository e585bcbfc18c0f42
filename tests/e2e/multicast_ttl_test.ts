/**
 * `ttl=0` on a multicast destination keeps the group on this host (IP_MULTICAST_TTL 0): a local
 * receiver gets the stream and nothing leaves. Linux refuses a unicast TTL of 0, which the shared
 * socket had set as well, so `ttl=0` was `cannot set the TTL (errno 22)`. On a unicast
 * destination it would send nothing at all: a usage error. Multicast is tried in a throwaway
 * namespace. The socket-each path (PACER_SEND=socket) cannot set it (Bun refuses 0) and says so.
 */
import { afterAll, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeCbrTs, makeTempDir } from "../helpers/mpeg_fixtures.ts";
import { decodeCapture, startCapture } from "../helpers/capture.ts";
import { makeIpv4VethNetns, makeLoopbackNetns } from "../helpers/netns.ts";
import { havePeer, MAIN, runPacer } from "../helpers/pacer.ts";

const tmp = makeTempDir();
afterAll(() => tmp.cleanup());

test("play to a multicast group with ttl=0 reaches a receiver on this host", async () => {
  const path = "batch";
  const ns = makeLoopbackNetns("pacer-ttl0");
  if (!ns) return;
  try {
    const ts = makeCbrTs({ bitrate: 1_000_000, duration: 0.5 });
    const source = join(tmp.dir, `ttl0-${path}.ts`);
    const out = join(tmp.dir, `ttl0-${path}-got.ts`);
    writeFileSync(source, ts);
    const record = Bun.spawn([...ns.exec, process.execPath, MAIN, "record", "udp://@239.1.1.3:5010", "--out", out, "--duration", "3"], { stderr: "pipe" });
    await ns.joined("239.1.1.3");
    const play = Bun.spawnSync([...ns.exec, process.execPath, MAIN, "play", source, "--to", "udp://239.1.1.3:5010?ttl=0"]);
    expect(play.stderr.toString()).toBe("");
    expect(play.exitCode).toBe(0);
    expect(await record.exited).toBe(0);
    expect(readFileSync(out).equals(Buffer.from(ts))).toBe(true);
  } finally {
    ns.remove();
  }
}, 20_000);

test("on the link, a group's datagrams carry the TTL asked for: ttl=4 leaves with IP TTL 4 (tshark)", async () => {
  // A receiver on this host gets a group whatever its TTL (the story above); what leaves is seen
  // on v1, the far end of the namespace's veth pair that carries 224.0.0.0/4.
  if (!havePeer("tshark")) return;
  const ns = makeIpv4VethNetns("pacer-ttl-link");
  if (!ns) return;
  try {
    const pcap = join(tmp.dir, "ttl-link.pcap");
    const capture = await startCapture("udp and dst net 239.0.0.0/8", pcap, { iface: "v1", wrap: ns.exec });
    const play = Bun.spawnSync([...ns.exec, process.execPath, MAIN, "play", "-", "--format", "s16le:8000:1", "--to", "udp://239.1.1.4:5010?ttl=4"], {
      stdin: new Uint8Array(8000 * 2 * 0.2),
    });
    await capture.stop();
    expect(play.stderr.toString()).toBe("");
    expect(play.exitCode).toBe(0);
    const seen = decodeCapture(pcap, ["ip.dst", "ip.ttl"]);
    expect(seen.length).toBeGreaterThan(0);
    expect(new Set(seen.map(([dst, ttl]) => `${dst} ttl ${ttl}`))).toEqual(new Set(["239.1.1.4 ttl 4"]));
  } finally {
    ns.remove();
  }
}, 20_000);

test("ttl=0 on a unicast destination is a usage error naming it", async () => {
  const run = await runPacer(["play", "-", "--format", "s16le:8000:1", "--to", "udp://127.0.0.1:9?ttl=0"], { stdin: new Uint8Array(16) });
  expect(run.code).toBe(2);
  expect(run.stderr).toBe("pacer: error: udp://127.0.0.1:9?ttl=0: ttl=0 is for a multicast group (no router forwards it); to a single host give 1 to 255\n");
});

test("the socket-each send path says it cannot keep a group on this host, in one line", async () => {
  const run = await runPacer(["play", "-", "--format", "s16le:8000:1", "--to", "udp://239.1.1.3:5010?ttl=0"], {
    stdin: new Uint8Array(16),
    env: { PACER_SEND: "socket" },
  });
  expect(run.code).toBe(1);
  expect(run.stderr).toBe("pacer: error: 239.1.1.3:5010: cannot set socket options: ttl=0 needs the batched send path (libc), not a socket each\n");
});
