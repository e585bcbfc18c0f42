/**
 * `pacer record` from real loopback senders that misbehave: nothing that arrives is dropped
 * without a word. An RTP sender that restarts its numbering, swaps its first two packets and
 * sends one stray far ahead and one datagram that is no RTP is followed with nothing lost; datagrams too long to keep are
 * counted in the summary and the gap log, and when they were all that came, the error says so.
 */
import { afterAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir } from "../helpers/mpeg_fixtures.ts";
import { startPacer } from "../helpers/pacer.ts";
import { freeUdpPort, waitUdpBound } from "../helpers/ports.ts";
import { PT_L16_STEREO, rtpSetHeader, rtpSetSeqnum, rtpSetSsrc } from "../../protocol/rtp.ts";

const tmp = makeTempDir();
afterAll(() => tmp.cleanup());

/** 441 stereo L16 frames: 10 ms at 44.1 kHz. */
const PAYLOAD = 441 * 4;

function l16Packet(seq: number, fill: number): Uint8Array {
  const p = new Uint8Array(12 + PAYLOAD);
  rtpSetHeader(p, PT_L16_STEREO);
  rtpSetSeqnum(p, seq);
  rtpSetSsrc(p, 0x5eed);
  p.fill(fill, 12);
  return p;
}

async function recordWhile(args: string[], port: number, send: (socket: Awaited<ReturnType<typeof Bun.udpSocket>>) => Promise<void>) {
  const rec = startPacer(["record", ...args]);
  let stderr = "";
  rec.stderr.on("data", (d) => (stderr += d));
  const exit = new Promise<number | null>((resolve) => rec.on("close", resolve));
  await waitUdpBound(port);
  const socket = await Bun.udpSocket({ connect: { hostname: "127.0.0.1", port } });
  await send(socket);
  socket.close();
  return { code: await exit, stderr };
}

/** The data chunk of a WAV the recorder wrote. */
function wavData(path: string): Buffer {
  const b = readFileSync(path);
  for (let at = 12; at + 8 <= b.length; at += 8 + b.readUInt32LE(at + 4)) {
    if (b.toString("latin1", at, at + 4) === "data") return b.subarray(at + 8, at + 8 + b.readUInt32LE(at + 4));
  }
  throw new Error(`${path}: no data chunk`);
}

test("RTP: swapped first packets, a stray far ahead and a restart of the numbering lose nothing; the stray and a datagram that is no RTP are counted", async () => {
  const port = await freeUdpPort();
  const out = join(tmp.dir, "restart.wav");
  const gapLog = join(tmp.dir, "restart.log");
  // [seq, which packet in true order]: 20000..20099 then 0..99, 20001 before 20000, a stray and
  // five bytes that are no RTP (seq -1) after 20049.
  const order: [number, number][] = [];
  for (let k = 0; k < 100; k++) order.push([20000 + k, k]);
  [order[0], order[1]] = [order[1]!, order[0]!];
  order.splice(50, 0, [50050, -1], [-1, -1]);
  for (let k = 0; k < 100; k++) order.push([k, 100 + k]);
  const run = await recordWhile([`rtp://@127.0.0.1:${port}`, "--out", out, "--duration", "2", "--gap-log", gapLog], port, async (socket) => {
    for (const [seq, index] of order) {
      socket.send(seq < 0 ? new Uint8Array([1, 2, 3, 4, 5]) : l16Packet(seq, index < 0 ? 0xee : index));
      await Bun.sleep(2);
    }
  });
  expect(run.code, run.stderr).toBe(0);
  const data = wavData(out);
  expect(data.length).toBe(200 * PAYLOAD);
  const firsts = [...Array(200).keys()].map((i) => data[i * PAYLOAD]);
  expect(firsts).toEqual([...Array(200).keys()]);
  expect(run.stderr).toContain("gaps 2 (lost packets 0, stalls 0)");
  expect(run.stderr).toMatch(/, dropped 2 datagrams \(stray 1, malformed 1\), input silent for the last [\d.]+ s\n$/);
  const log = readFileSync(gapLog, "utf8");
  expect(log).toContain(" 1 datagram dropped: RTP far out of sequence, and none followed\n");
  expect(log).toContain(" 1 datagram dropped: not RTP\n");
}, 20_000);

test("UDP: datagrams longer than 9216 bytes are counted in the summary and the gap log, the rest kept", async () => {
  const port = await freeUdpPort();
  const out = join(tmp.dir, "mixed.bin");
  const gapLog = join(tmp.dir, "mixed.log");
  const kept = [new Uint8Array(9216).fill(1), new Uint8Array(9216).fill(2)];
  const run = await recordWhile([`udp://@127.0.0.1:${port}`, "--out", out, "--duration", "1.5", "--gap-log", gapLog], port, async (socket) => {
    for (const d of [kept[0]!, new Uint8Array(9217), new Uint8Array(20000), new Uint8Array(65507), kept[1]!]) {
      socket.send(d);
      await Bun.sleep(5);
    }
  });
  expect(run.code, run.stderr).toBe(0);
  expect(readFileSync(out).equals(Buffer.concat(kept))).toBe(true);
  const lines = readFileSync(gapLog, "utf8").trim().split("\n");
  expect(lines.every((l) => / \d+ datagrams? dropped: longer than 9216 bytes$/.test(l))).toBe(true);
  expect(lines.reduce((n, l) => n + Number(/ (\d+) datagrams? dropped/.exec(l)![1]), 0)).toBe(3);
  expect(run.stderr).toContain(`gaps ${lines.length} (lost packets 0, stalls 0)`);
  expect(run.stderr).toMatch(/, dropped 3 datagrams \(too long 3 \(over 9216 bytes\)\), input silent for the last [\d.]+ s\n$/);
}, 20_000);

test("UDP: when every datagram was too long, the error says what came and the limit", async () => {
  const port = await freeUdpPort();
  const run = await recordWhile([`udp://@127.0.0.1:${port}`, "--out", join(tmp.dir, "big.bin"), "--duration", "1.5"], port, async (socket) => {
    for (let k = 0; k < 20; k++) {
      socket.send(new Uint8Array(20000));
      await Bun.sleep(5);
    }
  });
  expect(run.code).toBe(1);
  expect(run.stderr).toBe(`pacer: error: nothing kept from udp://@127.0.0.1:${port}: dropped 20 datagrams (too long 20 (over 9216 bytes))\n`);
}, 20_000);

test("a source that stops for good before --duration ends: the summary says how long the input was silent at the end", async () => {
  const port = await freeUdpPort();
  const out = join(tmp.dir, "gone.wav");
  const r = await recordWhile([`rtp://@127.0.0.1:${port}`, "--out", out, "--duration", "2"], port, async (socket) => {
    for (let seq = 0; seq < 30; seq++) {
      socket.send(l16Packet(seq, seq));
      await Bun.sleep(10);
    }
  });
  expect(r.code).toBe(0);
  // About 1.7 s of the 2 s with nothing: it ended "gaps 0 (…, stalls 0)", with no word of it.
  expect(r.stderr).toMatch(/^pacer: recorded 1 file, 52920 bytes, .*, input silent for the last 1\.\d s\n$/);
});
