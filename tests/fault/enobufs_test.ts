/**
 * Fault: ENOBUFS on send. One destination's route is congested: in a throwaway namespace, an htb
 * class with a 400 kbit/s rate and a 2-packet queue shapes a 2 Mbit/s stream to one port, so the
 * kernel refuses most of its datagrams with ENOBUFS (the socket has IP_RECVERR). A second
 * destination of the same job, on the same shared socket, must lose nothing and keep its timing;
 * the congested one says so once, counts every datagram it could not send, and play exits 1 with
 * one line for it. multicat records what each port received.
 */
import { afterAll, expect, test } from "bun:test";
import { spawn, spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeCbrTs, makeTempDir } from "../helpers/mpeg_fixtures.ts";
import { makeLoopbackNetns } from "../helpers/netns.ts";
import { havePeer, MAIN, REPO } from "../helpers/pacer.ts";

const tmp = makeTempDir();
afterAll(() => tmp.cleanup());

const SHAPED = 6001;
const CLEAR = 6002;
const DATAGRAM = 7 * 188;

/** multicat's .aux: one 64-bit big-endian 27 MHz arrival stamp per 188-byte packet. */
function arrivalSpanS(aux: Buffer): number {
  const first = aux.readBigUInt64BE(0);
  const last = aux.readBigUInt64BE(aux.length - 8);
  return Number(last - first) / 27e6;
}

test("a congested route (ENOBUFS) costs its own destination only: the other gets every datagram on time", async () => {
  if (!havePeer("multicat") || !havePeer("tc")) return;
  const ns = makeLoopbackNetns("pacer-nobufs");
  if (!ns) return;
  try {
    const tc = (args: string) => spawnSync("ip", ["netns", "exec", ns.name, "tc", ...args.split(" ")], { encoding: "utf8" });
    for (const step of [
      "qdisc add dev lo root handle 1: htb default 10",
      "class add dev lo parent 1: classid 1:10 htb rate 10gbit",
      "class add dev lo parent 1: classid 1:30 htb rate 400kbit ceil 400kbit burst 2k",
      "qdisc add dev lo parent 1:30 handle 30: pfifo limit 2",
      `filter add dev lo protocol ip parent 1: prio 1 u32 match ip dport ${SHAPED} 0xffff flowid 1:30`,
    ]) {
      const run = tc(step);
      if (run.status !== 0) {
        // Queueing disciplines are kernel modules: a kernel without htb or u32 cannot shape.
        console.warn(`skipping: tc ${step}: ${run.stderr.trim()}`);
        return;
      }
    }
    const source = makeCbrTs({ bitrate: 2_000_000, duration: 5 });
    const file = join(tmp.dir, "in.ts");
    writeFileSync(file, source);
    const datagrams = Math.ceil(source.length / DATAGRAM);
    const receivers = [SHAPED, CLEAR].map((port) => {
      const out = join(tmp.dir, `${port}.ts`);
      const child = spawn("ip", ["netns", "exec", ns.name, "multicat", "-u", `@127.0.0.1:${port}`, out], { stdio: "ignore" });
      return { port, out, closed: new Promise((resolve) => child.on("close", resolve)), child };
    });
    await Bun.sleep(400); // multicat binds
    const play = spawn("ip", ["netns", "exec", ns.name, process.execPath, MAIN, "play", file, "--to", `udp://127.0.0.1:${SHAPED}`, "--to", `udp://127.0.0.1:${CLEAR}`], { cwd: REPO });
    let stderr = "";
    play.stderr.on("data", (d) => (stderr += d));
    const code = await new Promise<number | null>((resolve) => play.on("close", resolve));
    await Bun.sleep(300);
    for (const r of receivers) r.child.kill("SIGTERM");
    await Promise.all(receivers.map((r) => r.closed));

    // The clear destination: the whole stream, byte for byte, spread over its own 5 s.
    // (multicat pads a short last datagram to its chunk size with null packets.)
    const clear = readFileSync(receivers[1]!.out);
    expect(clear.length - source.length, `${clear.length} of ${source.length} bytes`).toBeGreaterThanOrEqual(0);
    expect(clear.length - source.length).toBeLessThan(DATAGRAM);
    expect(clear.subarray(0, source.length).equals(Buffer.from(source))).toBe(true);
    const span = arrivalSpanS(readFileSync(`${receivers[1]!.out.slice(0, -3)}.aux`));
    expect(span).toBeGreaterThan(4.5);
    expect(span).toBeLessThan(5.5);

    // The shaped one: what got through is whole datagrams of the stream; the rest is counted.
    const shaped = readFileSync(receivers[0]!.out);
    expect(shaped.length % 188).toBe(0);
    expect(shaped.length).toBeLessThan(source.length / 2);
    const received = Math.ceil(shaped.length / DATAGRAM);
    // Each datagram that got through is one of the stream's, in order (none sent twice).
    let at = 0;
    for (let i = 0; i + DATAGRAM <= shaped.length; i += DATAGRAM) {
      const got = Buffer.from(shaped.subarray(i, i + DATAGRAM));
      while (at + DATAGRAM <= source.length && !got.equals(source.subarray(at, at + DATAGRAM))) at += DATAGRAM;
      expect(at + DATAGRAM, `datagram ${i / DATAGRAM} is not the stream's next`).toBeLessThanOrEqual(source.length);
      at += DATAGRAM;
    }
    const lines = stderr.trim().split("\n");
    const warnings = lines.filter((l) => l.includes("warn:") && l.includes("no room to send"));
    expect(warnings.length, stderr).toBe(1); // said once
    expect(warnings[0]).toContain(`127.0.0.1:${SHAPED}`);
    const loss = /udp:\/\/127\.0\.0\.1:(\d+): lost [\d.]+ m?s of [\d.]+ s \((\d+) datagrams found no room to send\)/.exec(stderr);
    expect(loss, stderr).not.toBeNull();
    expect(Number(loss![1])).toBe(SHAPED);
    expect(received + Number(loss![2])).toBe(datagrams);
    expect(stderr).not.toContain(`:${CLEAR}: lost`);
    expect(code).toBe(1);
  } finally {
    ns.remove();
  }
}, 30_000);
