/**
 * The TOML configuration of `pacer serve` (DESIGN.md, "serve: defaults and privileges").
 * Every key is optional; a missing key takes its value from DEFAULT_CONFIG_TOML, the embedded
 * default. Unknown keys are errors, so a typo never silently becomes a default.
 *
 * @example
 * ```ts
 * const config = await loadConfig(flags.config); // undefined: the embedded default
 * config.control; // { host: "127.0.0.1", port: 7070, text: "127.0.0.1:7070" }
 * const key = config.keyFile ? await readKey(config.keyFile) : undefined;
 * ```
 */

import { constants, statSync } from "node:fs";
import { open } from "node:fs/promises";
import * as v from "valibot";
import { type Cidr, CidrError, type HostPort, isLoopbackHost, parseCidr, parseHostPort } from "../foundation/net/address.ts";
import { DEFAULT_CONTROL_ADDRESS } from "../protocol/control.ts";
import { errnoOf } from "../foundation/errors.ts";
import { ENCODINGS, parseSampleFormat, type SampleFormat } from "../protocol/sample_format.ts";
import { MIN_BITRATE, parseSeconds } from "../foundation/units.ts";
import { parseKeep, parseRotate, type RecordFileOptions } from "../recorder/record_options.ts";
import { outPatternError } from "./recording/out_path.ts";
import { networkInputEndpoint } from "../sources/open_input.ts";
import { parseEndpoint } from "../foundation/net/endpoint.ts";
import "../backends/all.ts";
import { backendFor } from "../backends/registry.ts";
import { rtcpChoice } from "../backends/rtp/rtp.ts";
import { ownPortAt } from "./policy.ts";
import { knownTimeZone, RecordingPlan } from "./recording/schedule.ts";
import { DEFAULT_BUFFER_SECONDS, DEFAULT_IDLE_CLOSE_S, DEFAULT_SPEAKER_FORMAT, splitFollow } from "../speaker/speaker_options.ts";

/**
 * The embedded default, also the reference for every key. Relative paths (media_root, key_file)
 * are relative to the working directory, as on the command line.
 */
export const DEFAULT_CONFIG_TOML = `# pacer serve configuration (this is the embedded default)

# Control endpoint, UDP HOST:PORT. Anything but loopback needs key_file.
control = "127.0.0.1:7070"
# Shared HMAC key for control requests, at least 16 bytes as hex digits or raw text: openssl rand -hex 32 > FILE.
# key_file = "/etc/pacer/key"
# Media names in requests resolve inside this directory (symlinks included).
media_root = "./media"
# Seconds a client stream runs without an interest keep-alive.
interest_timeout = 10
# Privileges after the sockets are open, when started as root.
# Without group, "nobody" is used, or "nogroup" where no "nobody" group exists.
user = "nobody"
# group = "nobody"
# Networks streams may go to besides the requester's own address, e.g. ["10.0.0.0/8", "2001:db8::/32"].
allow_destinations = []
# Recordings (record start NAME, [[recording]]) are written only under this directory.
recording_root = "./recordings"
# Metrics and status over HTTP, HOST:PORT.
# http = "127.0.0.1:9090"

[limits]
max_jobs = 1000
max_destinations_per_job = 16
# Jobs one client address may hold (running or being started), so one client cannot take them all;
# default: max_jobs, as a database server scheduling persistent broadcasts from one address needs.
# max_jobs_per_client = 50
# Control requests per second from one source (an IPv4 host, or a global IPv6 /64), and the burst allowed after a quiet spell.
requests_per_second = 50
request_burst = 100
# The highest "bitrate" a play request may ask for, bits/s: a client's rate is this server's CPU.
# Also what a play may send to each destination: PCM in its format=, and any pkt= with datagrams counted as at least 1400 bytes.
# Also a [[live]] channel's max_bitrate where it gives none.
max_bitrate = 100000000
# Tracks waiting in the speaker's queue (with [speaker]); a queue past it is refused ("limit").
max_queued_tracks = 1000
# Of those, the tracks one client address may have waiting; default: max_queued_tracks.
# max_queued_tracks_per_client = 100

# The speaker: a gapless queue of tracks (queue, pause, resume, cancel, clear). Absent: no speaker.
# [speaker]
# One or more outputs: alsa:DEVICE, cmd:COMMAND, rtp://HOST:PORT, file:PATH (each with its own send events).
# alsa:DEVICE?follow=1 plays each track in its own format instead (bit-perfect): the outputs are
# reopened where the format changes, with a short gap there only.
# output = ["alsa:default"]
# The format every track is converted to (RTP follows its pt=/format=); with follow=1, the first one's.
# format = "s16le:44100:2"
# Seconds of the queue opened, decoded and converted ahead of the output.
# buffer_seconds = 5
# Seconds after the queue empties before alsa:, cmd: and file: outputs are released.
# idle_close = 10
# While idle send "nothing", or "silence" (for encoders that need a continuous stream).
# idle = "nothing"
# Shell commands run as a track starts and ends, with PACER_TRACK_ID, PACER_TRACK_PATH and PACER_TRACK_STATUS.
# on_start = "logger -t pacer started $PACER_TRACK_PATH"
# on_finish = "logger -t pacer $PACER_TRACK_STATUS $PACER_TRACK_PATH"
# Decoders by file extension: a command writing raw PCM in the given format to stdout; {path} is the quoted path of the file (a link to it, held open beneath the media root).
# [speaker.decoders]
# flac = { command = "flac -dcs --force-raw-format --endian=little --sign=signed {path}", format = "s16le:44100:2" }
# mp3 = { command = "ffmpeg -v error -i {path} -f s16le -ac 2 -ar 44100 -", format = "s16le:44100:2" }

# Live channels, played with the media name live:NAME; repeat the block for more.
# Either listen for one acquisition source (pacer acquire ... --to tcp://HOST:9000) ...
# [[live]]
# name = "studio"
# listen = "tcp://:9000"
# A key file the source must prove it holds (challenge and HMAC reply); default none.
# key_file = "/etc/pacer/studio.key"
# Buffer between arrival and pacing, ms.
# latency_ms = 200
# The highest bitrate of the channel's stream, bits/s (default: [limits] max_bitrate). The channel
# reads at most 1.5 times it, after a burst of up to its 8 MiB ring: a source pushing faster is
# held back by TCP (a UDP input's excess overflows its socket buffer), not read and thrown away.
# max_bitrate = 20000000
# ... or receive any input pacer record takes:
# [[live]]
# name = "news"
# input = "udp://@239.1.1.1:1234"

# Scheduled recordings; repeat the block for more. A run due while the last one still goes is skipped.
# [[recording]]
# name = "evening-news"
# cron with an optional seconds field first; time zone optional (default: the server's). The
# time zone is the cron's only: file names and rotate's cuts are in the server's local time.
# cron = "0 20 * * 1-5"
# timezone = "Europe/Berlin"
# An input URL, or a live channel as live:NAME.
# source = "udp://@239.1.1.2:1234"
# duration = "30m"
# strftime pattern under recording_root.
# out = "news/%Y%m%d-%H%M.ts"
# As pacer record's options: a new file every duration on the clock or at a size, this long
# after the clock's boundaries, keep only the newest N files, write NAME.part until complete,
# and the PCM input's format for a .wav pattern.
# rotate = "15m"
# stagger = "0s"
# keep = 96
# part = true
# format = "s16be:48000:2"
`;

