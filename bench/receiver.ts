/**
 * The bench receiver, always a process of its own: binds `streams` UDP
 * sockets on 127.0.0.1 (ephemeral ports), stamps every datagram on arrival
 * with the system-wide monotonic clock (bench/clock.ts), and keeps, per
 * datagram, one row: stream index, arrival ns, bytes, RTP sequence number
 * and RTP timestamp (both -1 when `rtp` is false or the datagram is not
 * RTP).
 *
 * Arrival stamps are the kernel's (SO_TIMESTAMPNS, through bench/kernel_udp.ts),
 * so the receiver's own scheduling does not blur them. Where that is not
 * available it falls back to Bun.udpSocket and stamps in the `data`
 * callback, in user space (`stamps: "user"` in the summary); those stamps
 * are late by whatever delays the receiver (GC, batches, being
 * descheduled), by up to several ms on a busy 2-CPU machine.
 *
 * Protocol with the bench: argv[2] is a JSON {@link ReceiverConfig}. Once
 * bound, it prints one JSON line `{"ports":[...]}` on stdout. When its stdin
 * ends (or on SIGTERM, or after `maxSeconds`) it writes `<out>.bin`
 * (Float64Array rows of {@link ROW_FIELDS} numbers) and `<out>.json` (a
 * {@link ReceiverSummary}) and exits.
 *
 * @example
 * ```sh
 * bun bench/receiver.ts '{"streams":1,"out":"/tmp/r","maxSeconds":10,"rtp":true}'
 * ```
 */
import { writeFileSync, writeSync } from "node:fs";
import { monoNs } from "./clock.ts";
import { openKernelStampedSockets } from "./kernel_udp.ts";

export interface ReceiverConfig {
  streams: number;
  /** Path prefix for `.bin` and `.json`. */
  out: string;
  maxSeconds: number;
  rtp: boolean;
  /** Expected datagrams in all, to allocate once (growth would stall the receiver). */
  expectedPackets?: number;
}

export interface ReceiverSummary {
  stamps: "kernel" | "user";
  packets: number;
  rows: number;
  perStream: { packets: number; bytes: number }[];
}

/** Numbers per row in `<out>.bin`. */
export const ROW_FIELDS = 5;
export const ROW_STREAM = 0;
export const ROW_ARRIVAL_NS = 1;
export const ROW_BYTES = 2;
export const ROW_SEQ = 3;
export const ROW_TS = 4;

const RTP_VERSION = 2;
const RTP_HEADER = 12;

if (import.meta.main) await main();

/** Socket buffer per stream: generous for a few streams, bounded in all (rmem_max caps it anyway). */
function rcvbufFor(streams: number): number {
  return Math.max(256 * 1024, Math.min(4 << 20, Math.floor((256 << 20) / streams)));
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? "{}") as ReceiverConfig;
  let rows = new Float64Array(Math.max(1024, Math.ceil((config.expectedPackets ?? 0) * 1.1)) * ROW_FIELDS);
  let count = 0;
  const packets = new Float64Array(config.streams);
  const bytes = new Float64Array(config.streams);
  const rtp = config.rtp;

  const record = (stream: number, at: number, data: Uint8Array) => {
    if ((count + 1) * ROW_FIELDS > rows.length) {
      const grown = new Float64Array(rows.length * 2);
      grown.set(rows);
      rows = grown;
    }
    const r = count * ROW_FIELDS;
    rows[r + ROW_STREAM] = stream;
    rows[r + ROW_ARRIVAL_NS] = at;
    rows[r + ROW_BYTES] = data.length;
    if (rtp && data.length >= RTP_HEADER && data[0]! >> 6 === RTP_VERSION) {
      rows[r + ROW_SEQ] = (data[2]! << 8) | data[3]!;
      rows[r + ROW_TS] = ((data[4]! << 24) | (data[5]! << 16) | (data[6]! << 8) | data[7]!) >>> 0;
    } else {
      rows[r + ROW_SEQ] = -1;
      rows[r + ROW_TS] = -1;
    }
    count++;
    packets[stream]!++;
    bytes[stream]! += data.length;
  };

  const finish = (stamps: "kernel" | "user") => {
    writeFileSync(`${config.out}.bin`, rows.subarray(0, count * ROW_FIELDS));
    const summary: ReceiverSummary = {
      stamps,
      packets: count,
      rows: count,
      perStream: Array.from(packets, (p, i) => ({ packets: p, bytes: bytes[i]! })),
    };
    writeFileSync(`${config.out}.json`, JSON.stringify(summary));
    process.exit(0);
  };
  const deadline = monoNs() + config.maxSeconds * 1e9;

  let kernel = null;
  try {
    kernel = openKernelStampedSockets(config.streams, rcvbufFor(config.streams));
  } catch (error) {
    process.stderr.write(`receiver: no kernel stamps (${(error as Error).message}); stamping in user space\n`);
  }
  if (kernel) {
    // Synchronous: the receive loop below blocks this thread.
    writeSync(1, JSON.stringify({ ports: kernel.ports }) + "\n");
    kernel.run((stream, at, data) => record(stream, Number.isNaN(at) ? monoNs() : at, data), deadline);
    kernel.close();
    finish("kernel");
    return;
  }

  const sockets: import("bun").udp.Socket<"buffer">[] = [];
  for (let i = 0; i < config.streams; i++) {
    const stream = i;
    sockets.push(
      await Bun.udpSocket({
        hostname: "127.0.0.1",
        port: 0,
        socket: { data: (_s, data) => record(stream, monoNs(), data), error() {} },
      }),
    );
  }
  writeSync(1, JSON.stringify({ ports: sockets.map((s) => s.port) }) + "\n");
  let finished = false;
  const stop = () => {
    if (finished) return;
    finished = true;
    for (const s of sockets) s.close();
    finish("user");
  };
  process.on("SIGTERM", stop);
  setTimeout(stop, config.maxSeconds * 1000);
  for await (const _ of Bun.stdin.stream()) {
    // Reading only to see the end of stdin.
  }
  stop();
}
