/**
 * `pacer recv --from SERVER --request NAME [--out FILE|-]`: the client side of the push protocol
 * (DESIGN.md, "pacer recv").
 *
 * 1. Binds a UDP socket on its own address — the one the kernel uses to reach the server, which
 *    is the address the server sees its requests come from (127.0.0.1 for a loopback server) —
 *    and asks for `play {source: NAME, to: ["rtp://MYIP:MYPORT"]}`, repeating it every
 *    REQUEST_EVERY_MS until packets arrive and a reply has come. Each repeat has a fresh id: the
 *    server counts a repeated play as interest in the same job, so repeats never start a second
 *    stream.
 * 2. Then sends `interest` every third of the interest timeout the play reply announced.
 * 3. Writes each packet's payload, RTP header stripped, to FILE or stdout, in sequence order: only
 *    packets from the server's address with the SSRC the play reply names (client/stream_filter.ts;
 *    the rest are counted, one warning line at the end). Packets before the reply wait for it
 *    (client/early_packets.ts). As `pacer record` does (sources/rtp_reorder.ts), packets are put
 *    back in order within a small window, duplicates dropped, and what was lost counted, one
 *    warning line at the end; before, they were written as they came, a duplicate twice and a
 *    swapped pair swapped, and a loss went unsaid. FILE is left as it was until the first payload
 *    (client/payload_sink.ts).
 * 4. End of stream: after SILENCE_MS without packets it asks `status {job}` (and again every
 *    STATUS_EVERY_MS while silent). "ended" or "stopped": exit 0; "failed": exit 1; "expired" or
 *    unknown to the server (restarted): it requests the stream again, from where it got to (the
 *    play's `offset`: the bytes written, and those lost on the way); it had asked from the start,
 *    and a file recorded over a link that failed for longer than the interest timeout held its
 *    start twice. Still "running": it waits.
 * 5. Ctrl-C or SIGTERM: sends `stop` for the job and exits 0.
 * 6. A write error (a full disk, /dev/full): sends `stop` for the job, says so in one line and
 *    exits 1. The reader of stdout going away (EPIPE, `recv | head`) is like Ctrl-C from the
 *    other end of the pipe: `stop`, and exit 0 without a word.
 *
 * With nothing from the server — no reply and no packet — for `--wait` seconds (default 30), it
 * gives up and exits 1.
 */
import { parseArgs } from "node:util";
import type { udp } from "bun";
import { rtpGetSsrc, rtpPayloadEnd, rtpPayloadOffset } from "../protocol/rtp.ts";
import { RtpReorder } from "../sources/rtp_reorder.ts";
import { type ControlReply, LIVE_PREFIX, type Op } from "../protocol/control.ts";
import { readKey } from "../server/config.ts";
import { bindFailure } from "../server/port_holder.ts";
import { ControlClient, newRequestId } from "../client/control_client.ts";
import { openSink, type SinkFailure, READER_BACKLOG_BYTES } from "../client/payload_sink.ts";
import { StreamFilter } from "../client/stream_filter.ts";
import { UsageError } from "../foundation/errors.ts";
import type { Logger } from "../foundation/log.ts";
import { openUdpSocket } from "../foundation/net/udp_socket.ts";
import { hostPortText, requireHostPort } from "../foundation/net/address.ts";
import { parseSeconds } from "../foundation/units.ts";
import { onStopSignals } from "../foundation/ignored_signals.ts";

