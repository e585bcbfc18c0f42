/**
 * `pacer acquire INPUT --to tcp://HOST:PORT[?key=FILE]`: pushes a live stream to a `[[live]]`
 * channel of `pacer serve` (the acquisition server of the original design). A file is sent at its
 * own pace (PCR, SCR, sample clock, or `--bitrate`); stdin, a FIFO or a network input as it comes.
 * A drop is reconnected with back-off while the input goes on into a bounded buffer
 * (client/live_sender.ts). At the end of a file or of stdin everything held is delivered, then a
 * summary line, exit 0.
 */
import { parseArgs } from "node:util";
import { EXIT_FAILURE, EXIT_OK, exitCodeAfter, PacerError, UsageError } from "../foundation/errors.ts";
import type { Logger } from "../foundation/log.ts";
import { parseHostPort, resolveHost } from "../foundation/net/address.ts";
import { byteSizeOf, parseBitrate } from "../foundation/units.ts";
import type { ByteClock } from "../protocol/mpeg_timing.ts";
import { bytesPerFrame, type Encoding, parseSampleFormat, type SampleFormat } from "../protocol/sample_format.ts";
import { isRiffHead, STREAMING_SIZE, wavHeader } from "../protocol/wav.ts";
import { PT_L16_MONO, PT_L16_STEREO } from "../protocol/rtp.ts";
import { convertIntegerSamples } from "../convert/samples.ts";
import type { CaptureSource } from "../sources/capture.ts";
import type { RtpSource } from "../sources/rtp_input.ts";
import { US_PER_S } from "../scheduler/clock.ts";
import { isLiveSpec, openInput, openLiveInput } from "../sources/open_input.ts";
import { inputDamage, type LiveSource } from "../sources/live_input.ts";
import { valuesMayBeNegative } from "./negative_values.ts";
import { SOURCE_END, type Source } from "../sources/source.ts";
import { stdinReadable, streamSource } from "../sources/stream_source.ts";
import { readWavHeaderOff } from "../sources/wav_stream_header.ts";
import { nothingArrived } from "../sources/something_arrives.ts";
import { readKey } from "../server/config.ts";
import { LiveKeyError, LiveSender } from "../client/live_sender.ts";
import { statSync } from "node:fs";
import { onStopSignals } from "../foundation/ignored_signals.ts";

export const ACQUIRE_HELP = `Usage: pacer acquire INPUT --to tcp://HOST:PORT[?key=FILE] [options]

Pushes a live stream to a [[live]] channel of pacer serve. A file is sent at
its own pace (PCR, SCR, the sample clock, or --bitrate); stdin (-), a FIFO
or a network input (udp://@..., rtp://@..., tcp://...) is sent as it comes.
After a drop it reconnects with back-off, holding what comes meanwhile in a
buffer that drops its oldest data past --buffer (and says how much). At the
end of a file or of stdin it delivers everything it holds, prints a summary
and exits 0; 1 when the channel refuses the key or nothing arrived,
130/143/129 on SIGINT/SIGTERM/SIGHUP.

Options:
  --to URL         tcp://HOST:PORT, with ?key=FILE for a keyed channel (required)
  --buffer SIZE    most bytes held while disconnected (default 8MiB; 512KB, 64MiB)
  --bitrate RATE   pace a file at this constant rate (1.5M, 20000000)
  --format FMT     a raw PCM file's format, or what alsa: captures in (s16le:48000:2)
  --progress       a status line (the default on a terminal)
`;

const DEFAULT_BUFFER_BYTES = 8 << 20;
const MIN_BUFFER_BYTES = 64 << 10;
/** A file is read in chunks of whole TS packets (7 per datagram, 4 datagrams). */
const FILE_CHUNK_BYTES = 4 * 7 * 188;
/** How often a file's due bytes are handed over, and how far ahead of their time. */
const PACE_TICK_MS = 5;
const PACE_LEAD_US = 20_000;
/** Network and stdin bytes are read in chunks this large. */
const STREAM_CHUNK_BYTES = 64 << 10;
const STATUS_MS = 1_000;

/** Options that take a number or a size; see valuesMayBeNegative. */
const NUMBER_OPTIONS = new Set(["--buffer", "--bitrate"]);

