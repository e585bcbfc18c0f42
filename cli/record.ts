/**
 * `pacer record INPUT --out PATTERN`: records a stream to disk, for cron (DESIGN.md). The lock
 * on the output is taken before the input is opened, so a second recorder exits 75 at once.
 */
import { createReadStream, statSync } from "node:fs";
import { parseArgs } from "node:util";
import { EXIT_FAILURE, EXIT_OK, PacerError, UsageError } from "../foundation/errors.ts";
import { describeOpenError } from "../foundation/fs_error.ts";
import type { Logger } from "../foundation/log.ts";
import { parseSeconds } from "../foundation/units.ts";
import { parseSampleFormat, type SampleFormat } from "../protocol/sample_format.ts";
import { clockBoundaryAfter, DAY_MS } from "../recorder/clock_boundary.ts";
import { GapLog, refuseGapLogOnRecording } from "../recorder/gap_log.ts";
import { lockOutput, type OutputLock } from "../recorder/lock.ts";
import { checkPattern } from "../recorder/pattern.ts";
import { inputPcmFormat, parseKeep, parseRotate, recordKindOf } from "../recorder/record_options.ts";
import { describeDamage, Recorder, type RecordSummary } from "../recorder/recorder.ts";
import { describeDropped } from "../sources/live_input.ts";
import { isLiveSpec, networkInputEndpoint, openLiveInput, refuseUnknownScheme } from "../sources/open_input.ts";
import { valuesMayBeNegative } from "./negative_values.ts";
import type { Source } from "../sources/source.ts";
import { stdinReadable, streamSource } from "../sources/stream_source.ts";
import { onStopSignals } from "../foundation/ignored_signals.ts";

export const RECORD_HELP = `Usage: pacer record INPUT --out PATTERN [options]

Records a stream to disk as it comes, for cron. PATTERN takes strftime
fields, filled in at each file's start: rec/%Y%m%d-%H%M.ts. A .ts is written
in whole packets and cut only just before a PAT; a .wav is PCM with a header
kept valid at every sync (RF64 past 4 GiB); anything else as received.
Exits 0 at the end or on SIGINT/SIGTERM (files finished first), 1 if nothing
arrived or a write failed, 75 if another recorder holds the same output.

Inputs:  udp://@[GROUP]:PORT[?iface=ADDR&source=ADDR&rcvbuf=BYTES]
         rtp://@[GROUP]:PORT[?...]   - (stdin)   a path
         tcp://:PORT (listen)   tcp://HOST:PORT (connect)
         alsa:DEVICE (sound card capture, in --format; default s16le:48000:2)

Options:
  --out PATTERN      where to write (required); fields %Y %y %m %d %H %M %S %j %s %F %T
  --duration D       stop after D: 90, 1.5, 2m, 1h, 1:30:00 (01:30 is 90 s, M:SS)
  --until HH:MM      stop at the next such local time
  --rotate D|SIZE    a new file every D on the clock (15m, 1h), or at SIZE (500MB, 2GB)
  --stagger D        rotate this long after the clock's boundaries
  --keep N           delete the oldest files of the pattern beyond N
  --part             write NAME.part, renamed to NAME when complete
  --sync-every D     fdatasync this often (default 1)
  --wait D           exit 1 if nothing arrived within D (default: the whole duration)
  --format FMT       the PCM input's format, for .wav (a WAV input, or RTP L16 at 44.1 kHz, needs none);
                     for alsa: the format to capture in
  --gap-log FILE     append a line per gap: time, file, byte position, what was lost
  --progress         a live status line (the default on a terminal)
`;

/** Shorter rotation than this would make more files than a cron user wants. */

/** Options that take a number or a duration; see valuesMayBeNegative. */
const NUMBER_OPTIONS = new Set(["--duration", "--until", "--rotate", "--stagger", "--keep", "--sync-every", "--wait"]);

