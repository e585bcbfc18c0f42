/**
 * `udp://HOST:PORT[?pkt=BYTES&ttl=N&iface=ADDR&source=ADDR:PORT]`: raw UDP
 * push, as the original push server sent it. `pkt` defaults to 1316 for
 * MPEG-TS (7 whole packets, never split) and to 1472 otherwise, the UDP
 * payload of a 1500-byte MTU.
 */
import type { Backend, BackendContext, BackendCounters, BackendFactory, StreamInfo, UnitTiming } from "./backend.ts";
import type { UdpSender } from "./net/udp_sender.ts";
import type { SharedBytes } from "../foundation/shared_bytes.ts";
import type { SampleFormat } from "../protocol/sample_format.ts";
import type { SendPacing } from "../scheduler/send_pacing.ts";
import { openDatagramOutput, pcmUnitBytes, tsUnitBytes } from "./net/datagram_output.ts";
import { intParam } from "../foundation/net/endpoint.ts";
/** 1500-byte MTU minus 20 bytes of IPv4 header and 8 of UDP. */
const DEFAULT_PKT = 1472;
const MAX_PKT = 65_507;
const OPTIONS = ["pkt", "ttl", "iface", "source"] as const;

/** Payload bytes per datagram of `stream` to `target` with `pkt` (a server checks the rate they make: server/wire_rate.ts). */
export function udpUnitBytes(target: string, stream: StreamInfo, pkt: number | undefined): number {
  if (stream.kind === "mpegts") return tsUnitBytes(target, pkt);
  if (stream.kind === "pcm") return pcmUnitBytes(target, stream.format!, pkt, DEFAULT_PKT);
  return pkt ?? DEFAULT_PKT;
}

export const udpBackend: BackendFactory = {
  scheme: "udp",
  summary: "udp://HOST:PORT  raw UDP datagrams of pkt bytes",
  async create(target: string, stream: StreamInfo, ctx: BackendContext): Promise<Backend> {
    const { sender, counters, unitBytes } = await openDatagramOutput(target, OPTIONS, ctx, (endpoint) =>
      udpUnitBytes(target, stream, intParam(endpoint, "pkt", 1, MAX_PKT)),
    );
    return new UdpBackend(target, stream.kind === "pcm" ? stream.format : undefined, unitBytes, sender, counters);
  },
};

/**
 * A class, not an object of closures: a send touches this object only, where a closure each cost
 * a server's thousand cold destinations a cache miss each (docs/scale.md). What the sender
 * lacks, the backend lacks (Backend's optional members), so those fields hold the one shared
 * method or nothing: every UdpBackend keeps one shape.
 */
class UdpBackend implements Backend {
  readonly aheadUs = 0;
  readonly leadUs: number;
  readonly pacing: SendPacing | undefined;
  readonly sendInPlace: Backend["sendInPlace"];
  readonly shareMedia: Backend["shareMedia"];
  readonly heldFrom: Backend["heldFrom"];
  readonly full: Backend["full"];

  constructor(
    readonly label: string,
    readonly format: SampleFormat | undefined,
    readonly unitBytes: number,
    private readonly sender: UdpSender,
    readonly counters: BackendCounters,
  ) {
    this.leadUs = sender.leadUs;
    this.pacing = sender.pacing;
    const own = UdpBackend.prototype;
    this.sendInPlace = sender.sendInPlace ? own.sendFromBuffer : undefined;
    this.shareMedia = sender.shareMedia ? own.shareWithSender : undefined;
    this.heldFrom = sender.heldFrom ? own.heldBySender : undefined;
    this.full = sender.full ? own.senderFull : undefined;
  }

  send(unit: Uint8Array, timing: UnitTiming): number {
    if (this.sender.send(unit, timing.dueUs, timing.marker)) this.sent(unit.length);
    return unit.length;
  }

  async close(): Promise<void> {
    await this.sender.close();
  }

  private sendFromBuffer(media: SharedBytes, offset: number, position: number, length: number, timing: UnitTiming): number {
    if (this.sender.sendInPlace!(null, 0, media, offset, position, length, timing.dueUs, timing.marker)) this.sent(length);
    return length;
  }

  private shareWithSender(media: SharedBytes): Promise<void> {
    return this.sender.shareMedia!(media);
  }

  private heldBySender(): number {
    return this.sender.heldFrom!();
  }

  private senderFull(ready: () => void): boolean {
    return this.sender.full!(ready);
  }

  private sent(bytes: number): void {
    this.counters.units++;
    this.counters.bytes += bytes;
  }
}