/** Candidates for the group when the config names none, tried in order at privilege-drop time. */
export const DEFAULT_GROUPS = ["nobody", "nogroup"] as const;
/** Smallest accepted key, in bytes; shorter keys are guessable. */
export const MIN_KEY_BYTES = 16;

const DEFAULT_MEDIA_ROOT = "./media";
const DEFAULT_INTEREST_TIMEOUT_S = 10;
const DEFAULT_USER = "nobody";
const DEFAULT_MAX_JOBS = 1000;
const DEFAULT_MAX_DESTINATIONS_PER_JOB = 16;
/** 100 Mbit/s: five HD transport streams; 10 Gbit/s on 16 destinations took a core from every other job. */
const DEFAULT_MAX_BITRATE = 100_000_000;
const DEFAULT_REQUESTS_PER_SECOND = 50;
const DEFAULT_REQUEST_BURST = 100;
/**
 * Days of music (about three, of four-minute tracks) in a few MB, which `pacer ctl status` lists
 * in some 35 pages (short names) to 125 (names of 120 characters). Unbounded, queue requests from
 * many source addresses grew the queue to 52,219 tracks and the server by 170 MB in 50 s.
 */
const DEFAULT_MAX_QUEUED_TRACKS = 1000;
/**
 * Shorter cannot be kept alive across a network: 0.0004 was taken, rounded to 0 ms, and every
 * stream expired as it started (and pacer recv asked for it again and again).
 */
const MIN_INTEREST_TIMEOUT_S = 0.1;
/** A day: longer is a typo for milliseconds. */
const MAX_INTEREST_TIMEOUT_S = 86_400;
const DEFAULT_LIVE_LATENCY_MS = 200;
const DEFAULT_RECORDING_ROOT = "./recordings";
const LIVE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export interface LiveInput {
  readonly name: string;
  /** `listen = "tcp://…"`: one acquisition source connects here. */
  readonly listen?: HostPort;
  /** `input = "udp://@…"`: an input URL as `pacer record` takes. */
  readonly input?: string;
  /** Listen channels: the key the source must prove it holds. */
  readonly keyFile?: string;
  readonly latencyMs: number;
  /** The highest rate of the channel's stream, bits/s (default: `[limits] max_bitrate`); the channel reads at most 1.5 times it. */
  readonly maxBitrate: number;
}

/** `[[recording]]`: a source recorded to `out` (under recording_root) on a cron schedule. */
export interface RecordingConfig extends RecordFileOptions {
  readonly name: string;
  /** Absent: started only by `record start NAME`. */
  readonly cron?: string;
  readonly timezone?: string;
  /** `live:NAME` or an input URL. */
  readonly source: string;
  /** Absent: until `record stop NAME`. */
  readonly durationMs?: number;
  /** strftime pattern relative to recording_root. */
  readonly out: string;
}

export interface Limits {
  readonly maxJobs: number;
  /** Jobs one client address (IPv4-mapped IPv6 as its IPv4) may hold; default maxJobs. */
  readonly maxJobsPerClient: number;
  readonly maxDestinationsPerJob: number;
  readonly requestsPerSecond: number;
  readonly requestBurst: number;
  readonly maxBitrate: number;
  /** Tracks waiting in the speaker's queue at most; `queue` beyond is refused with `limit`. */
  readonly maxQueuedTracks: number;
  /** Of those, the tracks one client address may have waiting; default maxQueuedTracks. */
  readonly maxQueuedTracksPerClient: number;
}

/** A decoder from `[speaker.decoders]`: a command writing raw PCM in `format`. */
export interface DecoderConfig {
  readonly command: string;
  readonly format: SampleFormat;
}

