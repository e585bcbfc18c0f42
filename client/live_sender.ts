/**
 * The sending side of `pacer acquire`: holds what the input gave in a bounded buffer, and keeps a
 * TCP connection to a live channel (protocol/live_handshake.ts), reconnecting with back-off after
 * a drop. While it cannot send, the buffer fills; past its bound the oldest chunks are dropped and
 * counted. Chunks leave the buffer only once the connection has taken them. A pinned head (a WAV
 * header) opens every connection: to the channel each one is a new source, told by its first
 * bytes, and one after a drop that began with bare samples left the channel's PCM unknown to
 * whatever started on it later (a `.wav` recording failed, an `rtp://` job refused it as data).
 *
 * @example
 * ```ts
 * const sender = new LiveSender({ host: "127.0.0.1", port: 7071, key, bufferBytes: 8 << 20, log });
 * sender.start();
 * sender.push(chunk);
 * await sender.finish(); // everything held is delivered
 * ```
 */
import { connect, type Socket } from "node:net";
import type { Logger } from "../foundation/log.ts";
import { hostPortText } from "../foundation/net/address.ts";
import { LIVE_LINE_MAX, LIVE_OK, liveMac, parseGreeting } from "../protocol/live_handshake.ts";

/** Back-off after a failed or dropped connection: doubles from the first to the last. */
const BACKOFF_FIRST_MS = 250;
const BACKOFF_MAX_MS = 4_000;
/** A server that says nothing this long after the connection is taken as a plain TCP listener. */
const GREETING_WAIT_MS = 1_000;
/** The answer to a key proof must come within this. */
const ANSWER_WAIT_MS = 5_000;

export interface LiveSenderOptions {
  readonly host: string;
  readonly port: number;
  readonly key?: Uint8Array;
  readonly bufferBytes: number;
  readonly log: Logger;
}

export interface SenderCounters {
  sentBytes: number;
  droppedBytes: number;
  connections: number;
  drops: number;
}

/** The channel refused the key, or needs one this sender has not: retrying cannot help. */
export class LiveKeyError extends Error {
  override name = "LiveKeyError";
}

export class LiveSender {
  readonly counters: SenderCounters = { sentBytes: 0, droppedBytes: 0, connections: 0, drops: 0 };
  readonly #chunks: Uint8Array[] = [];
  /** What opens every connection, never dropped (pin). */
  #pinned: Uint8Array | null = null;
  /** The pinned head has yet to go on the connection now sending. */
  #pinDue = false;
  #head = 0;
  #held = 0;
  #socket: Socket | null = null;
  #sending = false;
  #backoffMs = BACKOFF_FIRST_MS;
  /** "Connection refused" was said once already. */
  #toldRefused = false;
  /** A close before any greeting was said once already. */
  #toldUngreeted = false;
  /** "Another source" was said since this sender last connected: a standby waits quietly. */
  #toldBusy = false;
  #retry: ReturnType<typeof setTimeout> | null = null;
  #stopped = false;
  #finished: (() => void) | null = null;
  #failed: ((error: Error) => void) | null = null;
  #fatal: Error | null = null;
  #rejectFatal!: (error: Error) => void;
  /** Rejects with a LiveKeyError when retrying cannot help; never resolves. */
  readonly fatal: Promise<never>;

  /** The channel's address as its messages say it: an IPv6 host in brackets, as --to takes it. */
  readonly #where: string;

  constructor(private readonly options: LiveSenderOptions) {
    this.#where = hostPortText(options.host, options.port);
    this.fatal = new Promise<never>((_, reject) => (this.#rejectFatal = reject));
    this.fatal.catch(() => {});
  }

  get heldBytes(): number {
    return this.#held;
  }

  get connected(): boolean {
    return this.#sending;
  }

  start(): void {
    this.#connect();
  }

  /**
   * Sends `head` first on every connection, and never drops it: a stream's header (a WAV's),
   * without which the channel cannot tell what the rest is. Dropped oldest first, it was the
   * first thing to go when the server stayed away long enough.
   */
  pin(head: Uint8Array): void {
    this.#pinned = head;
    this.#pinDue = true;
    this.#flush();
  }

  /** Queues `chunk` (kept as given: the caller hands over a chunk of its own). */
  push(chunk: Uint8Array): void {
    this.#chunks.push(chunk);
    this.#held += chunk.length;
    while (this.#held > this.options.bufferBytes && this.#head < this.#chunks.length - 1) {
      const oldest = this.#chunks[this.#head]!;
      this.#chunks[this.#head++] = EMPTY;
      this.#held -= oldest.length;
      this.counters.droppedBytes += oldest.length;
    }
    this.#compact();
    this.#flush();
  }

  /** Resolves once everything held has been handed to the connection and it is closed. */
  finish(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.#fatal) return reject(this.#fatal);
      this.#finished = resolve;
      this.#failed = reject;
      this.#flush();
    });
  }

  stop(): void {
    this.#stopped = true;
    if (this.#retry) clearTimeout(this.#retry);
    this.#socket?.destroy();
  }

  #compact(): void {
    if (this.#head > 1024 && this.#head * 2 > this.#chunks.length) {
      this.#chunks.splice(0, this.#head);
      this.#head = 0;
    }
  }

