/**
 * Fault: a receive input flooded as fast as loopback carries it. `pacer record udp://@…` keeps up
 * or says what it lost: it keeps running, its memory stays bounded, the file is whole TS packets,
 * and the summary counts the kernel's drops and the continuity errors they left; the file plus
 * what the summary says was lost accounts for the packets sent.
 */
import { afterAll, expect, test } from "bun:test";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { makeCbrTs, makeTempDir } from "../helpers/mpeg_fixtures.ts";
import { startPacer } from "../helpers/pacer.ts";
import { freeUdpPort, waitUdpBound } from "../helpers/ports.ts";

const tmp = makeTempDir();
afterAll(() => tmp.cleanup());

/**
 * Datagrams the kernel dropped host-wide before any socket saw them (its per-CPU input backlog,
 * /proc/net/softnet_stat's second column): a flood on a loaded host can overrun it, and no
 * receiver can count those.
 */
function backlogDrops(): number {
  return readFileSync("/proc/net/softnet_stat", "utf8")
    .trim()
    .split("\n")
    .reduce((n, line) => n + parseInt(line.split(/\s+/)[1] ?? "0", 16), 0);
}

function rssMiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;
}

test("record under a flood: keeps running, memory bounded, whole packets, drops counted", async () => {
  const port = await freeUdpPort();
  const out = join(tmp.dir, "flood.ts");
  const rec = startPacer(["record", `udp://@127.0.0.1:${port}`, "--out", out]);
  let stderr = "";
  rec.stderr.on("data", (d) => (stderr += d));
  await waitUdpBound(port);
  await Bun.sleep(200); // past the bind: its start-up allocations are done before the baseline
  const rssBefore = rssMiB(rec.pid!);
  // 20 s of 10 Mbit/s TS sent in one go: 19,000 datagrams as fast as the socket takes them.
  const ts = makeCbrTs({ bitrate: 10_000_000, duration: 20 });
  const socket = await Bun.udpSocket({ socket: { error() {} } });
  const backlogBefore = backlogDrops();
  let sent = 0;
  for (let at = 0; at + 1316 <= ts.length; at += 1316) {
    if (socket.send(ts.subarray(at, at + 1316), port, "127.0.0.1")) sent++;
    else await Bun.sleep(0); // the socket's queue is full: let it drain
  }
  socket.close();
  // Until pacer has read what its socket still queues (a loaded host may take seconds): what is
  // left queued at SIGTERM is lost with the socket, and nobody could count it.
  let settled = -1;
  for (let stillFor = 0, waited = 0; stillFor < 500 && waited < 15_000; waited += 100) {
    await Bun.sleep(100);
    const now = statSync(out).size;
    stillFor = now === settled ? stillFor + 100 : 0;
    settled = now;
  }
  const unseen = backlogDrops() - backlogBefore;
  const rssDuring = rssMiB(rec.pid!);
  rec.kill("SIGTERM");
  const code = await new Promise<number | null>((resolve) => rec.on("close", resolve));
  expect(code).toBe(0);
  expect(rssDuring - rssBefore).toBeLessThan(64);
  const size = statSync(out).size;
  expect(size % 188).toBe(0);
  expect(size).toBeGreaterThan(0);
  const summary = /recorded 1 file, (\d+) bytes, [\d.]+ s, gaps (\d+) \(lost packets \d+, stalls \d+\), cc errors (\d+)(?:, kernel drops (\d+))?(?:, (\d+) bytes dropped \(the recording fell behind\))?/.exec(stderr);
  expect(summary, stderr).not.toBeNull();
  expect(Number(summary![1])).toBe(size);
  const receivedDatagrams = size / 1316;
  const drops = Number(summary![4] ?? 0);
  const behind = Number(summary![5] ?? 0) / 1316;
  console.log(`flood: ${sent} datagrams sent, ${receivedDatagrams} recorded, kernel drops ${drops}, backlog drops ${unseen}, cc errors ${summary![3]}, fell behind by ${behind} datagrams`);
  // Whatever did not reach the file was dropped by the kernel and counted (at the socket by pacer,
  // before any socket by the host), or refused by pacer's own queue and counted, or the file has it all.
  if (receivedDatagrams < sent) {
    expect(drops + behind + Number(summary![3])).toBeGreaterThan(0);
    expect(receivedDatagrams + drops + behind + unseen).toBeGreaterThanOrEqual(sent * 0.99);
  }
}, 45_000);
