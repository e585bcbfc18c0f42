/**
 * One `[[live]]` channel: where its bytes come from, the ring every `live:` job reads, and its
 * state for `list` (listening, receiving, stalled).
 *
 * A `listen` channel accepts one acquisition source at a time over TCP (protocol/live_handshake.ts):
 * a second connection while one is live gets `busy` and is closed; on a keyed channel the source
 * must answer the challenge within HANDSHAKE_MS, and at most MAX_HANDSHAKES wait at once, so
 * neither a slowloris nor an endless handshake can hold the port; one address (an IPv6 /64:
 * policy.ts sourceKey) holds at most MAX_PENDING_PER_ADDRESS connections short of the source
 * (pending_sources.ts), so a storm from it cannot take every slot; and a newcomer, with every
 * slot taken, takes a slot of another address, the one holding most, once it has had the grace to
 * answer (handshake_slots.ts), so silent handshakes that come back at once do not keep the source
 * out; refusals are logged at most one line per reason every 10 s
 * (refusal_log.ts). Any end of the source's connection (EOF, reset, SOURCE_TIMEOUT_MS without a
 * byte) is a drop: the channel listens again, and its jobs wait. An `input` channel reads any input `pacer record` takes, opened again after
 * a back-off when it ends (a `tcp://` connect input).
 *
 * A channel reads no faster than its stream may come (`max_bitrate`, INTAKE_HEADROOM): past that
 * it stops reading for as long as the excess takes at that rate, so TCP's window holds a source
 * back (a UDP input's excess overflows its socket buffer) instead of the server reading a flood and
 * throwing it away, which put every file job 4-6 ms late at p99.
 *
 * @example
 * ```ts
 * const channel = new LiveChannel(config.live[0], key, log);
 * await channel.open();
 * const reader = channel.ring.reader();
 * ```
 */
import { createServer, type Server, type Socket } from "node:net";
import { PacerError, TemporaryError } from "../../foundation/errors.ts";
import type { Logger } from "../../foundation/log.ts";
import {
  greetingLine, LIVE_MAC_BYTES, LIVE_OK, newNonce, verifyLiveMac,
} from "../../protocol/live_handshake.ts";
import { openLiveInput } from "../../sources/open_input.ts";
import type { StreamSource } from "../../sources/stream_source.ts";
import type { LiveInput } from "../config.ts";
import { LiveRing } from "./live_ring.ts";
import { SourceHead, type WavJoin } from "./source_head.ts";
import { PendingSources } from "./pending_sources.ts";
import { type HandshakeSlot, HandshakeSlots } from "./handshake_slots.ts";
import { sourceKey } from "../policy.ts";
import { RefusalLog } from "./refusal_log.ts";
import { bindFailure } from "../port_holder.ts";
import { TokenBucket } from "../token_bucket.ts";

/** The channel's ring: 3.3 s of 20 Mbit/s, the longest a job may fall behind before it skips. */
export const CHANNEL_RING_BYTES = 8 << 20;
/** A keyed source has this long from connecting to prove the key. */
export const HANDSHAKE_MS = 5_000;
/** A live source that sends nothing for this long is dropped (a half-dead connection). */
export const SOURCE_TIMEOUT_MS = 5_000;
/** No byte for this long: the channel is stalled (its jobs pause). */
export const STALL_MS = 1_000;
/** An input channel whose input ended opens it again after this. */
const REOPEN_MS = 1_000;
/**
 * An input that cannot be opened is said so once, then once every this many tries (a minute):
 * before, every try was a line, 3,600 an hour for as long as the far end was down.
 */
export const REOPEN_FAILURES_PER_LINE = 60;
/** The rate is measured over windows of this length and smoothed. */
const RATE_WINDOW_MS = 500;
const RATE_SMOOTHING = 0.25;
/** Read size when pumping an input channel's source into the ring. */
const PUMP_BYTES = 64 << 10;
/**
 * A channel reads at most this times its max_bitrate, and the ring's size at once after a quiet
 * spell: room for a VBR peak and for a source catching up, at half its rate, on what it held
 * through a drop (pacer acquire's --buffer, whose default is the ring's size).
 */
export const INTAKE_HEADROOM = 1.5;
/** How often a held channel looks whether it may read again. */
const HOLD_TICK_MS = 10;

export type ChannelState = "listening" | "receiving" | "stalled";

export interface ChannelSummary {
  name: string;
  kind: "live";
  state: ChannelState;
  /** Bits/s, smoothed. */
  rate: number;
  /** The source's address (HOST:PORT), or the input URL; null while listening. */
  source: string | null;
  jobs: number;
  drops: number;
}