export const RECV_HELP = `Usage: pacer recv --from SERVER --request NAME [--out FILE|-] [options]

Asks a pacer server for a stream to this host's own address, repeats the
request until packets arrive, keeps it alive with interest messages, and
writes the payload (RTP headers stripped) to FILE or stdout. Exits 0 when the
server reports the stream ended; Ctrl-C stops the stream and exits 0. A write
error (a full disk) stops the stream and exits 1; a reader that closes the
pipe (recv | head) stops it and exits 0 quietly. FILE is truncated, or
created, when the first packet arrives: a refused request leaves it as it was.
Only packets from the server's address, with the SSRC its reply to the request
names, are written. A stream the server let expire (an outage longer than its
interest_timeout) is asked for again from where recv got to, so FILE holds it
once; a live: channel goes on from now.

Options:
  --from HOST:PORT   the server's control address (required)
  --request NAME     the media name, relative to the server's media root (required)
  --out FILE|-       where the payload goes (default -, stdout)
  --key FILE         the shared key, when the server requires one
  --port PORT        receive on this UDP port (default: any free port)
  --wait SECONDS     give up after this long with no reply and no packet (default 30)
`;

/** How often the play request is repeated until packets arrive. */
const REQUEST_EVERY_MS = 500;
/** Silence after which the server is asked whether the stream is still running. */
const SILENCE_MS = 1_000;
const STATUS_EVERY_MS = 500;
/** Interest period when the server does not say its timeout: a third of the default 10 s. */
const DEFAULT_INTEREST_EVERY_MS = 3_333;
const TICK_MS = 50;
/** How long stopping waits for the server to acknowledge `stop`, or for the play reply that names the job. */
const STOP_TTL_MS = 1_000;
const DEFAULT_WAIT_S = 30;

/** How recv ends: its exit status, and why in a few words (logged at debug level when `quiet`). */
type Outcome = { code: number; why: string; quiet?: boolean };

export async function runRecv(argv: string[], log: Logger): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      from: { type: "string" },
      request: { type: "string" },
      out: { type: "string" },
      key: { type: "string" },
      port: { type: "string" },
      wait: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stdout.write(RECV_HELP);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`recv takes no positional arguments, got "${positionals[0]}"`);
  if (!values.from) throw new UsageError("recv: --from HOST:PORT is required (see pacer recv --help)");
  requireHostPort(values.from, "--from"); // the error names recv's option, not ctl's --server
  if (!values.request) throw new UsageError("recv: --request NAME is required (see pacer recv --help)");
  // Digits only: Number("") is 0, and --port "" took any port.
  const localPort = values.port === undefined ? 0 : /^\d+$/.test(values.port) ? Number(values.port) : NaN;
  if (!Number.isInteger(localPort) || localPort < 0 || localPort > 65_535) throw new UsageError(`--port "${values.port}": expected 0 to 65535`);
  const waitMs = parseSeconds(values.wait ?? String(DEFAULT_WAIT_S), "--wait") * 1000;
  // 0 gave up at once, after the play request had already started a job at the server.
  if (waitMs === 0) throw new UsageError(`--wait ${values.wait}: give a time above 0`);
  const key = values.key ? await readKey(values.key) : undefined;
  const name = values.request;

  const client = await ControlClient.open(values.from, key);
  const out = values.out ?? "-";
  const sink = openSink(out);
  const myIp = client.localAddress;
  let media: udp.Socket<"buffer"> | null = null;
  try {
    const filter = new StreamFilter(client.serverAddress, {
      onDatagram: (packet) => state.reorder.push(packet, performance.now()),
      onNoReply: (held) => log.warn(`${held} packets and no reply to the play request yet: taking the first one's SSRC as the stream's`),
    });
    const state = new ReceiverState(filter, (payload) => {
      state.onPacket(performance.now(), payload.length);
      sink.write(payload);
    });
    try {
      media = await openUdpSocket({
        hostname: myIp,
        port: localPort,
        onData(packet, port, address) {
          const start = rtpPayloadOffset(packet);
          const end = start < 0 ? -1 : rtpPayloadEnd(packet);
          // Not RTP (start -1) is malformed too: its "SSRC" would be garbage, and fix the stream's.
          if (start < 0 || end < start) {
            state.filter.notRtp(address, port); // counted in the refused line: a server sending raw UDP ended as "stream ended", 0 bytes, no word why
            return;
          }
          state.filter.arrive(address, port, rtpGetSsrc(packet), packet);
        },
        onError: (error) => log.warn(`receive socket: ${error.message}`),
      });
    } catch (error) {
      // A port in use may clear when its holder goes: exit 75, naming the port (and the holder).
      throw bindFailure("receive socket", "--port", "udp", { host: myIp, port: localPort }, error);
    }
    // No RTCP: recv opens no port for it, and the server's reports went to this port + 1, where
    // another program may listen (recv learns the end from `status`).
    const to = `rtp://${hostPortText(myIp, media.port)}?rtcp=off`;
    log.info("requesting", { source: name, from: client.server, to });
    const outcome = await receive(client, state, { name, to, waitMs, log, sinkFailure: sink.failure });
    state.reorder.flush(); // what it still holds goes out, in order
    if (sink.droppedBytes > 0) log.warn(`${sink.droppedBytes} bytes dropped: the reader of ${out === "-" ? "stdout" : out} fell behind, with ${READER_BACKLOG_BYTES >> 20} MiB waiting for it`);
    report(outcome, state, log);
    return outcome.code;
  } finally {
    media?.close();
    client.close();
    await sink.close();
  }
}