/** `[speaker]`: see DEFAULT_CONFIG_TOML for each key. */
export interface SpeakerConfig {
  readonly outputs: readonly string[];
  readonly format: SampleFormat;
  /** An alsa: output had follow=1 (taken off its URL): each track plays in its own format. */
  readonly follow: boolean;
  readonly bufferSeconds: number;
  readonly idleCloseS: number;
  readonly idle: "nothing" | "silence";
  readonly onStart?: string;
  readonly onFinish?: string;
  /** By lower-case extension, without the dot. */
  readonly decoders: Readonly<Record<string, DecoderConfig>>;
}

export interface Config {
  /** Where the config came from: a path, or "(embedded default)". */
  readonly source: string;
  readonly control: HostPort;
  readonly keyFile?: string;
  readonly mediaRoot: string;
  readonly interestTimeoutMs: number;
  readonly user: string;
  /** Undefined: use the first of DEFAULT_GROUPS that exists, decided when dropping privileges. */
  readonly group?: string;
  readonly allowDestinations: readonly Cidr[];
  readonly http?: HostPort;
  readonly limits: Limits;
  readonly live: readonly LiveInput[];
  readonly recordingRoot: string;
  readonly recordings: readonly RecordingConfig[];
  /** Absent: no speaker (queue, pause… answer not_available). */
  readonly speaker?: SpeakerConfig;
}

/** One line naming the source, the key and what was wrong; the CLI prints it and exits 1. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** A key file that cannot be used; the message says which file and what to do. */
export class KeyFileError extends Error {
  override name = "KeyFileError";
}

// ---------------------------------------------------------------------------------------------
// Host and port text

function parseListenUrl(text: string): HostPort | null {
  if (!text.startsWith("tcp://")) return null;
  const hostPort = parseHostPort(text.slice("tcp://".length), { allowEmptyHost: true });
  return hostPort && { ...hostPort, text };
}

