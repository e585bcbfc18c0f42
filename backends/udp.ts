/**
 * `udp://HOST:PORT[?pkt=BYTES&ttl=N&iface=ADDR&source=ADDR:PORT]`: raw UDP
 * push, as the original push server sent it. `pkt` defaults to 1316 for
 * MPEG-TS (7 whole packets, never split) and to 1472 otherwise, the UDP
 * payload of a 1500-byte MTU.
 */
import type { Backend, BackendContext, BackendFactory, StreamInfo } from "./backend.ts";
import { openDatagramOutput, pcmUnitBytes, tsUnitBytes } from "./net/datagram_output.ts";
import { intParam } from "../foundation/net/endpoint.ts";
/** 1500-byte MTU minus 20 bytes of IPv4 header and 8 of UDP. */
const DEFAULT_PKT = 1472;
const MAX_PKT = 65_507;
const OPTIONS = ["pkt", "ttl", "iface", "source"] as const;

function unitBytesFor(target: string, stream: StreamInfo, pkt: number | undefined): number {
  if (stream.kind === "mpegts") return tsUnitBytes(target, pkt);
  if (stream.kind === "pcm") return pcmUnitBytes(target, stream.format!, pkt, DEFAULT_PKT);
  return pkt ?? DEFAULT_PKT;
}

export const udpBackend: BackendFactory = {
  scheme: "udp",
  summary: "udp://HOST:PORT  raw UDP datagrams of pkt bytes",
  async create(target: string, stream: StreamInfo, ctx: BackendContext): Promise<Backend> {
    const { sender, counters, unitBytes } = await openDatagramOutput(target, OPTIONS, ctx, (endpoint) =>
      unitBytesFor(target, stream, intParam(endpoint, "pkt", 1, MAX_PKT)),
    );
    return {
      label: target,
      format: stream.kind === "pcm" ? stream.format : undefined,
      unitBytes,
      aheadUs: 0,
      leadUs: sender.leadUs,
      pacing: sender.pacing,
      counters,
      send(unit, timing) {
        if (sender.send(unit, timing.dueUs, timing.marker)) {
          counters.units++;
          counters.bytes += unit.length;
        }
        return unit.length;
      },
      shareMedia: sender.shareMedia && ((media) => sender.shareMedia!(media)),
      heldFrom: sender.heldFrom && (() => sender.heldFrom!()),
      full: sender.full && ((ready) => sender.full!(ready)),
      sendInPlace:
        sender.sendInPlace &&
        ((media, offset, position, length, timing) => {
          if (sender.sendInPlace!(null, 0, media, offset, position, length, timing.dueUs, timing.marker)) {
            counters.units++;
            counters.bytes += length;
          }
          return length;
        }),
      async close() {
        await sender.close();
      },
    };
  },
};