/** One line on how recv ended: an error, or the totals (at debug level when the end was quiet). */
function report(outcome: Outcome, state: ReceiverState, log: Logger): void {
  const refused = state.filter.refusedLine();
  if (refused) log.warn(refused);
  const gaps = state.gapsLine();
  if (gaps) log.warn(gaps);
  if (outcome.code !== 0) {
    log.error(outcome.why);
    return;
  }
  const totals = { bytes: state.bytes, packets: state.packets, job: state.job ?? undefined };
  if (outcome.quiet) log.debug(outcome.why, totals);
  else log.info(outcome.why, totals);
}

class ReceiverState {
  job: string | null = null;
  interestEveryMs = DEFAULT_INTEREST_EVERY_MS;
  packets = 0;
  bytes = 0;
  /** The largest payload seen: a lost packet is counted as one (only a stream's last is shorter). */
  largestPayload = 0;
  /** Last packet, or the play acknowledgement: silence is measured from the later. */
  lastSignMs = performance.now();
  /** Last packet or reply of any kind, for --wait. */
  lastHeardMs = performance.now();
  streaming = false;

  /** The stream's packets put back in order (one per stream requested: a new job numbers afresh). */
  reorder: RtpReorder;
  /** What earlier streams' reorders counted: lost, late and duplicate packets. */
  private readonly counted = { lost: 0, late: 0, duplicates: 0 };

  constructor(
    readonly filter: StreamFilter,
    private readonly deliver: (payload: Uint8Array) => void,
  ) {
    this.reorder = this.newReorder();
  }

  /** The stream is requested again: what the last one held goes out, and the new one is ordered afresh. */
  newStream(): void {
    this.reorder.flush();
    this.count(this.reorder);
    this.reorder = this.newReorder();
  }

  /** Bytes of the stream as sent up to the last one written, those lost on the way included: where it resumes. */
  position(): number {
    this.count(this.reorder);
    return this.bytes + this.counted.lost * this.largestPayload;
  }

  /** One line on what the stream lost or had twice, or null. */
  gapsLine(): string | null {
    this.count(this.reorder);
    const { lost, late, duplicates } = this.counted;
    if (lost + late + duplicates === 0) return null;
    const parts = [
      lost > 0 ? `${lost} packet${lost === 1 ? "" : "s"} lost on the way (the output has a hole there)` : "",
      duplicates > 0 ? `${duplicates} duplicate${duplicates === 1 ? "" : "s"} dropped` : "",
      late > 0 ? `${late} that came after their place had gone dropped` : "",
    ].filter((part) => part !== "");
    return `the stream had gaps: ${parts.join(", ")}`;
  }

  private count(reorder: RtpReorder): void {
    this.counted.lost += reorder.lost;
    this.counted.late += reorder.late;
    this.counted.duplicates += reorder.duplicates;
    reorder.lost = reorder.late = reorder.duplicates = 0;
  }

