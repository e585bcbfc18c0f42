/**
 * `pacer probe INPUT`: what pacer knows of an input before playing it. The
 * input is opened by play's own code (sources/open_input.ts), so probe and
 * play agree on what it is, what paces it and what is left out of it.
 */
import { statSync } from "node:fs";
import type { Logger } from "../foundation/log.ts";
import { PacerError, UsageError } from "../foundation/errors.ts";
import { probePs, probeTs } from "../protocol/mpeg_probe.ts";
import { M2TS_PACKING } from "../protocol/mpeg_m2ts.ts";
import { TS_PACKING, TS_RS_PACKING, TS_TRAILER_PACKING, type TsPacking } from "../protocol/mpegts.ts";
import { formatToString } from "../protocol/sample_format.ts";
import { US_PER_S } from "../scheduler/clock.ts";
import { type ClockTiming, type FileSample, fileSample, type SampleSize, tsClockTiming } from "../sources/mpeg_file_timing.ts";
import { type InputOptions, type InputPacing, openInput, type OpenedInput } from "../sources/open_input.ts";
import { parseSampleFormat } from "../protocol/sample_format.ts";
import { parseBitrate } from "../foundation/units.ts";
import { withTimeout } from "../foundation/with_timeout.ts";
import { parseArgs } from "node:util";
import { refuseInapplicableInputOptions } from "./input_options.ts";

export const PROBE_HELP = `Usage: pacer probe INPUT [--format FMT] [--bitrate R]

Prints what pacer knows of an input: container, sample format or bit rate,
duration, and for MPEG the PIDs, PCR/SCR (or M2TS arrival stamp) timing and
the bytes play leaves out. INPUT is a file, - for stdin, a FIFO, a device or
a network input (udp://@..., rtp://@..., tcp://...); a stream is read up to
64 MiB (or 5 s) to be probed, and one that shows nothing in 5 s is exit 1.
`;

/** Files up to 64 MiB are read whole for MPEG timing (and garbage counts); larger ones by 4 MiB of head and tail. */
const PROBE_SAMPLE: SampleSize = { wholeLimit: 64 << 20, edgeBytes: 4 << 20 };
/** A stream is read this far, or this long, for MPEG timing. */
const STREAM_SAMPLE_BYTES = PROBE_SAMPLE.wholeLimit;
const STREAM_SAMPLE_MS = 5_000;

/** The container line of a TS, by how its packets lie. */
const CONTAINER_WORDS = new Map<TsPacking, string>([
  [TS_PACKING, "mpegts"],
  [M2TS_PACKING, "m2ts (MPEG-TS in 192-byte packets with arrival time stamps; sent as 188-byte TS)"],
  [TS_TRAILER_PACKING, "mpegts (188-byte packets each followed by a 4-byte trailer; sent as 188-byte TS)"],
  [TS_RS_PACKING, "mpegts (204-byte packets: 188 and 16 bytes of Reed-Solomon parity; sent as 188-byte TS)"],
]);

const PACED_BY: Record<InputPacing, string> = {
  samples: "sample clock",
  pcr: "PCR",
  arrival: "arrival time stamps",
  scr: "SCR",
  bitrate: "--bitrate",
};

/** Bytes of MPEG to probe: a whole input, or a large file's head and tail joined at `seamAt`. */
interface Sample extends FileSample {
  /** False when a stream did not end within what was read: its duration is unknown. */
  whole: boolean;
}