export class LiveChannel {
  readonly name: string;
  readonly ring = new LiveRing(CHANNEL_RING_BYTES);
  readonly latencyMs: number;
  /** Sources lost (drops), and connections refused (busy, bad key, handshake timeout). */
  drops = 0;
  refused = 0;
  #active: Socket | null = null;
  #activeAddress: string | null = null;
  /** Connections in the key handshake: each with its address key, its start and how to end it. */
  readonly #handshakes = new HandshakeSlots<HandshakeSlot & { crowdedOut(): void }>();
  readonly #pending = new PendingSources();
  #server: Server | null = null;
  #input: StreamSource | null = null;
  #lastDataMs = 0;
  #windowBytes = 0;
  #byteRate = 0;
  #rateTimer: ReturnType<typeof setInterval> | null = null;
  #reopenTimer: ReturnType<typeof setTimeout> | null = null;
  /** Tries in a row to open the input again that failed, or whose input ended before a byte. */
  #reopenFailures = 0;
  /** A byte came from the input since it was last opened. */
  #inputSent = false;
  readonly #intake: TokenBucket;
  /** Reading is stopped until the intake is out of debt. */
  #held = false;
  #holdTimer: ReturnType<typeof setTimeout> | null = null;
  #pump: (() => void) | null = null;
  readonly #refusals: RefusalLog;
  #closed = false;
  /** Bound port of a listen channel (0 until open). */
  port = 0;
  /** Told the stream offset of a new source's first byte, as it connects (or an input opens). */
  readonly sourceBegan = new Set<(offset: number) => void>();
  /** The current source's first bytes: a job started mid-stream still gets a WAV's header. */
  readonly #head = new SourceHead();

  constructor(
    readonly config: LiveInput,
    private readonly key: Uint8Array | undefined,
    private readonly log: Logger,
  ) {
    this.name = config.name;
    this.latencyMs = config.latencyMs;
    this.#refusals = new RefusalLog(log, `live "${config.name}"`);
    this.#intake = new TokenBucket((config.maxBitrate / 8 / 1000) * INTAKE_HEADROOM, CHANNEL_RING_BYTES, performance.now());
  }

  /** Binds the listener or opens the input. Throws TemporaryError when the port is in use. */
  async open(): Promise<void> {
    this.#rateTimer = setInterval(() => this.#measure(), RATE_WINDOW_MS);
    if (this.config.listen) await this.#listen();
    else await this.#openInput();
  }

  /** Bytes/s arriving, smoothed (0 while nothing arrives). */
  byteRate(): number {
    return this.#byteRate;
  }

  get state(): ChannelState {
    const live = this.config.listen ? this.#active !== null : this.#lastDataMs > 0;
    if (!live) return "listening";
    // Connected with no byte yet reads stalled, as it always did (the monotonic clock starts near 0).
    return this.#lastDataMs === 0 || performance.now() - this.#lastDataMs >= STALL_MS ? "stalled" : "receiving";
  }

