/**
 * Which datagrams on `pacer recv`'s media port are its stream. The port is open to anyone, so a
 * datagram counts only if it comes from the server's address (any port: the server sends from a
 * socket of its own, shared by its outputs, not from its control port) and carries the stream's
 * SSRC: the one the server's play reply names (random per output, RFC 3550 section 5.1: another
 * sender on the server's host has another). Until the reply has come, what comes from the
 * server's address waits (client/early_packets.ts): taking the first packet's SSRC would let such
 * a sender, first by a hair, fix its own. A reply that names none (an older server) leaves the
 * stream's first packet to fix it, as does a stream that fills the wait with no reply at all. The
 * rest, and datagrams that are not RTP at all, are counted, for one line at the end.
 *
 * @example
 * ```ts
 * const filter = new StreamFilter(client.serverAddress, { onDatagram: (p) => reorder.push(p, now), onNoReply: warn });
 * filter.arrive(address, port, rtpGetSsrc(packet), packet); // passed on now, held, or refused
 * filter.expect(reply.ssrc); // the play reply is in: its SSRC (or null: the first packet's); held ones go through
 * filter.newStream(); // requested again: the next reply names the new job's SSRC
 * filter.refusedLine(); // "refused 20 datagrams … the first from 127.0.0.1:40000", or null
 * ```
 */
import { hostPortText, parseIp, sameIp, type IpAddress } from "../foundation/net/address.ts";
import { EarlyPackets } from "./early_packets.ts";

export interface StreamFilterOptions {
  /** A datagram of the stream (what `arrive` was given: recv gives the whole RTP packet), in arrival order; valid only during the call. */
  onDatagram(datagram: Uint8Array): void;
  /** The wait for the play reply is full (`held` datagrams): the first of them fixes the SSRC. */
  onNoReply?(held: number): void;
  /** Bytes held for the reply at most (EarlyPackets' default). */
  holdBytes?: number;
}

export class StreamFilter {
  readonly #server: IpAddress;
  readonly #serverText: string;
  readonly #options: StreamFilterOptions;
  readonly #early: EarlyPackets;
  /** The address text last found to be the server's: the same string again needs no parsing. */
  #known: string | null = null;
  #ssrc: number | null = null;
  #awaitingReply = true;
  #strangers = 0;
  #otherSsrc = 0;
  #notRtp = 0;
  #first: string | null = null;

  constructor(serverAddress: string, options: StreamFilterOptions) {
    const server = parseIp(serverAddress);
    if (!server) throw new Error(`StreamFilter: "${serverAddress}" is not an IP address`);
    this.#server = server;
    this.#serverText = serverAddress;
    this.#options = options;
    this.#early = new EarlyPackets(options.holdBytes);
  }

  /** A datagram from `address`:`port` with RTP SSRC `ssrc`: passed on, held for the reply, or refused. */
  arrive(address: string, port: number, ssrc: number, datagram: Uint8Array): void {
    if (address !== this.#known) {
      const sender = parseIp(address);
      if (!sender || !sameIp(sender, this.#server)) {
        this.#refuse(address, port, "stranger");
        return;
      }
      this.#known = address;
    }
    if (this.#awaitingReply) {
      if (this.#early.hold(port, ssrc, datagram)) return;
      this.#options.onNoReply?.(this.#early.count);
      this.expect(null);
    }
    this.#take(port, ssrc, datagram);
  }

  /** Datagrams held for the play reply. */
  get held(): number {
    return this.#early.count;
  }

  /** The play reply's SSRC for the stream (null where it names none: the first packet fixes it); what was held goes on. */
  expect(ssrc: number | null): void {
    this.#ssrc = ssrc;
    this.#awaitingReply = false;
    this.#early.release(this.#take);
  }

  /** The stream is requested again: the next reply names the new job's SSRC. */
  newStream(): void {
    this.#ssrc = null;
    this.#awaitingReply = true;
  }

  /** A datagram that is not RTP (raw UDP): refused, and counted with the rest, from whomever it came. */
  notRtp(address: string, port: number): void {
    this.#refuse(address, port, "notRtp");
  }

  get refused(): number {
    return this.#strangers + this.#otherSsrc + this.#notRtp;
  }

  /** One line on what was refused, or null if nothing was. */
  refusedLine(): string | null {
    if (this.refused === 0) return null;
    const kinds = [
      this.#notRtp > 0 ? `${this.#notRtp} not RTP` : "",
      this.#strangers > 0 ? `${this.#strangers} not from the server's address ${this.#serverText}` : "",
      this.#otherSsrc > 0 ? `${this.#otherSsrc} from it with another SSRC than the stream's` : "",
    ].filter((kind) => kind !== "");
    return `refused ${this.refused} datagram${this.refused === 1 ? "" : "s"} not of the stream: ${kinds.join(", ")}; the first from ${this.#first}`;
  }

  /** A datagram from the server's address, once the reply has said which SSRC is the stream's. */
  readonly #take = (port: number, ssrc: number, datagram: Uint8Array): void => {
    this.#ssrc ??= ssrc;
    if (ssrc === this.#ssrc) this.#options.onDatagram(datagram);
    else this.#refuse(this.#known ?? this.#serverText, port, "otherSsrc");
  };

  #refuse(address: string, port: number, kind: "stranger" | "otherSsrc" | "notRtp"): void {
    if (kind === "stranger") this.#strangers++;
    else if (kind === "otherSsrc") this.#otherSsrc++;
    else this.#notRtp++;
    this.#first ??= hostPortText(address, port);
  }
}
