/**
 * `pacer play INPUT... --to OUTPUT...`: plays the inputs back to back in
 * real time to every output, then exits 0.
 */
import { parseArgs } from "node:util";
import type { Logger } from "../foundation/log.ts";
import { EXIT_FAILURE, EXIT_OK, EXIT_TEMPFAIL, PacerError, TemporaryError, UsageError } from "../foundation/errors.ts";
import { Job } from "../pipeline/job.ts";
import { parseSampleFormat, formatToString, sameFormat } from "../protocol/sample_format.ts";
import { Scheduler } from "../scheduler/scheduler.ts";
import { openInput, type OpenedInput } from "../sources/open_input.ts";
import { refuseOutputsOverInputs } from "../sources/input_guard.ts";
import { sequenceSource } from "../sources/sequence_source.ts";
import { writeSdpFile } from "./sdp_file.ts";
import { startProgress } from "./progress.ts";
import { parseBitrate, parseSeconds } from "../foundation/units.ts";

export const PLAY_HELP = `Usage: pacer play INPUT... --to OUTPUT [--to OUTPUT ...] [options]

Plays the inputs one after another, with no gap, in real time, to every
output. Each output has its own send events. Exits 0 at the end.

Inputs:  a .wav, .ts/.m2ts or .mpg/.mpeg file, raw PCM with --format,
         other data with --bitrate, or - for stdin.
Outputs: rtp://HOST:PORT[?pkt=&pt=&format=&ttl=&iface=&source=&ahead=]
         udp://HOST:PORT[?pkt=&ttl=&iface=&source=]
         alsa:DEVICE   cmd:SHELL COMMAND   file:PATH

Options:
  --to OUTPUT        an output (repeat for more)
  --format FMT       raw PCM input format, ENCODING:RATE:CHANNELS (s16le:44100:2)
  --bitrate R        pace at a constant rate: 1500000, 1500k, 1.5M (bits/s)
  --out-format FMT   the format for cmd:, file: and alsa: outputs
  --loop             start again at the end, forever
  --start SECONDS    start this far into the input
  --sdp FILE         write the SDP for the rtp:// outputs before the first packet
  --device-wait S    how long a busy sound device may keep play waiting (default 10)
`;

export async function runPlay(argv: string[], log: Logger): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
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
  const format = values.format ? parseSampleFormat(values.format) : undefined;
  const outFormat = values["out-format"] ? parseSampleFormat(values["out-format"]) : undefined;
  const bitrate = values.bitrate ? parseBitrate(values.bitrate, "--bitrate") : undefined;
  const startSeconds = values.start ? parseSeconds(values.start, "--start") : undefined;
  const deviceWaitS = values["device-wait"] ? parseSeconds(values["device-wait"], "--device-wait") : undefined;
  // Before anything is opened for writing: an output over an input would truncate what it plays.
  refuseOutputsOverInputs(positionals, outputs, values.sdp);

  const inputs: OpenedInput[] = [];
  try {
    for (const [i, spec] of positionals.entries()) {
      inputs.push(await openInput(spec, { format, bitrate, startSeconds: i === 0 ? startSeconds : undefined }));
    }
    checkCompatible(inputs);
  } catch (error) {
    for (const input of inputs) input.source.close();
    throw error;
  }
  const first = inputs[0]!;
  const scheduler = new Scheduler();
  const durationUs = sumKnown(inputs.map((i) => i.info.durationUs));
  const job = await Job.create({
    input: { ...first.info, label: inputs.map((i) => i.info.label).join(" + "), durationUs },
    source: sequenceSource(inputs.map((i) => i.source)),
    byteClock: first.byteClock,
    outputs,
    scheduler,
    log,
    loop: values.loop ?? false,
    startOffset: first.startOffset,
    outFormat,
    deviceWaitS,
  });
  if (values.sdp) {
    const media = job.destinations.flatMap((d) => (d.backend.sdp ? [d.backend.sdp()] : []));
    writeSdpFile(values.sdp, media);
  }
  const stopOnSignal = () => void job.stop();
  process.once("SIGINT", stopOnSignal);
  process.once("SIGTERM", stopOnSignal);
  const progress = startProgress(job, scheduler, values.loop ? undefined : durationUs);
  job.start();
  const result = await job.done;
  progress.stop();
  process.off("SIGINT", stopOnSignal);
  process.off("SIGTERM", stopOnSignal);
  reportCounters(job, log);
  if (result.inputError) return EXIT_FAILURE;
  if (result.failures.length > 0) {
    const temporary = result.failures.find((f) => f.error instanceof TemporaryError);
    if (temporary && result.failures.length === job.destinations.length) return EXIT_TEMPFAIL;
    return EXIT_FAILURE;
  }
  return EXIT_OK;
}

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

function reportCounters(job: Job, log: Logger): void {
  for (const d of job.destinations) {
    const { units, bytes, errors } = d.backend.counters;
    const errorText = Object.entries(errors).map(([k, v]) => `${k}=${v}`).join(" ");
    log.debug("destination finished", {
      dest: d.label,
      units,
      bytes,
      reanchors: d.pace.reanchors,
      gaps: d.gaps,
      errors: errorText || undefined,
    });
  }
}