  private newReorder(): RtpReorder {
    return new RtpReorder({ deliver: this.deliver, onLoss: () => {} });
  }

  onPacket(now: number, payloadBytes: number): void {
    this.packets++;
    this.bytes += payloadBytes;
    if (payloadBytes > this.largestPayload) this.largestPayload = payloadBytes;
    this.lastSignMs = this.lastHeardMs = now;
    this.streaming = true;
  }
}

interface ReceiveOptions {
  name: string;
  to: string;
  waitMs: number;
  log: Logger;
  /** The output failed: stop the stream and end with that. */
  sinkFailure: Promise<SinkFailure>;
}

/** The request / interest / end-detection loop; resolves with the exit status and why. */
function receive(client: ControlClient, state: ReceiverState, o: ReceiveOptions): Promise<Outcome> {
  return new Promise((resolve) => {
    /** Ids of our requests in flight, and what each was. */
    const asked = new Map<string, Op>();
    let nextPlayMs = 0;
    /** Where a stream requested again resumes: the bytes of the stream as sent that recv has. */
    let offset = 0;
    let nextInterestMs = Infinity;
    let nextStatusMs = 0;
    let finished = false;
    /** Set when recv has decided to end: the outcome it ends with once the server is told to stop. */
    let stopping: { outcome: Outcome; sinceMs: number; sent: boolean } | null = null;

    const send = (op: Op, args: Record<string, unknown>) => {
      const id = newRequestId();
      asked.set(id, op);
      if (asked.size > 64) asked.delete(asked.keys().next().value!); // bounded: old ones are stale
      client.send(id, op, args);
    };
    const finish = (outcome: Outcome) => {
      if (finished) return;
      finished = true;
      clearInterval(ticker);
      offSignals();
      resolve(outcome);
    };
    const requestAgain = (why: string) => {
      const expired = state.job ?? undefined;
      state.job = null;
      state.streaming = false;
      state.filter.newStream();
      state.newStream();
      // A live channel has no place to go back to: it goes on from now (and takes no offset).
      if (!o.name.startsWith(LIVE_PREFIX)) offset = state.position();
      o.log.info(`${why}; requesting again`, { job: expired, offset: offset || undefined });
      // A late reply naming the old job (and its SSRC) must not be taken for the new one's.
      for (const [id, op] of asked) if (op === "play") asked.delete(id);
      nextPlayMs = 0;
      nextInterestMs = Infinity;
    };

    client.onReply = (reply: ControlReply) => {
      const op = reply.id === null ? undefined : asked.get(reply.id);
      if (op === undefined) return;
      asked.delete(reply.id!);
      const now = performance.now();
      state.lastHeardMs = now;
      if (op === "play") onPlayReply(reply, now);
      else if (stopping) return; // ending already: only a play reply, naming the job to stop, matters
      else if (op === "status") onStatusReply(reply);
      else if (op === "interest" && !reply.ok && reply.error.code === "not_found") nextStatusMs = 0;
    };

    const onPlayReply = (reply: ControlReply, now: number) => {
      if (!reply.ok) {
        if (stopping) return; // already ending, for a reason of its own
        finish({ code: 1, why: `the server refused the stream: ${reply.error.code}${reply.error.message ? `: ${reply.error.message}` : ""}` });
        return;
      }
      const result = (reply.result ?? {}) as { job?: unknown; interest_timeout?: unknown; ssrc?: unknown };
      // An ok reply that names no job is no pacer server's: ignored, its replies kept --wait from
      // ever running out, and recv asked for ever (a program answering ok to anything).
      if (typeof result.job !== "string") {
        if (!stopping) finish({ code: 1, why: `${client.server} accepted the play request but named no job: not a pacer server?` });
        return;
      }
      if (state.job !== result.job) {
        state.job = result.job;
        state.filter.expect(replySsrc(result.ssrc));
        state.lastSignMs = Math.max(state.lastSignMs, now);
        const timeoutS = result.interest_timeout;
        state.interestEveryMs = typeof timeoutS === "number" && timeoutS > 0 ? (timeoutS * 1000) / 3 : timeoutS === null ? Infinity : DEFAULT_INTEREST_EVERY_MS;
        nextInterestMs = now + state.interestEveryMs;
      }
    };

    const onStatusReply = (reply: ControlReply) => {
      if (!reply.ok) {
        if (reply.error.code === "not_found") requestAgain("the server no longer knows the job");
        return;
      }
      const job = (reply.result as { job?: { id?: string; state?: string } }).job;
      if (!job || job.id !== state.job) return;
      if (job.state === "ended") finish({ code: 0, why: "stream ended" });
      else if (job.state === "stopped") finish({ code: 0, why: "stream stopped at the server" });
      else if (job.state === "failed") finish({ code: 1, why: `the stream failed at the server (${job.id})` });
      else if (job.state === "expired") requestAgain("the server let the stream expire");
    };

    /** Ends recv with `outcome` after a `stop` for the job, so the server does not stream on to nobody. */
    const stopStream = (outcome: Outcome) => {
      if (finished || stopping) return;
      stopping = { outcome, sinceMs: performance.now(), sent: false };
      continueStopping(performance.now());
    };
    /**
     * Sends `stop` once the job is known. Packets flowing before the play reply mean a job
     * exists whose id is on its way: wait up to STOP_TTL_MS for it. No job, no packets: nothing to stop.
     */
    const continueStopping = (now: number) => {
      if (!stopping || stopping.sent) return;
      const { outcome } = stopping;
      const job = state.job;
      if (!job) {
        if ((state.packets === 0 && state.filter.held === 0) || now - stopping.sinceMs > STOP_TTL_MS) finish(outcome);
        return;
      }
      stopping.sent = true;
      client.request("stop", { job }, { ttlMs: STOP_TTL_MS }).then(
        () => finish(outcome),
        () => finish({ ...outcome, why: `${outcome.why}; the server did not confirm the stop` }),
      );
    };
    const onSignal = () => stopStream({ code: 0, why: state.job || state.packets > 0 ? "stopped" : "interrupted" });
    void o.sinkFailure.then((failure) => stopStream(failure.quiet ? { code: 0, why: failure.why, quiet: true } : { code: 1, why: failure.why }));
    const offSignals = onStopSignals(onSignal);

    const tick = () => {
      const now = performance.now();
      state.reorder.tick(now); // a hole waited for long enough is lost: what is behind it goes out
      if (stopping) {
        continueStopping(now);
        return;
      }
      if (now - state.lastHeardMs > o.waitMs) {
        finish({ code: 1, why: `nothing from ${client.server} for ${o.waitMs / 1000} s: no reply and no packets` });
        return;
      }
      // Packets without a reply (it was lost): the job's id, for interest, and its SSRC are still to come.
      if ((!state.streaming || state.job === null) && now >= nextPlayMs) {
        send("play", offset > 0 ? { source: o.name, to: [o.to], offset } : { source: o.name, to: [o.to] });
        nextPlayMs = now + REQUEST_EVERY_MS;
      }
      if (state.job && now >= nextInterestMs) {
        send("interest", { job: state.job });
        nextInterestMs = now + state.interestEveryMs;
      }
      if (state.job && now - state.lastSignMs > SILENCE_MS && now >= nextStatusMs) {
        send("status", { job: state.job });
        nextStatusMs = now + STATUS_EVERY_MS;
      }
    };
    const ticker = setInterval(tick, TICK_MS);
    tick();
  });
}

/** The SSRC the play reply names for recv's one destination; null when it names none (an older server). */
function replySsrc(ssrc: unknown): number | null {
  const first = Array.isArray(ssrc) ? ssrc[0] : undefined;
  return Number.isInteger(first) && first >= 0 && first <= 0xffff_ffff ? first : null;
}