export async function runRecord(argv: string[], log: Logger): Promise<number> {
  const { values, positionals } = parseArgs({
    args: valuesMayBeNegative(argv, NUMBER_OPTIONS),
    allowPositionals: true,
    options: {
      out: { type: "string" },
      duration: { type: "string" },
      until: { type: "string" },
      rotate: { type: "string" },
      stagger: { type: "string" },
      keep: { type: "string" },
      part: { type: "boolean" },
      "sync-every": { type: "string" },
      wait: { type: "string" },
      format: { type: "string" },
      "gap-log": { type: "string" },
      progress: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stdout.write(RECORD_HELP);
    return EXIT_OK;
  }
  if (positionals.length !== 1) throw new UsageError(`record takes one input (see pacer record --help)`);
  const spec = positionals[0]!;
  const pattern = values.out;
  if (!pattern) throw new UsageError("record: --out PATTERN is required (see pacer record --help)");
  // `-` is stdout for recv --out and most tools: taken as a name, `record … --out - | ffplay -` wrote a file "-" and piped nothing.
  if (pattern === "-") {
    throw new UsageError('record: --out - would be a file named "-": record writes files (a lock, rotation, synced writes); for the stream on stdout, pacer play INPUT --to file:/dev/stdout (for that file name, --out ./-)');
  }
  checkPattern(pattern);
  const now = Date.now();
  const monotonicNow = performance.now();
  const durationMs = values.duration === undefined ? undefined : parseSeconds(values.duration, "--duration") * 1000;
  if (durationMs === 0) throw new UsageError(`--duration ${values.duration}: give a duration above 0 (or none, to record until stopped)`);
  const untilMs = values.until === undefined ? undefined : nextLocalTime(values.until, now);
  // --until is a time on the wall clock; --duration a length, timed on the monotonic one.
  const endAtMonotonicMs = durationMs === undefined ? undefined : monotonicNow + durationMs;
  // Given, --wait is a length (monotonic); else the wait ends where --until does (wall).
  const waitUntilMonotonicMs = values.wait === undefined ? undefined : monotonicNow + parseSeconds(values.wait, "--wait") * 1000;
  const rotate = values.rotate === undefined ? {} : parseRotate(values.rotate, "--rotate");
  const staggerMs = values.stagger === undefined ? 0 : parseSeconds(values.stagger, "--stagger") * 1000;
  const syncEveryMs = parseSeconds(values["sync-every"] ?? "1", "--sync-every") * 1000;
  if (!(syncEveryMs > 0)) throw new UsageError("--sync-every must be more than 0");
  const keep = values.keep === undefined ? undefined : parseKeep(values.keep, "--keep", pattern);
  const format = values.format !== undefined ? parseSampleFormat(values.format) : undefined;
  const kind = recordKindOf(pattern);

  // A malformed input is a usage error before anything is locked or created.
  if (isLiveSpec(spec) && !/^alsa:/i.test(spec)) networkInputEndpoint(spec);
  else if (spec !== "-") refuseUnknownScheme(spec);
  if (values["gap-log"] !== undefined) refuseGapLogOnRecording(values["gap-log"], pattern, values.part ?? false);
  const gapLog = values["gap-log"] === undefined ? undefined : new GapLog(values["gap-log"]);
  // Before the input: a second recorder must not so much as bind the port.
  let lock: OutputLock;
  try {
    lock = lockOutput(pattern);
  } catch (error) {
    gapLog?.close();
    throw error;
  }
  try {
    const source = await openRecordInput(spec, format);
    const recorder = new Recorder(source, {
      pattern,
      kind,
      pcmFormat: () => inputPcmFormat(source, format),
      endAtMs: untilMs,
      endAtMonotonicMs,
      waitUntilMs: waitUntilMonotonicMs === undefined ? untilMs : undefined,
      waitUntilMonotonicMs,
      ...rotate,
      staggerMs,
      syncEveryMs,
      keep,
      part: values.part ?? false,
      gapLog,
      log,
      progress: values.progress ?? process.stderr.isTTY === true,
    });
    const stop = () => recorder.stop();
    const offSignals = onStopSignals(stop);
    const summary = await recorder.done;
    offSignals();
    return report(summary, spec, log);
  } finally {
    lock.release();
    gapLog?.close();
  }
}

function report(summary: RecordSummary, spec: string, log: Logger): number {
  // Said before the outcome: a reset ends the input as a close does, and the summary follows.
  if (summary.endNote) log.warn(`${spec}: ${summary.endNote}`);
  if (summary.error) {
    log.error(summary.error);
    return EXIT_FAILURE;
  }
  if (summary.nothing) {
    // Datagrams that came and were all dropped are not "nothing": say why they were.
    const dropped = describeDropped(summary.dropped);
    log.error(dropped ? `nothing kept from ${spec}: ${dropped}` : `nothing arrived from ${spec}`);
    return EXIT_FAILURE;
  }
  const seconds = summary.seconds.toFixed(1);
  const line = `recorded ${summary.files.describe()}, ${summary.bytes} bytes, ${seconds} s, ${describeDamage(summary)}`;
  // A file that is not what its name says is something wrong: a warning, though it was recorded.
  if (summary.notTs) log.warn(line);
  else log.info(line);
  return EXIT_OK;
}

async function openRecordInput(spec: string, format: SampleFormat | undefined): Promise<Source> {
  if (isLiveSpec(spec)) return openLiveInput(spec, { format });
  if (spec === "-") return streamSource("stdin", stdinReadable());
  try {
    if (statSync(spec).isDirectory()) throw new PacerError(`${spec}: is a directory`);
  } catch (error) {
    if (error instanceof PacerError) throw error;
    throw new PacerError(describeOpenError(spec, error));
  }
  return streamSource(spec, createReadStream(spec));
}

/**
 * The next time after `now` the local clock reads HH:MM (tomorrow's, if today's has passed): a
 * daily rotation's boundary, so a night the clocks change is read as --rotate 24h reads it. The
 * autumn night's second 02:10 stops at the 02:30 twenty minutes on (Date's setHours took the
 * first, passed, and went on a day); 02:30 on the spring night falls at 03:30, and from 03:10 on
 * it is tomorrow's (setHours gave 03:30 today).
 */
export function nextLocalTime(text: string, now: number): number {
  const m = /^(\d{1,2}):(\d{2})$/.exec(text);
  if (!m || Number(m[1]) > 23 || Number(m[2]) > 59) throw new UsageError(`--until "${text}": expected a time of day HH:MM, from 00:00 to 23:59, like 06:30`);
  return clockBoundaryAfter(now, DAY_MS, (Number(m[1]) * 60 + Number(m[2])) * 60_000);
}