  #connect(): void {
    if (this.#stopped) return;
    const { host, port, log } = this.options;
    const socket = connect({ host, port, noDelay: true });
    this.#socket = socket;
    let greeted = false;
    let connected = false;
    socket.once("connect", () => (connected = true));
    let line = "";
    const begin = () => {
      greeted = true;
      clearTimeout(greetingTimer);
      socket.off("data", onGreeting);
      this.#sending = true;
      this.#backoffMs = BACKOFF_FIRST_MS;
      this.counters.connections++;
      this.#toldBusy = false; // busy again later is a new wait, said again
      this.#pinDue = this.#pinned !== null;
      log.info("connected", { to: this.#where });
      socket.on("data", () => {}); // the server says nothing more; keep the socket flowing
      this.#flush();
    };
    const greetingTimer = setTimeout(() => {
      if (!greeted) begin(); // a plain TCP listener (pacer record tcp://:PORT, nc)
    }, GREETING_WAIT_MS);
    const onGreeting = (chunk: Buffer) => {
      line += chunk.toString("latin1");
      const end = line.indexOf("\n");
      if (end < 0) {
        if (line.length > LIVE_LINE_MAX) begin();
        return;
      }
      clearTimeout(greetingTimer);
      const greeting = parseGreeting(line.slice(0, end));
      const after = line.slice(end + 1);
      // A line that is no greeting is a refusal ("refused WHY"), not a listener to send to.
      if (!greeting && line.startsWith("refused")) {
        greeted = true;
        socket.off("data", onGreeting);
        log.warn(`the channel refused the connection (${line.slice(0, end)}); trying again`, { to: this.#where });
        socket.destroy();
        return;
      }
      if (!greeting || greeting.state === "open") return begin();
      greeted = true;
      socket.off("data", onGreeting);
      if (greeting.state === "busy") {
        // Said once: a standby source retries every few seconds for as long as the other sends.
        if (!this.#toldBusy) log.warn("the channel has another source; trying again until it leaves", { to: this.#where });
        this.#toldBusy = true;
        socket.destroy();
        return;
      }
      if (!this.options.key) return this.#fail(socket, new LiveKeyError(`${this.#where}: the channel needs a key; add ?key=FILE to --to`));
      socket.write(liveMac(this.options.key, greeting.nonce));
      this.#awaitAnswer(socket, after, begin);
    };
    socket.on("data", onGreeting);
    // A reset is a drop, handled on close; nothing listening is said once, then retried quietly.
    socket.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code !== "ECONNREFUSED" || this.#toldRefused) return;
      this.#toldRefused = true;
      log.warn("nothing is listening there (connection refused); trying again", { to: this.#where });
    });
    socket.on("close", () => {
      clearTimeout(greetingTimer);
      // A port past its connection limit (a storm of other clients) closes at once, unheard: said
      // once, as nothing listening is, or the acquirer retried for minutes without a word.
      if (connected && !greeted && socket.bytesRead === 0 && !this.#toldUngreeted && !this.#stopped) {
        this.#toldUngreeted = true;
        log.warn("the channel closed the connection before its greeting (too many connections to it?); trying again", { to: this.#where });
      }
      const wasSending = this.#sending;
      this.#sending = false;
      if (this.#socket === socket) this.#socket = null;
      if (this.#stopped || this.#fatal) return;
      if (wasSending) {
        this.counters.drops++;
        if (this.#finished && this.#held === 0) return this.#done();
        log.warn("connection lost; reconnecting", { to: this.#where, held: this.#held });
      }
      this.#retry = setTimeout(() => this.#connect(), this.#backoffMs);
      this.#backoffMs = Math.min(BACKOFF_MAX_MS, this.#backoffMs * 2);
    });
  }

  #awaitAnswer(socket: Socket, already: string, begin: () => void): void {
    let answer = already;
    const timer = setTimeout(() => socket.destroy(), ANSWER_WAIT_MS);
    const check = () => {
      const end = answer.indexOf("\n");
      if (end < 0) return;
      clearTimeout(timer);
      socket.off("data", onAnswer);
      if (answer.slice(0, end + 1) === LIVE_OK) return begin();
      const why = answer.slice(0, end).replace(/^refused /, "");
      if (why.startsWith("key")) this.#fail(socket, new LiveKeyError(`${this.#where}: refused: ${why}`));
      else {
        this.options.log.warn(`refused: ${why}; trying again`);
        socket.destroy();
      }
    };
    const onAnswer = (chunk: Buffer) => {
      answer += chunk.toString("latin1");
      if (answer.length > LIVE_LINE_MAX) socket.destroy();
      else check();
    };
    socket.on("data", onAnswer);
    check();
  }

  #fail(socket: Socket, error: Error): void {
    this.#fatal = error;
    socket.destroy();
    this.#rejectFatal(error);
    this.#failed?.(error);
  }

  /**
   * Writes held chunks while the connection takes them; a full socket resumes on drain. Until
   * then the chunks stay held, so the buffer's bound (and what is dropped past it) still holds.
   */
  #flush(): void {
    const socket = this.#socket;
    // A full connection gets nothing more before its drain (one listener, added when it filled).
    if (!this.#sending || !socket || socket.writableNeedDrain) return;
    const pinned = this.#pinned;
    if (pinned !== null && this.#pinDue) {
      this.#pinDue = false;
      this.counters.sentBytes += pinned.length;
      if (!socket.write(pinned)) {
        socket.once("drain", () => this.#flush());
        return;
      }
    }
    while (this.#head < this.#chunks.length) {
      const chunk = this.#chunks[this.#head]!;
      this.#chunks[this.#head++] = EMPTY;
      this.#held -= chunk.length;
      this.counters.sentBytes += chunk.length;
      if (!socket.write(chunk)) {
        socket.once("drain", () => this.#flush());
        this.#compact();
        return;
      }
    }
    this.#chunks.length = 0;
    this.#head = 0;
    if (this.#finished) socket.end(() => this.#done());
  }

  #done(): void {
    const finished = this.#finished;
    this.#finished = null;
    this.#stopped = true;
    finished?.();
  }
}

const EMPTY = new Uint8Array(0);