function seconds(us: number | null | undefined): string {
  return us === null || us === undefined ? "unknown" : `${(us / US_PER_S).toFixed(3)} s`;
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(4, "0")}`;
}

async function mpegSample(opened: OpenedInput): Promise<Sample> {
  if (!opened.stream) return { ...(await fileSample(opened.info.label, sizeOnDisk(opened), PROBE_SAMPLE)), whole: true };
  const bytes = await opened.stream.peek(STREAM_SAMPLE_BYTES, AbortSignal.timeout(STREAM_SAMPLE_MS));
  return { bytes, whole: opened.stream.ended && bytes.length < STREAM_SAMPLE_BYTES };
}

function sizeOnDisk(opened: OpenedInput): number {
  return statSync(opened.info.label).size;
}

export async function runProbe(argv: string[], _log: Logger): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { format: { type: "string" }, bitrate: { type: "string" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help) {
    process.stdout.write(PROBE_HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError("probe: give exactly one input");
  const format = values.format !== undefined ? parseSampleFormat(values.format) : undefined;
  const bitrate = values.bitrate !== undefined ? parseBitrate(values.bitrate, "--bitrate") : undefined;
  const opened = await openWithin(positionals[0]!, { format, bitrate }, STREAM_SAMPLE_MS);
  let lines: string[];
  try {
    refuseInapplicableInputOptions([opened], { format, bitrate });
    lines = await describe(opened);
  } finally {
    opened.source.close();
  }
  process.stdout.write(lines.join("\n") + "\n");
  return 0;
}

/**
 * Opens the input as play does, but gives a stream that says nothing (a group with no sender, a
 * pipe whose writer is silent) `ms` to show what it is: play waits for it, probe had waited for good.
 */
function openWithin(spec: string, options: InputOptions, ms: number): Promise<OpenedInput> {
  return withTimeout(openInput(spec, options), ms, () => new PacerError(`${spec === "-" ? "stdin" : spec}: too little arrived in ${ms / 1000} s to tell what it is`));
}

async function describe(opened: OpenedInput): Promise<string[]> {
  const { info } = opened;
  const lines: string[] = [`input:     ${info.label}`];
  if (info.kind === "pcm") {
    lines.push(`container: ${opened.container}`);
    lines.push(`format:    ${formatToString(info.format!)}`);
    if (info.mediaBytes !== undefined) lines.push(`bytes:     ${info.mediaBytes}`);
    lines.push(`duration:  ${seconds(info.durationUs)}`);
  } else if (info.kind === "mpegts") {
    const sample = await mpegSample(opened);
    const packing = opened.packing ?? TS_PACKING;
    const m2ts = packing === M2TS_PACKING;
    const p = probeTs(sample.bytes, { packing, seamAt: sample.seamAt, cutBytes: sample.cutBytes });
    lines.push(`container: ${CONTAINER_WORDS.get(packing)}`);
    lines.push(`pids:      ${p.pids.map((x) => `${hex(x.pid)} (${x.packets} packets)`).join(", ")}`);
    lines.push(`pcr pid:   ${p.pcrPid === null ? "none" : hex(p.pcrPid)}`);
    lines.push(`pcrs:      ${p.pcrCount}${p.discontinuities ? `, ${p.discontinuities} discontinuities` : ""}`);
    if (p.arrival) {
      const a = p.arrival;
      lines.push(`arrival:   ${a.stamps} stamps${a.discontinuities ? `, ${a.discontinuities} discontinuities` : ""}${a.usable ? "" : " (too many breaks to pace by)"}`);
    }
    lines.push(...timing(opened, sample, tsClockTiming(p, opened.pacing)));
    if (p.garbageBytes) lines.push(`garbage:   ${p.garbageBytes} bytes skipped${within(sample)}: not ${m2ts ? "M2TS" : "TS"} packets, left out as play leaves them`);
    // A stream read only in part ends wherever the read stopped, not in a cut-off packet.
    if (p.cutOffBytes && sample.whole) lines.push(`cut off:   the last ${p.cutOffBytes} bytes are not a whole packet: sent as they are`);
  } else if (info.kind === "mpegps") {
    const sample = await mpegSample(opened);
    const p = probePs(sample.bytes, sample);
    lines.push(`container: mpegps (MPEG-${p.mpegVersion || "?"})`);
    lines.push(`streams:   ${p.streams.map((x) => `0x${x.streamId.toString(16)} (${x.packets})`).join(", ")}`);
    lines.push(`mux rate:  ${p.muxRate ? `${p.muxRate * 8} bit/s` : "unknown"}`);
    lines.push(...timing(opened, sample, p));
    if (p.garbageBytes) lines.push(`garbage:   ${p.garbageBytes} bytes outside packs${within(sample)}: sent as they are`);
  } else {
    lines.push(`container: ${info.kind}`);
    if (info.mediaBytes !== undefined) lines.push(`bytes:     ${info.mediaBytes}`);
    lines.push(`duration:  ${seconds(info.durationUs)}`);
  }
  return lines;
}

/** Where garbage was counted, when not in the whole input. */
function within(sample: Sample): string {
  if (sample.seamAt !== undefined) return ` in the ${(sample.bytes.length / (1 << 20)).toFixed(0)} MiB probed (head and tail)`;
  return sample.whole ? "" : ` in the first ${sample.bytes.length} bytes`;
}

/** `paced by`, `bitrate` and `duration` lines: by --bitrate when it is given, as play paces. */
function timing(opened: OpenedInput, sample: Sample, clock: ClockTiming): string[] {
  const byBitrate = opened.pacing === "bitrate";
  const bitrate = byBitrate ? opened.byteClock!.byteRate() * 8 : clock.bitrate;
  let duration = seconds(byBitrate ? opened.info.durationUs : clock.durationUs);
  if (!sample.whole) duration = `unknown (a stream; its first ${sample.bytes.length} bytes probed)`;
  return [
    `paced by:  ${PACED_BY[opened.pacing]}`,
    `bitrate:   ${bitrate ? `${Math.round(bitrate)} bit/s` : "unknown"}`,
    `duration:  ${duration}`,
  ];
}
