/**
 * `pacer recv` writes the stream in sequence order, as `pacer record` does from `rtp://@`: a
 * server (here a stand-in that answers the control protocol and sends chosen RTP packets) whose
 * packets arrive swapped, twice, or not at all. recv puts a swapped pair back, drops the second
 * copy, and says in one line at the end what was lost. Before, it wrote each payload as it came:
 * the pair swapped, the copy twice, and a loss unsaid (exit 0, nothing on stderr).
 */
import { expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeRequest, encodeReply, okReply } from "../../protocol/control.ts";
import { RTP_HEADER_SIZE, rtpSetHeader, rtpSetSeqnum, rtpSetSsrc, rtpSetTimestamp } from "../../protocol/rtp.ts";
import { runPacer } from "../helpers/pacer.ts";

const SSRC = 0x11223344;
const PAYLOAD = 7 * 188;

/** Packet `index` of the stream: its payload every byte `index`, its sequence number 100 + index. */
function packet(index: number): Uint8Array {
  const p = new Uint8Array(RTP_HEADER_SIZE + PAYLOAD).fill(index);
  rtpSetHeader(p, 33);
  rtpSetSeqnum(p, 100 + index);
  rtpSetTimestamp(p, index * 1000);
  rtpSetSsrc(p, SSRC);
  return p;
}

/** A stand-in server: answers play with the SSRC, sends the packets in `order`, and says the job ended. */
async function fakeServer(order: number[]) {
  let sent = false;
  const media = await Bun.udpSocket({ hostname: "127.0.0.1" });
  const control = await Bun.udpSocket({
    hostname: "127.0.0.1",
    socket: {
      data(socket, data, port, address) {
        const decoded = decodeRequest(new Uint8Array(data), undefined, Date.now());
        if (!decoded.ok) return;
        const { id, op, args } = decoded.req;
        const result = op === "play" ? { job: "job-0000000000000001", interest_timeout: 10, ssrc: [SSRC] } : op === "status" ? { job: { id: "job-0000000000000001", state: "ended" } } : {};
        socket.send(encodeReply(okReply(id, result)), port, address);
        if (op !== "play" || sent) return;
        sent = true;
        const to = new URL(String((args as { to: string[] }).to[0]).replace("rtp://", "http://"));
        void (async () => {
          for (const index of order) {
            media.send(packet(index), Number(to.port), to.hostname);
            await Bun.sleep(10);
          }
        })();
      },
    },
  });
  return { address: `127.0.0.1:${control.port}`, close: () => (control.close(), media.close()) };
}

test.each([
  ["swapped", [0, 1, 3, 2, 4, 5], [0, 1, 2, 3, 4, 5], null],
  ["twice", [0, 1, 1, 2, 3], [0, 1, 2, 3], "the stream had gaps: 1 duplicate dropped"],
  ["lost", [0, 1, 4, 5], [0, 1, 4, 5], "the stream had gaps: 2 packets lost on the way (the output has a hole there)"],
] as const)("packets %s on the way: the output in sequence order, and one line for what was not whole", async (_name, order, written, line) => {
  const dir = mkdtempSync(join(tmpdir(), "pacer-recv-order-"));
  const server = await fakeServer([...order]);
  try {
    const out = join(dir, "out.ts");
    const run = await runPacer(["recv", "--from", server.address, "--request", "x.ts", "--out", out], { timeoutMs: 15_000 });
    expect(run.code, run.stderr).toBe(0);
    const data = readFileSync(out);
    expect(Array.from({ length: data.length / PAYLOAD }, (_, i) => data[i * PAYLOAD])).toEqual([...written]);
    const warnings = run.stderr.split("\n").filter((l) => l.includes("warn"));
    expect(warnings).toEqual(line === null ? [] : [`pacer: warn: ${line}`]);
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}, 20_000);