  summary(): ChannelSummary {
    const state = this.state;
    return {
      name: `live:${this.name}`,
      kind: "live",
      state,
      rate: Math.round(this.#byteRate * 8),
      source: this.config.listen ? this.#activeAddress : this.config.input!,
      jobs: this.ring.readerCount,
      drops: this.drops,
    };
  }

  close(): void {
    this.#closed = true;
    if (this.#rateTimer) clearInterval(this.#rateTimer);
    if (this.#reopenTimer) clearTimeout(this.#reopenTimer);
    if (this.#holdTimer) clearTimeout(this.#holdTimer);
    this.#refusals.close();
    this.#server?.close();
    this.#active?.destroy();
    this.#input?.close();
  }

  /** Where a job starting now reads the current source from, when it is a WAV stream: its header, then the next whole frame. */
  wavJoin(): WavJoin | null {
    // A source that has gone is no stream to join: what comes next brings its own header (a
    // recording started between sources took the closed one's format for the next's samples).
    if (this.state === "listening") return null;
    return this.#head.wavJoin(this.ring.written);
  }

  #arrived(chunk: Uint8Array): void {
    this.#head.arrived(chunk);
    this.ring.write(chunk);
    this.#windowBytes += chunk.length;
    this.#lastDataMs = performance.now();
    if (this.#intake.spend(chunk.length, performance.now()) > 0) this.#hold();
  }

  /** Stops reading until the intake is out of debt: the source's bytes wait in its socket, so TCP slows it to the bound. */
  #hold(): void {
    if (this.#held || this.#closed) return;
    this.#held = true;
    this.#active?.pause();
    // One timer for the channel's life: a flood is held tens of times a second.
    if (this.#holdTimer) this.#holdTimer.refresh();
    else this.#holdTimer = setTimeout(() => this.#release(), HOLD_TICK_MS);
  }

  #release(): void {
    if (this.#closed) return;
    if (this.#intake.spend(0, performance.now()) > 0) {
      this.#holdTimer!.refresh();
      return;
    }
    this.#held = false;
    const socket = this.#active;
    if (socket) {
      // The hold was the channel's doing, not the source's silence: its timeout starts again.
      socket.setTimeout(SOURCE_TIMEOUT_MS);
      socket.resume();
    }
    this.#pump?.();
  }

  #measure(): void {
    const rate = (this.#windowBytes * 1000) / RATE_WINDOW_MS;
    this.#windowBytes = 0;
    this.#byteRate = this.#byteRate === 0 ? rate : this.#byteRate + RATE_SMOOTHING * (rate - this.#byteRate);
    if (rate === 0 && performance.now() - this.#lastDataMs >= STALL_MS) this.#byteRate = 0;
  }

  /** Stops taking sources while the server is short of descriptors (descriptor_watch.ts); one already in goes on. */
  pause(): void {
    this.#server?.close();
    this.#server = null;
  }

  /** Listens again, on the port first bound, after a pause. */
  async resume(): Promise<void> {
    if (!this.config.listen || this.#closed || this.#server) return;
    await this.#listen(this.port);
    if (this.#closed) this.pause(); // closed while it bound
  }

  async #listen(port = this.config.listen!.port): Promise<void> {
    const listen = this.config.listen!;
    const server = createServer({ noDelay: true }, (socket) => this.#connected(socket));
    await new Promise<void>((resolve, reject) => {
      // As for the control and HTTP ports: the holder of a port in use is named where /proc shows it.
      server.once("error", (error: NodeJS.ErrnoException) => {
        reject(bindFailure(`live "${this.name}" listener`, `its [[live]] listen`, "tcp", { host: listen.host || "0.0.0.0", port }, error));
      });
      server.listen({ host: listen.host || undefined, port }, resolve);
    });
    server.on("error", (error) => this.log.warn(`live "${this.name}": ${error.message}`));
    this.#server = server;
    const address = server.address();
    this.port = typeof address === "object" && address ? address.port : port;
  }

  #connected(socket: Socket): void {
    const address = socket.remoteAddress ?? "";
    const from = `${address}:${socket.remotePort}`;
    socket.on("error", () => {}); // a reset is a drop, handled on close
    const key = sourceKey(address);
    const tooMany = this.#pending.take(key);
    if (tooMany) {
      // Closed unread and unanswered: a line to each would be the storm's own echo.
      this.refused++;
      this.#refusals.refused(tooMany, from);
      socket.destroy();
      return;
    }
    // Counted until it closes or becomes the source.
    let pending = true;
    const leave = () => {
      if (!pending) return;
      pending = false;
      this.#pending.give(key);
    };
    socket.once("close", leave);
    if (this.#active) {
      this.#refuse(socket, from, "busy", greetingLine({ state: "busy" }));
      return;
    }
    if (!this.key) {
      socket.write(greetingLine({ state: "open" }));
      leave();
      this.#accept(socket, from, null);
      return;
    }
    if (this.#handshakes.full) {
      const victim = this.#handshakes.victimFor(key, performance.now());
      if (victim) victim.crowdedOut();
      else {
        // The documented greeting, so a source tries again later (an unknown line read as "open" lost its media).
        this.#refuse(socket, from, "too many handshakes", greetingLine({ state: "busy" }));
        return;
      }
    }
    const handshake = {
      key,
      since: performance.now(),
      crowdedOut: () => {
        if (settle()) this.#refuse(socket, from, "handshake crowded out by a newer connection", "refused busy\n");
      },
    };
    this.#handshakes.add(handshake);
    const nonce = newNonce();
    socket.write(greetingLine({ state: "key", nonce }));
    let reply = Buffer.alloc(0);
    let settled = false;
    const settle = () => {
      if (settled) return false;
      settled = true;
      this.#handshakes.delete(handshake);
      clearTimeout(timer);
      socket.off("data", onData);
      return true;
    };
    const timer = setTimeout(() => {
      if (settle()) this.#refuse(socket, from, "no key within the handshake time", "refused handshake timed out\n");
    }, HANDSHAKE_MS);
    const onData = (chunk: Buffer) => {
      reply = Buffer.concat([reply, chunk]);
      if (reply.length < LIVE_MAC_BYTES || !settle()) return;
      if (!verifyLiveMac(this.key!, nonce, reply.subarray(0, LIVE_MAC_BYTES))) {
        this.#refuse(socket, from, "key not proven", "refused key not accepted\n");
        return;
      }
      if (this.#active) {
        this.#refuse(socket, from, "busy", "refused busy\n");
        return;
      }
      socket.write(LIVE_OK);
      leave();
      this.#accept(socket, from, reply.subarray(LIVE_MAC_BYTES));
    };
    socket.on("data", onData);
    socket.once("close", () => settle());
  }

  #began(): void {
    this.#head.began(this.ring.written);
    for (const told of this.sourceBegan) told(this.ring.written);
  }

  #refuse(socket: Socket, from: string, why: string, line: string): void {
    this.refused++;
    this.#refusals.refused(why, from);
    // Read nothing more while the line goes out: a refused peer that floods on would otherwise be
    // read (and thrown away) at the wire's rate for that second, a gigabyte on loopback.
    socket.pause();
    socket.end(line);
    setTimeout(() => socket.destroy(), 1_000).unref();
  }

  #accept(socket: Socket, from: string, first: Uint8Array | null): void {
    this.#active = socket;
    this.#activeAddress = from;
    this.log.info(`live "${this.name}": source connected`, { from });
    this.#began();
    if (this.#held) socket.pause(); // the last source's debt is the channel's: the new one waits it out
    if (first && first.length > 0) this.#arrived(first);
    socket.setTimeout(SOURCE_TIMEOUT_MS);
    // on, not setTimeout's callback (a once): a timeout during a hold is passed over, and later ones still count.
    socket.on("timeout", () => {
      if (this.#held) return;
      this.log.warn(`live "${this.name}": source sent nothing for ${SOURCE_TIMEOUT_MS / 1000} s; dropping it`, { from });
      socket.destroy();
    });
    socket.on("data", (chunk: Buffer) => this.#arrived(chunk));
    socket.once("close", (hadError) => {
      if (this.#active !== socket) return;
      this.#active = null;
      this.#activeAddress = null;
      this.drops++;
      // While the listener is closed for want of descriptors (descriptor_watch.ts) it listens only once they free.
      const next = this.#server ? "listening again" : "listening again once the server has descriptors free";
      if (!this.#closed) this.log.warn(`live "${this.name}": source dropped (${hadError ? "connection reset" : "closed"}); ${next}`, { from });
    });
  }

  async #openInput(): Promise<void> {
    const spec = this.config.input!;
    let input: StreamSource;
    try {
      input = await openLiveInput(spec);
    } catch (error) {
      if (error instanceof TemporaryError || error instanceof PacerError) throw error;
      throw new PacerError(`live "${this.name}": ${(error as Error).message}`);
    }
    this.#input = input;
    this.#inputSent = false;
    this.#began();
    const scratch = Buffer.alloc(PUMP_BYTES);
    const pump = () => {
      for (;;) {
        if (this.#held) return; // #release pumps again
        let n: number;
        try {
          n = input.read(scratch, 0, PUMP_BYTES);
        } catch (error) {
          this.log.warn(`live "${this.name}": ${(error as Error).message}`);
          n = -1;
        }
        if (n > 0) {
          if (!this.#inputSent) this.#inputBack(spec);
          this.#arrived(scratch.subarray(0, n));
          continue;
        }
        if (n < 0) this.#inputEnded(input);
        return;
      }
    };
    input.onReadable = pump;
    this.#pump = pump;
    pump();
  }

  #inputEnded(input: StreamSource): void {
    if (this.#input !== input || this.#closed) return;
    input.close();
    this.#input = null;
    this.#pump = null;
    this.drops++;
    const how = input.endNote ? ` (${input.endNote})` : "";
    // One that ends before a byte (a peer that takes the connection and closes it) is a failed try.
    if (this.#inputSent) this.log.warn(`live "${this.name}": input ${this.config.input} ended${how}; opening it again`);
    else this.#failedTry(`live "${this.name}": input ${this.config.input} ended${how} before sending anything`);
    this.#reopenLater();
  }

  /** The input sent its first byte since it was opened: tries that failed before it are said to be over. */
  #inputBack(spec: string): void {
    this.#inputSent = true;
    if (this.#reopenFailures === 0) return;
    this.log.info(`live "${this.name}": input ${spec} is back after ${this.#reopenFailures} failed tr${this.#reopenFailures === 1 ? "y" : "ies"}`);
    this.#reopenFailures = 0;
  }

  /** A try to open the input failed: said the first time, then once every REOPEN_FAILURES_PER_LINE. */
  #failedTry(message: string): void {
    const failures = ++this.#reopenFailures;
    if (failures === 1) this.log.warn(`${message}; trying again every ${REOPEN_MS / 1000} s, said again every ${REOPEN_FAILURES_PER_LINE} tries`);
    else if (failures % REOPEN_FAILURES_PER_LINE === 0) this.log.warn(`${message}; still trying (${failures} tries)`);
  }

  #reopenLater(): void {
    if (this.#closed) return;
    this.#reopenTimer = setTimeout(() => {
      this.#openInput().catch((error) => {
        this.#failedTry((error as Error).message);
        this.#reopenLater();
      });
    }, REOPEN_MS);
  }
}
