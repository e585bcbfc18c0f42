/**
 * The datagrams `pacer recv` gets from the server's address before the play reply has named the
 * stream's SSRC (client/stream_filter.ts): held in arrival order until it has. The stream's first
 * packets can beat the reply (they leave the server from another socket as the job starts), and
 * so can a sender on the server's host: which of them is the stream only the reply can say.
 *
 * One buffer, made at the first datagram held and kept, and nothing per datagram. A stream that
 * fills it before any reply (the reply lost, the request repeated every 500 ms) is let through
 * as before the reply named SSRCs: its first packet fixes the SSRC.
 *
 * @example
 * ```ts
 * const early = new EarlyPackets();
 * if (!early.hold(port, ssrc, payload)) fallBack(); // full
 * early.release((port, ssrc, payload) => take(port, ssrc, payload)); // once the reply is in
 * ```
 */

/** 1 MiB: 400 ms of a 20 Mbit/s stream, where the reply takes a round trip. */
const EARLY_BYTES = 1 << 20;
/** Each held datagram: its SSRC (4 bytes), source port (2, and 2 spare) and payload length (4), then the payload. */
const RECORD_HEADER = 12;

export type HeldPacket = (port: number, ssrc: number, payload: Uint8Array) => void;

export class EarlyPackets {
  #bytes: Uint8Array | null = null;
  #view: DataView | null = null;
  #end = 0;
  #count = 0;

  constructor(readonly capacity = EARLY_BYTES) {}

  /** Datagrams held now. */
  get count(): number {
    return this.#count;
  }

  /** Holds a payload; false, holding nothing, when it does not fit. */
  hold(port: number, ssrc: number, payload: Uint8Array): boolean {
    if (this.#end + RECORD_HEADER + payload.length > this.capacity) return false;
    if (this.#bytes === null) {
      this.#bytes = new Uint8Array(this.capacity);
      this.#view = new DataView(this.#bytes.buffer);
    }
    const view = this.#view!;
    view.setUint32(this.#end, ssrc);
    view.setUint16(this.#end + 4, port);
    view.setUint32(this.#end + 8, payload.length);
    this.#bytes.set(payload, this.#end + RECORD_HEADER);
    this.#end += RECORD_HEADER + payload.length;
    this.#count++;
    return true;
  }

  /** Hands every held datagram to `each`, in arrival order, and forgets them. A payload is valid only during the call. */
  release(each: HeldPacket): void {
    const bytes = this.#bytes;
    const view = this.#view;
    const end = this.#end;
    this.#end = 0;
    this.#count = 0;
    if (bytes === null || view === null) return;
    for (let at = 0; at < end; ) {
      const length = view.getUint32(at + 8);
      each(view.getUint16(at + 4), view.getUint32(at), bytes.subarray(at + RECORD_HEADER, at + RECORD_HEADER + length));
      at += RECORD_HEADER + length;
    }
  }
}
