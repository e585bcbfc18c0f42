/**
 * `pacer play INPUT... --to OUTPUT...`: plays the inputs back to back in
 * real time to every output, then exits 0 — or 1 when an output failed or
 * lost part of the stream (the job logs one line for each), and 130, 143 or
 * 129 (128 + the signal's number, as shells report it) when SIGINT, SIGTERM
 * or SIGHUP stopped it, after the outputs were closed.
 */
import { parseArgs } from "node:util";
import type { Logger } from "../foundation/log.ts";
import { EXIT_FAILURE, exitCodeAfter, EXIT_OK, EXIT_TEMPFAIL, PacerError, TemporaryError, UsageError } from "../foundation/errors.ts";
import { Job } from "../pipeline/job.ts";
import type { Destination } from "../pipeline/destination.ts";
import { watchStuckOutputs } from "../pipeline/stuck_outputs.ts";
import type { ReaderGate } from "../pipeline/gated_reader.ts";
import { parseSampleFormat, formatToString, sameFormat, type SampleFormat } from "../protocol/sample_format.ts";
import { Scheduler } from "../scheduler/scheduler.ts";
import { isLiveSpec, openInput, type OpenedInput } from "../sources/open_input.ts";
import { refuseOutputsOverInputs, refuseSdpOverOutputs } from "../sources/input_guard.ts";
import { inputUnit, sequenceSource } from "../sources/sequence_source.ts";
import { inputDamage, type LiveSource } from "../sources/live_input.ts";
import { writeSdpFile } from "./sdp_file.ts";
import { CONTAINER_NAMES, refuseInapplicableInputOptions } from "./input_options.ts";
import { progressLine } from "./progress.ts";
import { clockDurationUs } from "../sources/mpeg_file_timing.ts";
import { keysWanted, startTerminalKeys } from "./terminal_keys.ts";
import { onSuspend } from "./suspend.ts";
import { valuesMayBeNegative } from "./negative_values.ts";
import { backendFor, schemeOf } from "../backends/registry.ts";
import { parseBitrate, parseSeconds } from "../foundation/units.ts";
import { parseSenderThreads, setSenderThreads } from "../backends/net/senders/pool.ts";
import { onStopSignals } from "../foundation/ignored_signals.ts";

export const PLAY_HELP = `Usage: pacer play INPUT... --to OUTPUT [--to OUTPUT ...] [options]

Plays the inputs one after another, with no gap, in real time, to every
output. Each output has its own send events. Exits 0 at the end; 1 if an
output failed or lost part of the stream; 130/143/129 if SIGINT/SIGTERM/SIGHUP
stopped it.
On a terminal (and no input is -): space pauses and resumes, n skips to the
next input, q stops (exit 0).

Inputs:  a .wav, .ts/.m2ts or .mpg/.mpeg file, raw PCM with --format,
         other data with --bitrate, - for stdin, or a network input:
         udp://@[GROUP]:PORT  rtp://@[GROUP]:PORT  tcp://:PORT  tcp://HOST:PORT
         (re-paced by its PCRs or sample clock after --latency)
Outputs: rtp://HOST:PORT[?pkt=&ptime=&pt=&format=&ttl=&iface=&source=&ahead=
                        &rtcp=&sap=&sap-interval=&compat=disorder]
         udp://HOST:PORT[?pkt=&ttl=&iface=&source=]
         alsa:DEVICE[?wait=&buffer=&period=]   cmd:SHELL COMMAND   file:PATH

Options:
  --to OUTPUT        an output (repeat for more)
  --format FMT       raw PCM input format, ENCODING:RATE:CHANNELS (s16le:44100:2)
  --bitrate R        pace at a constant rate: 1500000, 1500k, 1.5M (bits/s)
  --out-format FMT   the format for cmd:, file: and alsa: outputs
  --loop             start again at the end, forever
  --start SECONDS    start this far into the input
  --sdp FILE         write the SDP for the rtp:// outputs before the first packet
  --device-wait S    how long a busy sound device may keep play waiting (default 10)
  --latency MS       a network input's buffer before pacing, and again after a
                     stall longer than it (default 200)
  --senders N        threads that put udp:// and rtp:// datagrams on the wire:
                     0 (default) the main thread, or N, or auto (cores minus one)
`;

/** Options that take a number; see valuesMayBeNegative. */
const NUMBER_OPTIONS = new Set(["--start", "--bitrate", "--device-wait", "--latency", "--senders"]);