function isCidr(text: string): boolean {
  try {
    parseCidr(text);
    return true;
  } catch (e) {
    if (e instanceof CidrError) return false;
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// Schema

/** No NUL byte: no path, name or command can hold one (it was taken, then failed in Node's words where used). */
const text = (what: string) =>
  v.pipe(
    v.string(`expected ${what}`),
    v.minLength(1, `expected ${what}, not an empty string`),
    v.check((s) => !s.includes("\0"), `expected ${what} without a NUL byte`),
  );

const wholeNumber = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  v.pipe(
    v.number(`expected a whole number ≥ ${min}`),
    v.integer(`expected a whole number ≥ ${min}`),
    v.minValue(min, `expected a whole number ≥ ${min}`),
    v.maxValue(max, `expected a whole number ≤ ${max}`),
  );

/** A bit rate limit: below the least "bitrate" a play may ask for (1k), every play that gives one is refused. */
const bitrateLimit = () => {
  const expected = `expected bits per second, a whole number ≥ ${MIN_BITRATE} (1k, the least a play's "bitrate" may be)`;
  return v.pipe(v.number(expected), v.integer(expected), v.minValue(MIN_BITRATE, expected));
};

const hostPortField = (example: string) =>
  v.pipe(
    v.string(`expected "HOST:PORT" such as "${example}"`),
    v.check((s) => parseHostPort(s) !== null, `expected "HOST:PORT" such as "${example}" (IPv6 as "[::1]:7070")`),
  );

/**
 * A TOML table of `entries`. valibot's strictObject takes an array too (`speaker = []` set up a
 * speaker on alsa:default), and of another value said "speaker: missing; this key is required".
 */
const table = <E extends v.ObjectEntries>(entries: E, message: string) =>
  v.pipe(v.custom<unknown>((input) => !Array.isArray(input), message), v.strictObject(entries, message));

const LimitsSchema = table({
  max_jobs: v.optional(wholeNumber(1), DEFAULT_MAX_JOBS),
  max_jobs_per_client: v.optional(wholeNumber(1)),
  max_destinations_per_job: v.optional(wholeNumber(1), DEFAULT_MAX_DESTINATIONS_PER_JOB),
  requests_per_second: v.optional(
    v.pipe(
      v.number("expected a number of requests per second > 0"),
      v.finite("expected a number of requests per second > 0"),
      v.gtValue(0, "expected a number of requests per second > 0"),
    ),
    DEFAULT_REQUESTS_PER_SECOND,
  ),
  request_burst: v.optional(wholeNumber(1), DEFAULT_REQUEST_BURST),
  max_bitrate: v.optional(bitrateLimit(), DEFAULT_MAX_BITRATE),
  max_queued_tracks: v.optional(wholeNumber(1), DEFAULT_MAX_QUEUED_TRACKS),
  max_queued_tracks_per_client: v.optional(wholeNumber(1)),
}, "expected a table ([limits])");

/** Why a network input URL cannot be opened (its options, its form), or null: told when the config loads, not at its first run. */
function inputUrlError(url: string): string | null {
  if (/^live:/i.test(url)) return null;
  try {
    networkInputEndpoint(url);
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

const checkedInput = v.check((s: string) => inputUrlError(s) === null, (issue) => inputUrlError(String(issue.input)) ?? "expected an input URL");

const LiveSchema = table({
  name: v.pipe(
    v.string("expected a name such as \"studio\""),
    v.regex(LIVE_NAME, "expected a name of letters, digits, '.', '_' or '-' (at most 64), such as \"studio\""),
  ),
  listen: v.optional(
    v.pipe(
      v.string('expected "tcp://:PORT" or "tcp://HOST:PORT"'),
      v.check((s) => parseListenUrl(s) !== null, 'expected "tcp://:PORT" or "tcp://HOST:PORT", such as "tcp://:9000"'),
    ),
  ),
  input: v.optional(
    v.pipe(
      v.string('expected an input URL such as "udp://@239.1.1.1:1234"'),
      v.regex(/^(udp|rtp|tcp):\/\//i, 'expected an input URL such as "udp://@239.1.1.1:1234" (udp://@, rtp://@, tcp://)'),
      v.maxLength(512, "expected an input URL of at most 512 characters"),
      checkedInput,
    ),
  ),
  key_file: v.optional(text("a key file path")),
  latency_ms: v.optional(wholeNumber(0, 10_000), DEFAULT_LIVE_LATENCY_MS),
  max_bitrate: v.optional(bitrateLimit()),
}, "expected a [[live]] table");

const sampleFormatText = v.pipe(
  v.string('expected a sample format such as "s16le:44100:2"'),
  v.check((s) => {
    try {
      parseSampleFormat(s);
      return true;
    } catch {
      return false;
    }
  }, `expected ENCODING:RATE:CHANNELS such as "s16le:44100:2" (${ENCODINGS.join(", ")})`),
);

const RecordingSchema = table({
  name: v.pipe(
    v.string('expected a name such as "evening-news"'),
    v.regex(LIVE_NAME, "expected a name of letters, digits, '.', '_' or '-' (at most 64), such as \"evening-news\""),
  ),
  cron: v.optional(text('a cron pattern such as "0 20 * * 1-5"')),
  timezone: v.optional(text('a time zone such as "Europe/Berlin"')),
  source: v.pipe(
    v.string('expected "live:NAME" or an input URL such as "udp://@239.1.1.1:1234"'),
    v.regex(/^(live:|(udp|rtp|tcp):\/\/)/i, 'expected "live:NAME" or an input URL such as "udp://@239.1.1.1:1234"'),
    v.maxLength(512, "expected at most 512 characters"),
    checkedInput,
  ),
  duration: v.optional(v.union([v.number(), v.string()], 'expected a duration such as "30m", "1h" or seconds')),
  out: v.pipe(
    v.string('expected a pattern such as "news/%Y%m%d-%H%M.ts"'),
    v.check((s) => outPatternError(s) === null, (issue) => outPatternError(String(issue.input)) ?? "expected a pattern"),
  ),
  rotate: v.optional(v.union([v.number(), v.string()], 'expected a duration such as "1h" or a size such as "2GB"')),
  stagger: v.optional(v.union([v.number(), v.string()], 'expected a duration such as "30s"')),
  keep: v.optional(v.pipe(v.number("expected a whole number of files"), v.integer("expected a whole number of files"), v.minValue(1, "expected 1 or more"))),
  part: v.optional(v.boolean("expected true or false")),
  format: v.optional(sampleFormatText),
}, "expected a [[recording]] table");


const seconds = (min: number, max: number, what: string) =>
  v.pipe(
    v.number(`expected ${what}`),
    v.finite(`expected ${what}`),
    v.minValue(min, `expected ${what}`),
    v.maxValue(max, `expected ${what} (at most ${max})`),
  );

const SPEAKER_OUTPUT_SCHEMES = ["alsa", "cmd", "rtp", "file"];
/** Like MPD: the sound card's default PCM. */
const DEFAULT_SPEAKER_OUTPUT = "alsa:default";
const outputUrl = v.pipe(
  v.string('expected an output such as "alsa:default" or "rtp://239.1.2.3:5004"'),
  v.check(
    (s) => SPEAKER_OUTPUT_SCHEMES.includes(s.slice(0, Math.max(0, s.indexOf(":"))).toLowerCase()) && s.length > s.indexOf(":") + 1,
    'expected an output such as "alsa:default", "cmd:COMMAND", "rtp://HOST:PORT" or "file:PATH"',
  ),
);

const DecoderSchema = table({
  command: v.pipe(
    text("a command line with {path}"),
    v.check((s) => s.includes("{path}"), 'expected a command line with {path} where the file goes, such as "flac -dcs {path}"'),
  ),
  format: sampleFormatText,
}, 'expected a table such as { command = "flac -dcs {path}", format = "s16le:44100:2" }');

const SpeakerSchema = table({
  output: v.optional(
    v.union([outputUrl, v.pipe(v.array(outputUrl), v.minLength(1, "expected at least one output"))], 'expected an output or a list of outputs, such as ["alsa:default"]'),
    DEFAULT_SPEAKER_OUTPUT,
  ),
  format: v.optional(sampleFormatText, DEFAULT_SPEAKER_FORMAT),
  buffer_seconds: v.optional(seconds(0.1, 600, "seconds from 0.1 to 600"), DEFAULT_BUFFER_SECONDS),
  idle_close: v.optional(seconds(0, 86_400, "seconds ≥ 0"), DEFAULT_IDLE_CLOSE_S),
  idle: v.optional(v.picklist(["nothing", "silence"], 'expected "nothing" or "silence"'), "nothing"),
  on_start: v.optional(text("a shell command")),
  on_finish: v.optional(text("a shell command")),
  decoders: v.optional(
    v.record(v.pipe(v.string(), v.regex(/^[A-Za-z0-9]{1,16}$/, "expected a file extension such as flac")), DecoderSchema, "expected a table of decoders by file extension"),
    {},
  ),
}, "expected a table ([speaker])");

const ConfigSchema = v.strictObject({
  control: v.optional(hostPortField("127.0.0.1:7070"), DEFAULT_CONTROL_ADDRESS),
  key_file: v.optional(text("a path to the key file")),
  media_root: v.optional(text("a directory path"), DEFAULT_MEDIA_ROOT),
  interest_timeout: v.optional(
    v.pipe(
      v.number("expected seconds > 0"),
      v.finite("expected seconds > 0"),
      v.gtValue(0, "expected seconds > 0"),
      v.minValue(MIN_INTEREST_TIMEOUT_S, `expected seconds ≥ ${MIN_INTEREST_TIMEOUT_S} (a client keeps a stream alive three times in it)`),
      v.maxValue(MAX_INTEREST_TIMEOUT_S, `expected seconds ≤ ${MAX_INTEREST_TIMEOUT_S} (the value is in seconds, not ms)`),
    ),
    DEFAULT_INTEREST_TIMEOUT_S,
  ),
  user: v.optional(text("a user name"), DEFAULT_USER),
  group: v.optional(text("a group name")),
  allow_destinations: v.optional(
    v.array(
      v.pipe(
        v.string('expected a network such as "10.0.0.0/8" or "2001:db8::/32"'),
        v.check(isCidr, 'expected a network such as "10.0.0.0/8" or "2001:db8::/32"'),
      ),
      'expected a list of networks such as ["10.0.0.0/8"]',
    ),
    [],
  ),
  http: v.optional(hostPortField("127.0.0.1:9090")),
  limits: v.optional(LimitsSchema, {}),
  live: v.optional(v.array(LiveSchema, "expected [[live]] tables"), []),
  recording_root: v.optional(text("a directory path"), DEFAULT_RECORDING_ROOT),
  recording: v.optional(v.array(RecordingSchema, "expected [[recording]] tables"), []),
  speaker: v.optional(SpeakerSchema),
});

type RawConfig = v.InferOutput<typeof ConfigSchema>;

function issuePath(issue: v.BaseIssue<unknown>): string {
  let out = "";
  for (const item of issue.path ?? []) {
    const key = item.key;
    out += typeof key === "number" ? `[${key}]` : out === "" ? String(key) : `.${String(key)}`;
  }
  return out || "(top level)";
}

function issueLine(issue: v.BaseIssue<unknown>): string {
  const where = issuePath(issue);
  // Not a table at all ("Object" expected): its message and the value, as for other types.
  if (issue.type === "strict_object" && issue.expected !== "Object") {
    // valibot reports both an unknown key (expected "never") and a missing required one here.
    return issue.expected === "never"
      ? `${where}: unknown key; check its spelling against the documented keys`
      : `${where}: missing; this key is required`;
  }
  if (issue.received === "undefined") return `${where}: missing; ${issue.message}`;
  return `${where}: ${issue.message}, got ${shownValue(issue)}`;
}

/** Longest value quoted back in an error; a longer one is cut. */
const SHOWN_VALUE_MAX = 120;

/**
 * The value an issue is about, as one line: a string quoted with its control characters escaped
 * (valibot's own `received` put a newline in the value into the line, and gave an empty string's
 * length: `media_root: expected a directory path, not an empty string, got 0`).
 */
function shownValue(issue: v.BaseIssue<unknown>): string {
  if (typeof issue.input !== "string") return issue.received;
  const quoted = JSON.stringify(issue.input);
  return quoted.length <= SHOWN_VALUE_MAX ? quoted : `${quoted.slice(0, SHOWN_VALUE_MAX - 1)}…" (${issue.input.length} characters)`;
}

/**
 * The 1-based line of a TOML syntax error in `text`. Bun's parser says what is wrong but not
 * where, so: the line after the longest run of whole statements from the top that parses. A value
 * left open (an array, a multi-line string) is placed on the line where it opens.
 *
 * Only prefixes that end where no value is open are tried: those parse up to the first bad
 * statement and never after it, so a binary search finds it in log2(lines) parses. Trying every
 * line from the bottom had taken lines × bytes (1002 parses, 453 ms, for an error on line 4000 of
 * 5000) and so gave up on any config above 20 M of that.
 */
function tomlErrorLine(text: string): number {
  const ends = statementEnds(text);
  let good = 0; // the empty prefix parses
  let bad = ends.length; // the whole text does not
  while (bad - good > 1) {
    const mid = (good + bad) >>> 1;
    try {
      Bun.TOML.parse(text.slice(0, ends[mid]!.offset));
      good = mid;
    } catch {
      bad = mid;
    }
  }
  return ends[good]!.line;
}

/**
 * The starts of the lines before which no TOML value is open (no array, inline table or
 * multi-line string; strings and comments skipped), with their 1-based numbers, from line 1 on.
 * Only as exact as finding those needs: a bracket too many or a string left open in bad TOML
 * is the bad statement's own, after which nothing parses anyway.
 */
function statementEnds(text: string): { offset: number; line: number }[] {
  const ends = [{ offset: 0, line: 1 }];
  let depth = 0;
  let line = 1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "\n") {
      line++;
      if (depth === 0 && i + 1 < text.length) ends.push({ offset: i + 1, line });
    } else if (c === "#") {
      const eol = text.indexOf("\n", i);
      i = (eol < 0 ? text.length : eol) - 1;
    } else if (c === "[" || c === "{") {
      depth++;
    } else if (c === "]" || c === "}") {
      depth = Math.max(0, depth - 1);
    } else if (c === '"' || c === "'") {
      const fence = c.repeat(3);
      const multiLine = text.startsWith(fence, i);
      let j = i + (multiLine ? 3 : 1);
      for (; j < text.length; j++) {
        const d = text[j];
        // A basic string's escape, but not a line-ending backslash: its newline is counted below.
        if (d === "\\" && c === '"' && text[j + 1] !== "\n") j++;
        else if (d === "\n" && !multiLine) break; // a one-line string left open ends here
        else if (d === "\n") line++;
        else if (d === c && (!multiLine || text.startsWith(fence, j))) break;
      }
      // A closing fence may have one or two quotes of the string's before it: skip the whole run.
      while (multiLine && text[j + 1] === c) j++;
      i = text[j] === "\n" ? j - 1 : j;
    }
  }
  return ends;
}

/**
 * Parses and validates config text. `sourceName` names it in errors (a path, or "(embedded default)").
 * Throws ConfigError with one line naming the key.
 *
 * @example
 * ```ts
 * parseConfig('control = "0.0.0.0:7070"', "/etc/pacer.toml");
 * // ConfigError: config /etc/pacer.toml: control: refusing to listen on 0.0.0.0:7070 without key_file; …
 * ```
 */
export function parseConfig(textIn: string, sourceName: string): Config {
  // One line whatever a value or a library's message holds: a control character is written escaped.
  const fail = (line: string): never => {
    throw new ConfigError(`config ${sourceName}: ${line.replace(/[\u0000-\u001f\u007f]/g, (c) => JSON.stringify(c).slice(1, -1))}`);
  };
  let table: unknown;
  try {
    table = Bun.TOML.parse(textIn);
  } catch (e) {
    const line = tomlErrorLine(textIn);
    const what = `not valid TOML: ${e instanceof Error ? e.message.replace(/^TOML Parse error: /, "") : String(e)}`;
    throw new ConfigError(`config ${sourceName}:${line}: ${what}`);
  }
  const parsed = v.safeParse(ConfigSchema, table);
  if (!parsed.success) return fail(issueLine(parsed.issues[0]));
  const raw: RawConfig = parsed.output;

  const control = parseHostPort(raw.control)!;
  if (!isLoopbackHost(control.host) && raw.key_file === undefined) {
    fail(
      `control: refusing to listen on ${control.text} without key_file; set key_file, or use a loopback address such as 127.0.0.1:${control.port}`,
    );
  }
  const http = raw.http === undefined ? null : parseHostPort(raw.http)!;
  const names = new Set<string>();
  const ports = new Set<number>();
  const live = raw.live.map((entry, i): LiveInput => {
    if ((entry.listen === undefined) === (entry.input === undefined)) {
      fail(`live[${i}]: give either listen = "tcp://:PORT" (an acquisition source connects) or input = "udp://@…", not ${entry.listen ? "both" : "neither"}`);
    }
    if (entry.key_file !== undefined && entry.listen === undefined) fail(`live[${i}].key_file: only a listen channel takes a key`);
    if (names.has(entry.name)) fail(`live[${i}].name: "${entry.name}" is used by another [[live]] input; names must be unique`);
    names.add(entry.name);
    const common = {
      name: entry.name,
      latencyMs: entry.latency_ms,
      maxBitrate: entry.max_bitrate ?? raw.limits.max_bitrate,
      ...(entry.key_file !== undefined && { keyFile: entry.key_file }),
    };
    if (entry.input !== undefined) return { ...common, input: entry.input };
    const listen = parseListenUrl(entry.listen!)!;
    if (ports.has(listen.port)) fail(`live[${i}].listen: port ${listen.port} is used by another [[live]] input`);
    // Both TCP: the second to bind would find it in use, a restart (75) a supervisor retries for ever.
    if (http && http.port === listen.port && (!listen.host || listen.host === http.host)) {
      fail(`live[${i}].listen: port ${listen.port} is the http port too; give them different ports`);
    }
    ports.add(listen.port);
    return { ...common, listen };
  });

  const recordingNames = new Set<string>();
  const recordings = raw.recording.map((entry, i): RecordingConfig => {
    if (recordingNames.has(entry.name)) fail(`recording[${i}].name: "${entry.name}" is used by another [[recording]]; names must be unique`);
    recordingNames.add(entry.name);
    if (entry.source.startsWith("live:") && !names.has(entry.source.slice(5))) {
      fail(`recording[${i}].source: no [[live]] channel named ${JSON.stringify(entry.source.slice(5))}`);
    }
    // Checked on its own: the cron library's error for it is paragraphs long and names the cron.
    if (entry.timezone !== undefined && !knownTimeZone(entry.timezone)) {
      fail(`recording[${i}].timezone: unknown time zone ${JSON.stringify(entry.timezone)} (an IANA name such as Europe/Berlin, or UTC)`);
    }
    if (entry.cron !== undefined) {
      let plan: RecordingPlan | null = null;
      try {
        plan = new RecordingPlan(entry.cron, Date.now(), entry.timezone);
      } catch (error) {
        fail(`recording[${i}].cron: ${(error as Error).message}`);
      }
      // A date that never comes (30 February) would be armed for nothing, its status "next -" for ever.
      if (plan?.nextMs === null) fail(`recording[${i}].cron: ${JSON.stringify(entry.cron)} never falls due (no such date?)`);
    }
    if (entry.cron !== undefined && entry.duration === undefined) fail(`recording[${i}].duration: missing; a scheduled recording needs one`);
    let durationMs: number | undefined;
    if (entry.duration !== undefined) {
      try {
        durationMs = parseSeconds(String(entry.duration), "duration") * 1000;
      } catch (error) {
        fail(`recording[${i}].duration: ${(error as Error).message}`);
      }
      if (!(durationMs! > 0)) fail(`recording[${i}].duration: expected more than 0`);
    }
    const at = (key: string, parse: () => unknown) => {
      try {
        return parse();
      } catch (error) {
        fail(`recording[${i}].${key}: ${(error as Error).message}`);
      }
    };
    const rotate = entry.rotate === undefined ? {} : (at("rotate", () => parseRotate(String(entry.rotate), "rotate")) as ReturnType<typeof parseRotate>);
    const staggerMs = entry.stagger === undefined ? undefined : (at("stagger", () => parseSeconds(String(entry.stagger), "stagger") * 1000) as number);
    if (entry.keep !== undefined) at("keep", () => parseKeep(String(entry.keep), "keep", entry.out));
    return {
      name: entry.name,
      source: entry.source,
      out: entry.out,
      ...rotate,
      ...(staggerMs !== undefined && { staggerMs }),
      ...(entry.keep !== undefined && { keep: entry.keep }),
      ...(entry.part !== undefined && { part: entry.part }),
      ...(entry.format !== undefined && { format: parseSampleFormat(entry.format) }),
      ...(entry.cron !== undefined && { cron: entry.cron }),
      ...(entry.timezone !== undefined && { timezone: entry.timezone }),
      ...(durationMs !== undefined && { durationMs }),
    };
  });

  return {
    source: sourceName,
    control,
    ...(raw.key_file !== undefined && { keyFile: raw.key_file }),
    mediaRoot: raw.media_root,
    interestTimeoutMs: Math.round(raw.interest_timeout * 1000),
    user: raw.user,
    ...(raw.group !== undefined && { group: raw.group }),
    allowDestinations: raw.allow_destinations.map((network) => parseCidr(network)),
    ...(http && { http }),
    limits: {
      maxJobs: raw.limits.max_jobs,
      maxJobsPerClient: raw.limits.max_jobs_per_client ?? raw.limits.max_jobs,
      maxDestinationsPerJob: raw.limits.max_destinations_per_job,
      requestsPerSecond: raw.limits.requests_per_second,
      requestBurst: raw.limits.request_burst,
      maxBitrate: raw.limits.max_bitrate,
      maxQueuedTracks: raw.limits.max_queued_tracks,
      maxQueuedTracksPerClient: raw.limits.max_queued_tracks_per_client ?? raw.limits.max_queued_tracks,
    },
    live,
    recordingRoot: raw.recording_root,
    recordings,
    ...(raw.speaker !== undefined && { speaker: speakerConfig(raw.speaker, sourceName, control) }),
  };
}

function speakerConfig(raw: NonNullable<RawConfig["speaker"]>, sourceName: string, control: HostPort): SpeakerConfig {
  const decoders: Record<string, DecoderConfig> = {};
  for (const [extension, decoder] of Object.entries(raw.decoders)) {
    decoders[extension.toLowerCase()] = { command: decoder.command, format: parseSampleFormat(decoder.format) };
  }
  let outputs: { follow: boolean; outputs: string[] };
  try {
    outputs = splitFollow(typeof raw.output === "string" ? [raw.output] : raw.output);
  } catch (error) {
    throw new ConfigError(`config ${sourceName}: speaker.output: ${(error as Error).message}`);
  }
  for (const output of outputs.outputs) {
    // A malformed output is said now: found when the first track opened it, it was "tried again"
    // with back-off for good, and a restart is needed to change it anyway.
    try {
      backendFor(output).check?.(output);
    } catch (error) {
      throw new ConfigError(`config ${sourceName}: speaker.output: ${(error as Error).message}`);
    }
    const loop = speakerOutputAtControl(output, control);
    if (loop) throw new ConfigError(`config ${sourceName}: speaker.output: ${output}: ${loop}`);
  }
  return {
    outputs: outputs.outputs,
    follow: outputs.follow,
    format: parseSampleFormat(raw.format),
    bufferSeconds: raw.buffer_seconds,
    idleCloseS: raw.idle_close,
    idle: raw.idle,
    ...(raw.on_start !== undefined && { onStart: raw.on_start }),
    ...(raw.on_finish !== undefined && { onFinish: raw.on_finish }),
    decoders,
  };
}

/**
 * Why a speaker `rtp://` output would land on this server's own control port, on this host, or
 * null. There, the speaker fed the control socket with its stream: the server answered itself
 * `too_large` for every datagram and spent its loopback clients' rate limit (one `pacer ctl ping`
 * in three got no reply). Judged as a play request's destination is (policy.ts ownPortAt); a host
 * name other than localhost is not looked up here.
 */
function speakerOutputAtControl(output: string, control: HostPort): string | null {
  if (!output.toLowerCase().startsWith("rtp://")) return null;
  const own = [{ port: control.port, what: "control" }];
  try {
    const endpoint = parseEndpoint(output);
    const host = endpoint.host.toLowerCase() === "localhost" ? "127.0.0.1" : endpoint.host;
    if (ownPortAt(host, endpoint.port, own)) return `port ${endpoint.port} is this server's own control port; send the stream to another port`;
    const rtcp = rtcpChoice(output, endpoint.params.get("rtcp"), endpoint.port);
    if (rtcp.kind === "port" && ownPortAt(host, rtcp.port, own)) {
      return `its RTCP would go to port ${rtcp.port}, this server's own control port; give rtcp=PORT, mux or off, or another port`;
    }
  } catch {
    // A malformed output is said where it opens, in the words every output's errors use.
  }
  return null;
}

/**
 * Loads the config at `path`, or the embedded default when `path` is undefined.
 * Throws ConfigError if the file cannot be read or is invalid.
 *
 * @example
 * ```ts
 * const config = await loadConfig("/etc/pacer.toml");
 * ```
 */
export async function loadConfig(path?: string): Promise<Config> {
  if (path === undefined) return parseConfig(DEFAULT_CONFIG_TOML, "(embedded default)");
  let bytes: Uint8Array;
  try {
    bytes = await readAtMost(path, MAX_CONFIG_BYTES + 1);
  } catch (e) {
    throw new ConfigError(
      `config ${path}: cannot read it (${errnoOf(e)}); check the path and permissions, or omit --config for the embedded default`,
    );
  }
  if (bytes.length > MAX_CONFIG_BYTES) {
    throw new ConfigError(`config ${path}: larger than ${MAX_CONFIG_BYTES / 1024 / 1024} MiB, which no config is; check the path`);
  }
  return parseConfig(new TextDecoder().decode(bytes), path);
}

/**
 * A config is a few KB; a thousand [[recording]] blocks are some 200 KB. Read whole, /dev/zero
 * or a wrong path to a large file took memory until the kernel killed the server.
 */
export const MAX_CONFIG_BYTES = 1024 * 1024;

/**
 * A FIFO (or a terminal) is opened without waiting and read as its bytes come: a FIFO no program
 * writes to gives nothing, and one whose writer is there gives EAGAIN until it writes. Read
 * blocking, such a key_file or config held its reload for good, and every reload queued behind it
 * (the one after the file was mended too) until the server restarted.
 */
const NO_WRITER_WAIT_MS = 1_000;
/** A writer that is there (`<(pass show pacer-key)`) may take its time, not for ever. */
const SILENT_WRITER_WAIT_MS = 30_000;
const PIPE_POLL_MS = 20;
const READ_NOW = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY;

/** Why a FIFO gave nothing, as an errno-like code for the callers' `cannot read it (…)`. */
function silentPipe(why: string): Error {
  return Object.assign(new Error(why), { code: why });
}

/**
 * The first `limit` bytes of the file at `path` (fewer where it ends first), read in order: a
 * pipe works too, within NO_WRITER_WAIT_MS for its writer to come and SILENT_WRITER_WAIT_MS for
 * its first byte.
 */
async function readAtMost(path: string, limit: number): Promise<Uint8Array> {
  const file = await open(path, READ_NOW);
  try {
    const pipe = (await file.stat()).isFIFO();
    const startedAt = performance.now();
    const buffer = new Uint8Array(limit);
    let length = 0;
    while (length < limit) {
      let bytesRead: number;
      try {
        ({ bytesRead } = await file.read(buffer, length, limit - length, null));
      } catch (error) {
        if (errnoOf(error) !== "EAGAIN") throw error;
        if (performance.now() - startedAt > SILENT_WRITER_WAIT_MS) throw silentPipe(`a FIFO that did not end within ${SILENT_WRITER_WAIT_MS / 1000} s`);
        await Bun.sleep(PIPE_POLL_MS);
        continue;
      }
      if (bytesRead === 0) {
        // A FIFO's end before its first byte may be its writer not there yet.
        if (!pipe || length > 0) break;
        if (performance.now() - startedAt > NO_WRITER_WAIT_MS) throw silentPipe("a FIFO that no program writes to");
        await Bun.sleep(PIPE_POLL_MS);
        continue;
      }
      length += bytesRead;
    }
    return buffer.subarray(0, length);
  } finally {
    await file.close();
  }
}

/** A key is 16 bytes or more; 64 hex digits is the usual. Read whole, /dev/zero took memory until the kernel killed the server. */
const MAX_KEY_FILE_BYTES = 64 * 1024;

const HEX_KEY = /^(?:[0-9a-fA-F]{2})+$/;

/**
 * Why a key file is open to others, or null: one every user of the host may read lets any of
 * them sign control requests (or feed a keyed channel). Said at start and at reload; it was
 * silent, and the server took such requests as the operator's.
 */
export function keyFileExposure(path: string | undefined): string | null {
  if (path === undefined) return null;
  let mode: number;
  try {
    mode = statSync(path).mode & 0o777;
  } catch {
    return null; // readKey has said what is wrong with it
  }
  if ((mode & 0o004) === 0) return null;
  return `key file ${path} is readable by every user of this host (mode ${mode.toString(8)}): any of them may sign requests with it; chmod 600 ${path} (640 for a group)`;
}

/**
 * Reads the shared control key. Surrounding whitespace is trimmed. A file of only hex digits (an
 * even count) is read as hex, so `openssl rand -hex 32 > key` works; anything else is used as raw
 * bytes. Server and `pacer ctl` both read keys here, so they always agree. The key must be at least
 * MIN_KEY_BYTES bytes. Throws KeyFileError.
 *
 * @example
 * ```ts
 * const key = await readKey("/etc/pacer/key"); // Uint8Array(32)
 * ```
 */
export async function readKey(path: string): Promise<Uint8Array> {
  let bytes: Uint8Array;
  try {
    bytes = await readAtMost(path, MAX_KEY_FILE_BYTES + 1);
  } catch (e) {
    throw new KeyFileError(
      `key file ${path}: cannot read it (${errnoOf(e)}); check the path, and that the user pacer runs as can read it`,
    );
  }
  if (bytes.length > MAX_KEY_FILE_BYTES) {
    throw new KeyFileError(`key file ${path}: larger than ${MAX_KEY_FILE_BYTES / 1024} KiB, which no key is; check the path, or write one with: openssl rand -hex 32 > ${path}`);
  }
  const isSpace = (b: number) => b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;
  let start = 0;
  let end = bytes.length;
  while (start < end && isSpace(bytes[start]!)) start++;
  while (end > start && isSpace(bytes[end - 1]!)) end--;
  const trimmed = bytes.slice(start, end);
  if (trimmed.length === 0) {
    throw new KeyFileError(`key file ${path}: it is empty; write a key with: openssl rand -hex 32 > ${path}`);
  }
  const asText = new TextDecoder().decode(trimmed);
  const key = HEX_KEY.test(asText) ? new Uint8Array(Buffer.from(asText, "hex")) : trimmed;
  if (key.length < MIN_KEY_BYTES) {
    throw new KeyFileError(
      `key file ${path}: the key is ${key.length} bytes, at least ${MIN_KEY_BYTES} are needed; write one with: openssl rand -hex 32 > ${path}`,
    );
  }
  return key;
}
