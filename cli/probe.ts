/** `pacer probe INPUT`: what pacer knows of an input before playing it. */
import { closeSync, openSync, readFileSync, readSync, statSync } from "node:fs";
import type { Logger } from "../foundation/log.ts";
import { UsageError } from "../foundation/errors.ts";
import { probePs, probeTs } from "../protocol/mpeg_probe.ts";
import { TS_SIZE } from "../protocol/mpegts.ts";
import { formatToString } from "../protocol/sample_format.ts";
import { US_PER_S } from "../scheduler/clock.ts";
import { openInput } from "../sources/open_input.ts";
import { parseSampleFormat } from "../protocol/sample_format.ts";
import { parseBitrate } from "../foundation/units.ts";
import { parseArgs } from "node:util";

export const PROBE_HELP = `Usage: pacer probe INPUT [--format FMT] [--bitrate R]

Prints what pacer knows of an input: container, sample format or bit rate,
duration, and for MPEG the PIDs and PCR/SCR timing.
`;

/** Files up to this size are read whole for MPEG timing; larger ones by head and tail. */
const WHOLE_FILE_LIMIT = 64 << 20;
const SAMPLE_BYTES = 4 << 20;

function seconds(us: number | null | undefined): string {
  return us === null || us === undefined ? "unknown" : `${(us / US_PER_S).toFixed(3)} s`;
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(4, "0")}`;
}

/** The whole file if small, else its head and its tail (the tail starting on a packet boundary), read without loading the rest. */
function sampleOf(path: string): Uint8Array {
  const size = statSync(path).size;
  if (size <= WHOLE_FILE_LIMIT) return readFileSync(path);
  // Both pieces whole TS packets from the file's grid, so the seam between them is no garbage.
  const head = SAMPLE_BYTES - (SAMPLE_BYTES % TS_SIZE);
  const tail = head + (size % TS_SIZE);
  const out = Buffer.alloc(head + tail);
  const fd = openSync(path, "r");
  try {
    readSync(fd, out, 0, head, 0);
    readSync(fd, out, head, tail, size - tail);
  } finally {
    closeSync(fd);
  }
  return out;
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
  const spec = positionals[0]!;
  const opened = await openInput(spec, {
    format: values.format ? parseSampleFormat(values.format) : undefined,
    bitrate: values.bitrate ? parseBitrate(values.bitrate, "--bitrate") : undefined,
  });
  opened.source.close();
  const { info } = opened;
  const lines: string[] = [`input:     ${info.label}`];
  if (info.kind === "pcm") {
    lines.push(`container: ${spec.toLowerCase().endsWith(".wav") ? "wav" : "raw pcm"}`);
    lines.push(`format:    ${formatToString(info.format!)}`);
    if (info.mediaBytes !== undefined) lines.push(`bytes:     ${info.mediaBytes}`);
    lines.push(`duration:  ${seconds(info.durationUs)}`);
  } else if (info.kind === "mpegts" && spec !== "-") {
    const p = probeTs(sampleOf(spec));
    lines.push("container: mpegts");
    lines.push(`pids:      ${p.pids.map((x) => `${hex(x.pid)} (${x.packets} packets)`).join(", ")}`);
    lines.push(`pcr pid:   ${p.pcrPid === null ? "none" : hex(p.pcrPid)}`);
    lines.push(`pcrs:      ${p.pcrCount}${p.discontinuities ? `, ${p.discontinuities} discontinuities` : ""}`);
    lines.push(`bitrate:   ${p.bitrate ? `${Math.round(p.bitrate)} bit/s` : "unknown"}`);
    lines.push(`duration:  ${seconds(p.durationUs)}`);
    if (p.garbageBytes) lines.push(`garbage:   ${p.garbageBytes} bytes skipped`);
  } else if (info.kind === "mpegps" && spec !== "-") {
    const p = probePs(sampleOf(spec));
    lines.push(`container: mpegps (MPEG-${p.mpegVersion || "?"})`);
    lines.push(`streams:   ${p.streams.map((x) => `0x${x.streamId.toString(16)} (${x.packets})`).join(", ")}`);
    lines.push(`mux rate:  ${p.muxRate ? `${p.muxRate * 8} bit/s` : "unknown"}`);
    lines.push(`bitrate:   ${p.bitrate ? `${Math.round(p.bitrate)} bit/s` : "unknown"}`);
    lines.push(`duration:  ${seconds(p.durationUs)}`);
    if (p.garbageBytes) lines.push(`garbage:   ${p.garbageBytes} bytes skipped`);
  } else {
    lines.push(`container: ${info.kind}`);
    if (info.mediaBytes !== undefined) lines.push(`bytes:     ${info.mediaBytes}`);
    lines.push(`duration:  ${seconds(info.durationUs)}`);
  }
  process.stdout.write(lines.join("\n") + "\n");
  return 0;
}
