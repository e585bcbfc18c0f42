/**
 * A UDP sink for load benches: binds `streams` sockets on 127.0.0.1 with
 * small receive buffers and never reads them, so hundreds of streams cost
 * the receiving side no CPU (the kernel drops what overflows; nothing sends
 * ICMP back, as it would to a port nobody holds). Prints one JSON line
 * `{"ports":[...]}` once bound and exits when its stdin ends.
 *
 * @example
 * ```sh
 * bun bench/sink.ts 500
 * ```
 */
import { writeSync } from "node:fs";
import { openKernelStampedSockets } from "./kernel_udp.ts";

const SINK_RCVBUF_BYTES = 16 * 1024;

const streams = Number(process.argv[2] ?? "1");
const sockets = openKernelStampedSockets(streams, SINK_RCVBUF_BYTES);
writeSync(1, JSON.stringify({ ports: sockets.ports }) + "\n");
for await (const _ of Bun.stdin.stream()) {
  // Reading only to see the end of stdin.
}
sockets.close();