export async function runPlay(argv: string[], mainLog: Logger): Promise<number> {
  // Every line of the play goes above the progress line, not onto its end.
  const progress = progressLine();
  const log = mainLog.to(progress.logLine);
  const { values, positionals } = parseArgs({
    args: valuesMayBeNegative(argv, NUMBER_OPTIONS),
    allowPositionals: true,
    options: {
      to: { type: "string", multiple: true },
      format: { type: "string" },
      bitrate: { type: "string" },
      "out-format": { type: "string" },
      loop: { type: "boolean" },
      start: { type: "string" },
      sdp: { type: "string" },
      "device-wait": { type: "string" },
      latency: { type: "string" },
      senders: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stdout.write(PLAY_HELP);
    return EXIT_OK;
  }
  if (positionals.length === 0) throw new UsageError("play: no input given (see pacer play --help)");
  const outputs = values.to ?? [];
  if (outputs.length === 0) throw new UsageError("play: no output given: add --to OUTPUT (see pacer play --help)");
  const format = values.format !== undefined ? parseSampleFormat(values.format) : undefined;
  const outFormat = values["out-format"] !== undefined ? parseSampleFormat(values["out-format"]) : undefined;
  const bitrate = values.bitrate !== undefined ? parseBitrate(values.bitrate, "--bitrate") : undefined;
  const startSeconds = values.start !== undefined ? parseSeconds(values.start, "--start") : undefined;
  const deviceWaitS = values["device-wait"] !== undefined ? parseSeconds(values["device-wait"], "--device-wait") : undefined;
  const latencyMs = values.latency !== undefined ? parseLatencyMs(values.latency) : undefined;
  if (values.senders !== undefined) setSenderThreads(parseSenderThreads(values.senders, "--senders"));
  // Before anything is opened for writing: an output over an input would truncate what it plays.
  refuseOutputsOverInputs(positionals, outputs, values.sdp);
  if (values.sdp === "") throw new UsageError("--sdp needs a file name");
  if (values.sdp && !outputs.some((o) => schemeOf(o) === "rtp")) throw new UsageError(`--sdp ${values.sdp}: no rtp:// output to describe`);
  if (values.sdp) refuseSdpOverOutputs(outputs, values.sdp);
  if (outFormat) refuseOutFormatWithoutItsOutputs(outputs);
  // Stdin is one stream: named twice, the second would wait forever on what the first has read.
  if (positionals.filter((p) => p === "-").length > 1) throw new UsageError("play: stdin (-) can be given only once");
  if (latencyMs !== undefined && !positionals.some(isLiveSpec)) {
    throw new UsageError("--latency is for network inputs (udp://@, rtp://@, tcp://): files and stdin play as they are read");
  }

  const inputs: OpenedInput[] = [];
  try {
    for (const [i, spec] of positionals.entries()) {
      const opened = await openInput(spec, { format, bitrate, latencyMs, startSeconds: i === 0 ? startSeconds : undefined }).catch((error: Error) => {
        // Every input is opened and checked before the first plays: a long list meets the limit.
        if (!error.message.endsWith(": too many open files")) throw error;
        throw new PacerError(`${error.message}: play opens all ${positionals.length} inputs before the first plays; raise the limit (ulimit -n) or play them in shorter lists`);
      });
      inputs.push(opened);
    }
    checkCompatible(inputs);
    checkOptionsApply(inputs, { loop: values.loop ?? false, bitrate, format, outFormat });
  } catch (error) {
    for (const input of inputs) input.source.close();
    throw error;
  }
  const first = inputs[0]!;
  const scheduler = new Scheduler();
  // Space on a terminal closes it: no destination sends until it opens (see gated_reader.ts).
  const gate: ReaderGate | undefined = keysWanted(positionals) ? { closed: false } : undefined;
  const durationUs = sumKnown(inputs.map((i) => i.info.durationUs));
  const job = await Job.create({
    input: { ...first.info, label: inputs.map((i) => i.info.label).join(" + "), durationUs },
    source: sequenceSource(
      inputs.map((i) => i.source),
      {
        units: inputs.map((i) => inputUnit(i.info, i.unitPhase)),
        onCompleted: (label, filled, unit) =>
          log.warn(`${label} ended ${bytes(unit.bytes - filled)} into a ${unit.bytes}-byte ${unit.name}; ${bytes(filled)} of ${unit.filler} complete it, so the next input plays aligned`),
      },
    ),
    byteClock: first.byteClock,
    outputs,
    scheduler,
    log,
    loop: values.loop ?? false,
    startOffset: first.startOffset,
    outFormat,
    deviceWaitS,
    gate,
  });
  // The first SIGINT or SIGTERM closes the outputs cleanly (a command gets EOF, a file is synced);
  // a second one finds no handler and ends pacer at once. Set before --sdp, whose FIFO may wait
  // long for its reader: a signal then ends the wait and discards the job, as a failed write does.
  let interruptedBy: NodeJS.Signals | null = null;
  const sdpWait = new AbortController();
  let sdpWritten = false;
  const stopOnSignal = (signal: NodeJS.Signals) => {
    interruptedBy ??= signal;
    if (sdpWritten) void job.stop();
    else sdpWait.abort();
  };
  const offSignals = onStopSignals(stopOnSignal, { once: true });
  if (values.sdp) {
    const media = job.destinations.flatMap((d) => (d.backend.sdp ? [d.backend.sdp()] : []));
    const waiting = () => log.info(`--sdp ${values.sdp}: waiting for a reader to open the FIFO`);
    try {
      await writeSdpFile(values.sdp, media, { onWait: waiting, abandon: sdpWait.signal });
    } catch (error) {
      offSignals();
      await job.discard();
      throw error;
    }
  }
  if (interruptedBy) {
    offSignals();
    await job.discard();
    return exitCodeAfter(interruptedBy);
  }
  sdpWritten = true;
  const keys =
    gate &&
    startTerminalKeys({
      pause() {
        job.pause(!gate.closed);
        return gate.closed;
      },
      next: () => job.nextInput(),
      quit: () => void job.stop(),
      interrupt: () => stopOnSignal("SIGINT"),
    });
  // The total along each MPEG file's clock, as probe gives it, not its head's rate (a read of its tail).
  progress.start(job, scheduler, values.loop ? undefined : async () => sumKnown(await Promise.all(inputs.map((i) => clockDurationUs(i, i.info.label)))));
  job.start();
  const stuck = watchStuckOutputs(job, scheduler, () => gate?.closed ?? false);
  const offSuspend = onSuspend(() => scheduler.now(), (us) => job.suspended(us));
  const result = await job.done;
  offSuspend();
  stuck.stop();
  keys?.stop();
  progress.stop();
  offSignals();
  reportCounters(job, log);
  reportInputDamage(inputs, log);
  // A script tells an interrupted play from a complete one by its status, as a shell reports a killed one.
  if (interruptedBy) return exitCodeAfter(interruptedBy);
  if (result.inputError) return EXIT_FAILURE;
  if (result.failures.length > 0) {
    const temporary = result.failures.find((f) => f.error instanceof TemporaryError);
    if (temporary && result.failures.length === job.destinations.length) return EXIT_TEMPFAIL;
    return EXIT_FAILURE;
  }
  if (result.losses.length > 0) return EXIT_FAILURE;
  return EXIT_OK;
}

/**
 * What a network input lost before pacer could play it, and how it ended where that is worth
 * saying (a TCP reset), once at the end (a gateway run from cron is read in its mail).
 */
function reportInputDamage(inputs: readonly OpenedInput[], log: Logger): void {
  for (const input of inputs) {
    const stream = input.stream;
    if (stream?.endNote) log.warn(`${stream.label}: ${stream.endNote}`);
    // A WAV stream whose header gave its length, and that ended short of it (sources/first_bytes.ts).
    // (A source that wraps the stream may pass the stream's own note on: said once.)
    const note = input.source !== stream ? input.source.endNote : null;
    if (note && note !== stream?.endNote) log.warn(`${input.info.label}: ${note}`);
    if (!stream || !("live" in stream)) continue;
    const damage = inputDamage((stream as LiveSource).stats);
    if (damage) log.warn(`${stream.label}: the input lost on the way in: ${damage}`);
  }
}

/**
 * Options that cannot apply to these inputs are refused rather than ignored: --loop on a stream
 * (it cannot be read again), --out-format on data sent as it is, and --format and --bitrate
 * as probe refuses them (input_options.ts). (--start past the end
 * is refused where the file is opened: sources/open_input.ts.)
 */
function checkOptionsApply(
  inputs: OpenedInput[],
  options: { loop: boolean; bitrate: number | undefined; format: SampleFormat | undefined; outFormat: SampleFormat | undefined },
): void {
  const stream = inputs.find((i) => i.stream !== undefined);
  if (options.loop && stream) {
    throw new UsageError(`--loop needs file inputs: ${stream.info.label} cannot be read again`);
  }
  refuseInapplicableInputOptions(inputs, options);
  const data = inputs.find((i) => i.info.kind !== "pcm");
  // Its outputs would pass the stream on as it is: the option would do nothing, silently.
  if (options.outFormat && data) {
    throw new UsageError(`--out-format is for PCM input: ${data.info.label} is ${CONTAINER_NAMES[data.container] ?? data.container}, sent as it is`);
  }
}

/** The outputs --out-format converts for; rtp:// has its own format=, udp:// sends the stream as it is. */
const OUT_FORMAT_SCHEMES = new Set(["cmd", "file", "alsa"]);

/** Given for udp:// and rtp:// outputs alone, --out-format would do nothing, silently. */
function refuseOutFormatWithoutItsOutputs(outputs: string[]): void {
  // backendFor first: an unknown scheme is named as such, not taken for a network output.
  if (outputs.some((o) => OUT_FORMAT_SCHEMES.has(backendFor(o).scheme))) return;
  throw new UsageError(
    "--out-format is for cmd:, file: and alsa: outputs, and none is given: an rtp:// output converts with its format= option (rtp://HOST:PORT?format=s16be:48000:2); udp:// sends the input as it is",
  );
}

/** Whole milliseconds, 0 (no buffer) up to a minute: the buffer is held in memory. */
function parseLatencyMs(text: string): number {
  const ms = Number(text);
  if (!/^\d+$/.test(text) || ms > 60_000) throw new UsageError(`--latency ${text}: give whole milliseconds from 0 to 60000`);
  return ms;
}

const bytes = (n: number) => `${n} byte${n === 1 ? "" : "s"}`;

function sumKnown(values: (number | undefined)[]): number | undefined {
  return values.every((v) => v !== undefined) ? values.reduce((a, b) => a! + b!, 0) : undefined;
}

/** Inputs played back to back must be one kind of stream, and PCM of one format. */
function checkCompatible(inputs: OpenedInput[]): void {
  const first = inputs[0]!.info;
  for (const input of inputs.slice(1)) {
    const info = input.info;
    if (info.kind !== first.kind) {
      throw new PacerError(`${info.label} is ${info.kind} but ${first.label} is ${first.kind}: play one kind of input per run`);
    }
    if (first.format && info.format && !sameFormat(first.format, info.format)) {
      throw new PacerError(
        `${info.label} is ${formatToString(info.format)} but ${first.label} is ${formatToString(first.format)}: inputs played back to back must share a format`,
      );
    }
  }
}

/** Behind real time by this much in all, an output is said to have been: past a loaded host's hiccups. */
const SAY_BEHIND_US = 1_000_000;

/** More outputs behind than this are said in one line: a host that could not keep up with 20,000 said 20,000. */
const SAY_BEHIND_EACH = 3;

function reportCounters(job: Job, log: Logger): void {
  // Nothing was lost, but the stream came late: a conversion too heavy for this host (it played
  // 2 s of f32le:768000:64 in 16 s, saying nothing), a busy CPU, or an output that took it slowly.
  const behind = job.destinations.filter((d) => d.pace.reanchoredUs >= SAY_BEHIND_US);
  const seconds = (d: Destination) => (d.pace.reanchoredUs / 1e6).toFixed(1);
  const why = "(this host could not keep up, or the output took the stream more slowly)";
  if (behind.length > SAY_BEHIND_EACH) {
    const sorted = behind.map(seconds).sort((a, b) => Number(a) - Number(b));
    const span = sorted[0] === sorted.at(-1) ? sorted[0] : `${sorted[0]} to ${sorted.at(-1)}`;
    log.warn(`${behind.length} outputs (${behind[0]!.label} and ${behind.length - 1} more) ran ${span} s behind real time ${why}`);
  } else {
    for (const d of behind) log.warn(`${d.label}: ran ${seconds(d)} s behind real time ${why}`);
  }
  for (const d of job.destinations) {
    const { units, bytes, errors } = d.backend.counters;
    const errorText = Object.entries(errors).map(([k, v]) => `${k}=${v}`).join(" ");
    log.debug("destination finished", {
      dest: d.label,
      units,
      bytes,
      lost_ms: Math.round(d.lostUs() / 1000),
      reanchors: d.pace.reanchors,
      behind_ms: Math.round(d.pace.reanchoredUs / 1000),
      gaps: d.gaps,
      errors: errorText || undefined,
    });
  }
}
