/**
 * Which datagrams on `pacer recv`'s media port are its stream. The port is open to anyone, so a
 * datagram counts only if it comes from the server's address (any port: the server sends from a
 * socket of its own, shared by its outputs, not from its control port) and, once the stream's
 * first packet has fixed it, carries the stream's SSRC (random per output, RFC 3550 section 5.1:
 * another sender on the server's host has another). The rest are counted, for one line at the end.
 *
 * @example
 * ```ts
 * const filter = new StreamFilter(client.serverAddress);
 * if (filter.admits(address, port, rtpGetSsrc(packet))) sink.write(payload);
 * filter.newStream(); // a new job: its SSRC is its own
 * filter.refusedLine(); // "refused 20 datagrams … the first from 127.0.0.1:40000", or null
 * ```
 */
import { parseIp, sameIp, type IpAddress } from "../foundation/net/address.ts";

export class StreamFilter {
  readonly #server: IpAddress;
  readonly #serverText: string;
  /** The address text last found to be the server's: the same string again needs no parsing. */
  #known: string | null = null;
  #ssrc: number | null = null;
  #strangers = 0;
  #otherSsrc = 0;
  #first: string | null = null;

  constructor(serverAddress: string) {
    const server = parseIp(serverAddress);
    if (!server) throw new Error(`StreamFilter: "${serverAddress}" is not an IP address`);
    this.#server = server;
    this.#serverText = serverAddress;
  }

  /** Whether a datagram from `address`:`port` with RTP SSRC `ssrc` belongs to the stream. */
  admits(address: string, port: number, ssrc: number): boolean {
    if (address !== this.#known) {
      const sender = parseIp(address);
      if (!sender || !sameIp(sender, this.#server)) return this.#refuse(address, port, "stranger");
      this.#known = address;
    }
    this.#ssrc ??= ssrc;
    return ssrc === this.#ssrc || this.#refuse(address, port, "otherSsrc");
  }

  /** The stream is requested again: the next job's first packet fixes its SSRC. */
  newStream(): void {
    this.#ssrc = null;
  }

  get refused(): number {
    return this.#strangers + this.#otherSsrc;
  }

  /** One line on what was refused, or null if nothing was. */
  refusedLine(): string | null {
    if (this.refused === 0) return null;
    const kinds = [
      this.#strangers > 0 ? `${this.#strangers} not from the server's address ${this.#serverText}` : "",
      this.#otherSsrc > 0 ? `${this.#otherSsrc} from it with another SSRC than the stream's` : "",
    ].filter((kind) => kind !== "");
    return `refused ${this.refused} datagram${this.refused === 1 ? "" : "s"} not of the stream: ${kinds.join(", ")}; the first from ${this.#first}`;
  }

  #refuse(address: string, port: number, kind: "stranger" | "otherSsrc"): false {
    if (kind === "stranger") this.#strangers++;
    else this.#otherSsrc++;
    this.#first ??= address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
    return false;
  }
}