export async function runAcquire(argv: string[], log: Logger): Promise<number> {
  const { values, positionals } = parseArgs({
    args: valuesMayBeNegative(argv, NUMBER_OPTIONS),
    allowPositionals: true,
    options: {
      to: { type: "string" },
      buffer: { type: "string" },
      bitrate: { type: "string" },
      format: { type: "string" },
      progress: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stdout.write(ACQUIRE_HELP);
    return EXIT_OK;
  }
  if (positionals.length !== 1) throw new UsageError("acquire takes one input (see pacer acquire --help)");
  if (!values.to) throw new UsageError("acquire: --to tcp://HOST:PORT is required (see pacer acquire --help)");
  const spec = positionals[0]!;
  const target = parseTarget(values.to);
  const bufferBytes = values.buffer === undefined ? DEFAULT_BUFFER_BYTES : parseSize(values.buffer);
  const bitrate = values.bitrate === undefined ? undefined : parseBitrate(values.bitrate, "--bitrate");
  const format = values.format === undefined ? undefined : parseSampleFormat(values.format);
  const key = target.keyFile ? await readKey(target.keyFile).catch((e: Error) => Promise.reject(new PacerError(e.message))) : undefined;

  // An unresolvable host is an error before anything is sent (DESIGN.md), not a retry for ever.
  const { address } = await resolveHost(target.host);
  const sender = new LiveSender({ host: address, port: target.port, key, bufferBytes, log });
  const feed = await openFeed(spec, { bitrate, format });
  const started = performance.now();
  let readBytes = 0;
  let signal: NodeJS.Signals | null = null;
  const statusTimer = values.progress ?? process.stderr.isTTY ? setInterval(() => drawStatus(), STATUS_MS) : null;
  const drawStatus = () => {
    const c = sender.counters;
    process.stderr.write(`\r${((performance.now() - started) / 1000).toFixed(0)} s  read ${readBytes} B  sent ${c.sentBytes} B  held ${sender.heldBytes} B  dropped ${c.droppedBytes} B  ${sender.connected ? "connected" : "connecting"}\x1b[K`);
  };

  if (feed.head) sender.pin(feed.head);
  sender.start();
  // A read error ends the input as its end does: what was read before it is still delivered.
  let readError: Error | null = null;
  const ended = new Promise<void>((resolve) => {
    feed.run(
      (chunk) => {
        readBytes += chunk.length;
        sender.push(chunk);
      },
      (error) => {
        readError = error ?? null;
        resolve();
      },
    );
  });
  const interrupted = new Promise<void>((resolve) => {
    onStopSignals((name) => {
      signal ??= name;
      resolve();
    }, { once: true });
  });
  let code: number = EXIT_OK;
  try {
    // Nothing read is nothing to deliver: waiting to connect for it held `… | acquire -` for good.
    await Promise.race([ended.then(() => (readBytes > 0 ? sender.finish() : undefined)), interrupted, sender.fatal]);
  } catch (error) {
    if (!(error instanceof LiveKeyError)) throw error;
    log.error(error.message);
    code = EXIT_FAILURE;
  } finally {
    feed.close();
    sender.stop();
    if (statusTimer) {
      clearInterval(statusTimer);
      drawStatus();
      process.stderr.write("\n");
    }
  }
  const c = sender.counters;
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  if (c.droppedBytes > 0) log.warn(`${c.droppedBytes} bytes dropped while the server could not take them (--buffer ${bufferBytes})`);
  const damage = feed.damage?.() ?? null;
  if (damage) log.warn(`${spec}: the input lost on the way in: ${damage}`);
  const endNote = feed.endNote();
  if (readError && !signal) {
    if (endNote) log.warn(`${spec}: ${endNote}`);
    log.error((readError as Error).message);
    code = EXIT_FAILURE;
  } else if (readBytes === 0 && !signal && code === EXIT_OK) {
    // A producer that failed before its first byte (`ffmpeg … | pacer acquire -`): exit 0 and
    // "acquired 0 bytes" read as success in a cron mail, as play's and record's did not.
    log.error(nothingArrived(spec === "-" ? "stdin" : spec, endNote).message);
    code = EXIT_FAILURE;
  } else if (endNote) {
    log.warn(`${spec}: ${endNote}`);
  }
  log.info(`acquired ${readBytes} bytes in ${seconds} s: sent ${c.sentBytes}, connections ${c.connections}, drops ${c.drops}, dropped ${c.droppedBytes} bytes, held ${sender.heldBytes}`);
  if (signal) return exitCodeAfter(signal);
  return code;
}

interface Target {
  host: string;
  port: number;
  keyFile?: string;
}

function parseTarget(url: string): Target {
  const m = /^tcp:\/\/([^?]+)(?:\?(.*))?$/i.exec(url);
  const hostPort = m ? parseHostPort(m[1]!) : null;
  if (!m || !hostPort) throw new UsageError(`--to "${url}": expected tcp://HOST:PORT[?key=FILE]`);
  const params = new URLSearchParams(m[2] ?? "");
  for (const name of params.keys()) if (name !== "key") throw new UsageError(`--to "${url}": unknown option "${name}" (only key=FILE)`);
  const keyFile = params.get("key") ?? undefined;
  return { host: hostPort.host, port: hostPort.port, ...(keyFile && { keyFile }) };
}

function parseSize(text: string): number {
  const bytes = byteSizeOf(text, true);
  if (bytes === null) throw new UsageError(`--buffer "${text}": expected a size such as 8MiB, 512KB or 1000000`);
  if (bytes < MIN_BUFFER_BYTES) throw new UsageError(`--buffer "${text}": at least 64KiB`);
  return bytes;
}

/**
 * Where the bytes come from: `run` hands each chunk over (the chunk is the receiver's to keep) and
 * calls `end` once, with the read error that ended it if one did.
 */
interface Feed {
  /** Bytes that go before the stream and are never dropped (a WAV header), if any. */
  readonly head?: Uint8Array;
  run(deliver: (chunk: Uint8Array) => void, end: (error?: Error) => void): void;
  close(): void;
  /** A network input's losses on the way in (live_input.ts inputDamage), or null. */
  damage?(): string | null;
  /** How the input ended, where that is worth a warning (Source.endNote), or null. */
  endNote(): string | null;
}

async function openFeed(spec: string, options: { bitrate?: number; format?: SampleFormat }): Promise<Feed> {
  if (spec === "-") return stdinFeed(options.format);
  if (isLiveSpec(spec)) {
    const live = await openLiveInput(spec, { format: options.format });
    return asWav(streamFeed(live), await livePcmFormat(live, options.format));
  }
  let regular = false;
  try {
    regular = statSync(spec).isFile();
  } catch {
    // openInput says why in one line
  }
  const opened = await openInput(spec, options);
  if (!regular) return streamFeed(opened.source);
  const clock = opened.byteClock;
  const format = opened.info.format;
  const byteRate = format ? bytesPerFrame(format) * format.rate : 0;
  if (!clock && !byteRate) throw new PacerError(`${spec}: nothing to pace it by; give --bitrate`);
  return asWav(pacedFeed(opened.source, opened.startOffset, clock, byteRate), opened.info.kind === "pcm" ? format : undefined);
}

/**
 * Stdin: raw PCM by --format; a WAV (`arecord -t wav`) by its own header, read off, so that it goes
 * as acquire's PCM does (its header on every connection, never dropped; whole frames); anything
 * else as it comes. Before, a WAV went as it came: its header on the first connection only, and
 * the first bytes the buffer dropped, so after a drop the channel had bare samples.
 */
async function stdinFeed(format: SampleFormat | undefined): Promise<Feed> {
  const stdin = streamSource("stdin", stdinReadable());
  if (!format && isRiffHead(await stdin.peek(4))) format = (await readWavHeaderOff(stdin, "stdin")).format;
  return asWav(streamFeed(stdin), format);
}

/** A live input's PCM format, where it is PCM: a sound card's, --format's, or RTP L16's (known once a packet has come). */
async function livePcmFormat(live: Source, format: SampleFormat | undefined): Promise<SampleFormat | undefined> {
  if ("format" in live) return (live as CaptureSource).format;
  if (format || !("payloadType" in live)) return format;
  await (live as RtpSource).peek(1);
  const pt = (live as RtpSource).payloadType;
  return pt === PT_L16_STEREO || pt === PT_L16_MONO ? { encoding: "s16be", rate: 44_100, channels: pt === PT_L16_STEREO ? 2 : 1 } : undefined;
}

/** What WAV carries an encoding as (WAV's samples are little-endian, and its 8-bit ones unsigned). */
const WAV_ENCODING: Partial<Record<Encoding, Encoding>> = { s16be: "s16le", s24be: "s24le", s8: "u8" };

/**
 * PCM goes to the channel as a WAV stream of unknown length: a header (`head`, which the sender
 * never drops), then its samples in whole frames, in an encoding WAV has. The channel tells what
 * a stream is from its first bytes (as play does for stdin), and headerless PCM is only data to
 * it: paced by arrival, and refused by rtp:// outputs. Whole frames, so that a chunk the sender
 * drops (its buffer full while the server is away) leaves the rest in frame.
 */
function asWav(feed: Feed, format: SampleFormat | undefined): Feed {
  if (!format) return feed;
  const carried = WAV_ENCODING[format.encoding];
  const frame = bytesPerFrame(format);
  return {
    ...feed,
    head: wavHeader({ ...format, encoding: carried ?? format.encoding }, STREAMING_SIZE),
    run(deliver, end) {
      // Chunks need not end on a frame: the odd bytes wait for the next one.
      let carry: Uint8Array = new Uint8Array(0);
      feed.run((chunk) => {
        const bytes = carry.length === 0 ? chunk : Buffer.concat([carry, chunk]);
        const whole = bytes.length - (bytes.length % frame);
        carry = bytes.slice(whole);
        if (whole === 0) return;
        const frames = bytes.subarray(0, whole);
        // In place: each chunk is the feed's own, and these pairs keep a sample's width.
        if (carried) convertIntegerSamples(format.encoding, carried, frames, frames);
        deliver(frames);
      }, end);
    },
  };
}

/** A stream's bytes as they come. */
function streamFeed(source: Source): Feed {
  let closed = false;
  return {
    damage: () => ("live" in source ? inputDamage((source as LiveSource).stats) : null),
    endNote: () => source.endNote ?? null,
    run(deliver, end) {
      const drain = () => {
        for (;;) {
          if (closed) return;
          const chunk = Buffer.allocUnsafe(STREAM_CHUNK_BYTES);
          let n: number;
          try {
            n = source.read(chunk, 0, STREAM_CHUNK_BYTES);
          } catch (error) {
            return end(error as Error);
          }
          if (n > 0) {
            deliver(chunk.subarray(0, n));
            continue;
          }
          if (n === SOURCE_END) end();
          return;
        }
      };
      source.onReadable = drain;
      drain();
    },
    close() {
      closed = true;
      source.close();
    },
  };
}

/** A file's bytes handed over as they fall due by its clock (or sample rate), a little ahead. */
function pacedFeed(source: Source, startOffset: number, clock: ByteClock | undefined, byteRate: number): Feed {
  let timer: ReturnType<typeof setInterval> | null = null;
  return {
    endNote: () => null,
    run(deliver, end) {
      const started = performance.now();
      let offset = startOffset;
      let pending: Uint8Array | null = null;
      const dueUs = (at: number) => (clock ? clock.timeAt(at) : ((at - startOffset) / byteRate) * US_PER_S);
      let firstDue: number | null = null;
      const tick = () => {
        const elapsedUs = (performance.now() - started) * 1000;
        for (;;) {
          if (!pending) {
            const chunk = Buffer.allocUnsafe(FILE_CHUNK_BYTES);
            let n: number;
            let failure: Error | undefined;
            try {
              n = source.read(chunk, 0, FILE_CHUNK_BYTES);
            } catch (error) {
              n = SOURCE_END;
              failure = error as Error;
            }
            if (n === SOURCE_END || n === 0) {
              if (timer) clearInterval(timer);
              timer = null;
              end(failure);
              return;
            }
            pending = chunk.subarray(0, n);
            clock?.observe(pending, offset);
          }
          firstDue ??= dueUs(offset);
          if (dueUs(offset) - firstDue > elapsedUs + PACE_LEAD_US) return;
          deliver(pending);
          offset += pending.length;
          pending = null;
          clock?.forget(offset);
        }
      };
      timer = setInterval(tick, PACE_TICK_MS);
      tick();
    },
    close() {
      if (timer) clearInterval(timer);
      source.close();
    },
  };
}
