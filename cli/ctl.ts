/**
 * `pacer ctl`: sends control commands to a `pacer serve` (DESIGN.md, "pacer ctl").
 *
 * One command: retried with back-off (same id every time) until a reply or the TTL; exit 0 on an
 * ok reply, 1 on an error reply or no reply, 2 on a usage error. `status` and `list` follow the
 * pages (`next`) to the end.
 *
 * Pool mode (`--pool FILE --log FILE`): every line of FILE is one command in the same words. All
 * are sent round-robin, each with its own id and back-off, at most one datagram every
 * POOL_SPACING_MS (under the server's default rate limit); a line leaves the pool when answered.
 * Lines with no reply within the TTL ("ttl expired: no reply") or with an error reply
 * ("error reply: CODE message") are appended to the log. It prints "N acknowledged, M expired",
 * with ", E error replies" when the server refused some, and exits 0 only if every line was
 * acknowledged.
 */
import { appendFileSync, closeSync, openSync, readFileSync, rmSync } from "node:fs";
import { fsErrorText } from "../foundation/fs_error.ts";
import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { type ControlReply, type Op } from "../protocol/control.ts";
import { parsePoolFile, PoolFileError } from "../protocol/pool_file.ts";
import { readKey } from "../server/config.ts";
import {
  ControlClient,
  DEFAULT_SERVER,
  FIRST_RETRY_MS,
  formatSeconds,
  MAX_RETRY_MS,
  newRequestId,
  noReplyMessage,
} from "../client/control_client.ts";
import { PacerError, UsageError } from "../foundation/errors.ts";
import { usageFromParseArgs } from "./parse_args_errors.ts";
import type { Logger } from "../foundation/log.ts";
import { parseBitrate, parseSeconds } from "../foundation/units.ts";

export const CTL_HELP = `Usage: pacer ctl [--server HOST:PORT] [--key FILE] [--ttl SECONDS] [--json] OP ...
       pacer ctl [--server HOST:PORT] [--key FILE] [--ttl SECONDS] --pool FILE --log FILE

Sends a control command to pacer serve and retries until it is acknowledged
or its time-to-live runs out.

Ops:
  ping | status [JOB] | list | reload
                        status JOB: one job and every destination of it
  play NAME --to URL [--to URL ...] [--bitrate R] [--loop] [--start S] [--persistent]
                        to rtp:// or udp:// URLs; prints the job id. The stream
                        stops, cutting off whatever is left, unless
                        "interest JOB" follows within the server's
                        interest_timeout (10 s by default), again and again: to
                        receive a whole stream use pacer recv, which keeps it
                        alive; --persistent streams (needing --key on a keyed
                        server) run to the end without interest.
  stop JOB | interest JOB
  queue PATH [--id ID] [--after ID] [--first]
                        queues a track for the speaker; prints its id and place
                        (0 plays next)
  pause | resume | cancel ID | clear
                        cancel moves a playing track on to the next and removes
                        a queued one; clear removes every queued track
  record start NAME | record stop NAME

Options:
  --server HOST:PORT   the server (default ${DEFAULT_SERVER})
  --key FILE           the shared key: requests are signed with HMAC-SHA256
  --ttl SECONDS        give up after this long (default 5)
  --json               print the raw reply
  --pool FILE          send every command in FILE (one per line), round-robin
  --log FILE           with --pool: where expired and refused commands are appended

Exit status: 0 ok; 1 error reply or no reply within the TTL; 2 usage error.
`;

const DEFAULT_TTL_S = 5;
/** Pool mode sends at most one datagram this often: 50 a second, the server's default rate. */
const POOL_SPACING_MS = 20;
/** `status` and `list` pages followed at most. */
const MAX_PAGES = 10_000;

/** A command as it goes on the wire. */
export interface CtlCommand {
  readonly op: Op;
  readonly args: Record<string, unknown>;
}

function expectWords(op: string, positionals: string[], names: string[]): string[] {
  if (positionals.length !== names.length) {
    const usage = names.length ? `${op} ${names.join(" ")}` : op;
    throw new UsageError(`${op}: expected "${usage}" (see pacer ctl --help)`);
  }
  return positionals;
}

/**
 * Turns the words of one command ("play news.ts --to rtp://…") into an op and its args, as the
 * command line and pool files both write them. Throws UsageError.
 *
 * @example
 * ```ts
 * commandFromWords(["stop", "job-3"]); // { op: "stop", args: { job: "job-3" } }
 * ```
 */
export function commandFromWords(words: readonly string[]): CtlCommand {
  const [op, ...rest] = words;
  if (op === undefined) throw new UsageError("ctl: no OP given (see pacer ctl --help)");
  const parse = <T extends ParseArgsOptionsConfig>(options: T) => {
    try {
      return parseArgs({ args: rest, allowPositionals: true, strict: true, options });
    } catch (error) {
      const usage = usageFromParseArgs(error, "pacer ctl");
      throw usage ? new UsageError(`${op}: ${usage.message}`) : error;
    }
  };
  switch (op) {
    case "status": {
      // `status JOB`: one job, every destination of it (the server pages them).
      const { positionals } = parse({});
      if (positionals.length === 0) return { op, args: {} };
      const [job] = expectWords(op, positionals, ["JOB"]);
      return { op, args: { job } };
    }
    case "ping":
    case "list":
    case "reload":
    case "pause":
    case "resume":
    case "clear":
      expectWords(op, parse({}).positionals, []);
      return { op, args: {} };
    case "stop":
    case "interest": {
      const [job] = expectWords(op, parse({}).positionals, ["JOB"]);
      return { op, args: { job } };
    }
    case "cancel": {
      const [id] = expectWords(op, parse({}).positionals, ["ID"]);
      return { op, args: { id } };
    }
    case "queue": {
      const { values, positionals } = parse({ id: { type: "string" }, after: { type: "string" }, first: { type: "boolean" } });
      const [path] = expectWords(op, positionals, ["PATH"]);
      if (values.after !== undefined && values.first) throw new UsageError("queue: give --after ID or --first, not both");
      return {
        op,
        args: {
          path,
          ...(values.id !== undefined && { id: values.id }),
          ...(values.after !== undefined && { after: values.after }),
          ...(values.first && { first: true }),
        },
      };
    }
    case "record": {
      const [action, name] = expectWords(op, parse({}).positionals, ["start|stop", "NAME"]);
      if (action !== "start" && action !== "stop") throw new UsageError(`record: expected "record start NAME" or "record stop NAME"`);
      return { op, args: { action, name } };
    }
    case "play": {
      const { values, positionals } = parse({
        to: { type: "string", multiple: true },
        bitrate: { type: "string" },
        loop: { type: "boolean" },
        start: { type: "string" },
        persistent: { type: "boolean" },
      });
      const [source] = expectWords(op, positionals, ["NAME"]);
      const to = values.to as string[] | undefined;
      if (!to || to.length === 0) throw new UsageError("play: give at least one --to URL");
      const args: Record<string, unknown> = { source, to };
      if (values.bitrate !== undefined) args.bitrate = parseBitrate(values.bitrate as string, "--bitrate");
      if (values.loop) args.loop = true;
      if (values.start !== undefined) args.start = parseSeconds(values.start as string, "--start");
      if (values.persistent) args.persistent = true;
      return { op, args };
    }
  }
  // An option ctl does not know is left among the words, and first of them when it comes before the op.
  if (op.startsWith("-") && op !== "--") throw new UsageError(`unknown option ${op} (see pacer ctl --help)`);
  throw new UsageError(`ctl: unknown op "${op}" (see pacer ctl --help)`);
}

interface CtlOptions {
  server: string;
  keyFile?: string;
  ttlMs: number;
  json: boolean;
  pool?: string;
  log?: string;
}

const VALUE_OPTIONS = new Set(["--server", "--key", "--ttl", "--pool", "--log"]);

/** Takes ctl's own options out of argv wherever they are; the rest are the command's words. */
function splitCtlOptions(argv: string[]): { options: CtlOptions; words: string[]; help: boolean } {
  // --help anywhere is help: after an op (`ctl status --help`) it was an unknown option of the op.
  const options: CtlOptions = { server: DEFAULT_SERVER, ttlMs: DEFAULT_TTL_S * 1000, json: false };
  const words: string[] = [];
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    // After "--", every word is the op's, as written (`ctl queue -- --json` queues a file named --json).
    if (arg === "--") {
      // Before the op (`ctl -- ping`), the op is the next word and the rest are its, as written.
      if (words.length > 0) words.push(...argv.slice(i));
      else if (i + 1 < argv.length) words.push(argv[i + 1]!, "--", ...argv.slice(i + 2));
      break;
    }
    const eq = arg.indexOf("=");
    const name = arg.startsWith("--") && eq > 0 ? arg.slice(0, eq) : arg;
    if (VALUE_OPTIONS.has(name)) {
      const value = eq > 0 && name !== arg ? arg.slice(eq + 1) : argv[++i];
      if (value === undefined) throw new UsageError(`ctl: ${name} needs a value (see pacer ctl --help)`);
      if (name === "--server") options.server = value;
      else if (name === "--key") options.keyFile = value;
      else if (name === "--pool") options.pool = value;
      else if (name === "--log") options.log = value;
      else {
        const seconds = parseSeconds(value, "--ttl");
        if (!(seconds > 0)) throw new UsageError(`--ttl "${value}": must be more than 0 seconds`);
        options.ttlMs = seconds * 1000;
      }
    } else if (arg === "--json") options.json = true;
    else if (arg === "--help" || arg === "-h") help = true;
    else words.push(arg);
  }
  return { options, words, help };
}

export async function runCtl(argv: string[], log: Logger): Promise<number> {
  const { options, words, help } = splitCtlOptions(argv);
  if (help) {
    process.stdout.write(words.length > 0 ? opHelp(words[0]!) : CTL_HELP);
    return 0;
  }
  if (options.pool !== undefined) {
    if (words.length > 0) throw new UsageError(`ctl: --pool takes its commands from the file, not "${words[0]}"`);
    if (options.log === undefined) throw new UsageError("ctl: --pool needs --log FILE for the commands that expire");
    return runPool(options.pool, options.log, options, log);
  }
  if (options.log !== undefined) throw new UsageError("ctl: --log goes with --pool");
  const command = commandFromWords(words);
  const key = options.keyFile ? await readKey(options.keyFile) : undefined;
  const client = await ControlClient.open(options.server, key);
  try {
    if (command.op === "status" || command.op === "list") return await runPaged(client, command, options);
    const reply = await client.request(command.op, command.args, { ttlMs: options.ttlMs });
    return report(command, reply, options.json);
  } finally {
    client.close();
  }
}

/**
 * `pacer ctl OP --help`: the op's entry of CTL_HELP's list (its line and the lines indented under
 * it), or the whole help for a word that is no op.
 */
export function opHelp(op: string): string {
  const list = CTL_HELP.slice(CTL_HELP.indexOf("Ops:\n") + 5, CTL_HELP.indexOf("\nOptions:"));
  const entries = list.split(/\n(?=  \S)/);
  if (!/^[a-z]+$/.test(op)) return CTL_HELP; // no op, and no word to put in a pattern
  const entry = entries.find((e) => new RegExp(`^  (.*\\| )?${op}\\b`).test(e.split("\n")[0]!));
  if (!entry) return CTL_HELP;
  return `Usage: pacer ctl [--server HOST:PORT] [--key FILE] [--ttl SECONDS] [--json] OP ...\n\n${entry.trimEnd()}\n\nRun "pacer ctl --help" for every op and ctl's options.\n`;
}

/** Prints a reply; returns the exit status. */
function report(command: CtlCommand, reply: ControlReply, json: boolean): number {
  if (json) process.stdout.write(JSON.stringify(reply) + "\n");
  if (!reply.ok) {
    const message = reply.error.message ? `: ${reply.error.message}` : "";
    process.stderr.write(`pacer: error: ${command.op}: ${reply.error.code}${message}\n`);
    return 1;
  }
  if (json) return 0;
  const result = (reply.result ?? {}) as Record<string, unknown>;
  switch (command.op) {
    case "play":
      process.stdout.write(`${String(result.job)}\n`);
      break;
    case "ping":
      process.stdout.write(`pong (pacer ${String(result.version ?? "?")})\n`);
      break;
    case "stop":
      process.stdout.write(`stopped ${String(result.job)}\n`);
      break;
    case "interest":
      process.stdout.write(`${String(result.job)}: interest renewed${result.expires_in === null ? " (persistent)" : ` for ${String(result.expires_in)} s`}\n`);
      break;
    case "reload":
      process.stdout.write(`reloaded ${String(result.config)}\n`);
      break;
    case "queue":
      process.stdout.write(`${String(result.id)}\tqueued at ${String(result.position)}${result.position === 0 ? " (next)" : ""}\n`);
      break;
    case "pause":
      process.stdout.write("paused\n");
      break;
    case "resume":
      process.stdout.write("resumed\n");
      break;
    case "cancel":
      process.stdout.write(`cancelled ${String(result.id)} (${result.was === "playing" ? "was playing" : "was queued"})\n`);
      break;
    case "clear":
      process.stdout.write(`cleared ${String(result.cleared)} queued track${result.cleared === 1 ? "" : "s"}\n`);
      break;
    case "record": {
      const last = result.last as { state: string; files: number; bytes: number } | undefined;
      process.stdout.write(last ? `stopped recording ${String(result.name)}: ${last.state}, ${last.files} file${last.files === 1 ? "" : "s"}, ${last.bytes} bytes\n` : `started recording ${String(result.name)}\n`);
      break;
    }
    default:
      process.stdout.write(JSON.stringify(reply.result) + "\n");
  }
  return 0;
}

/** `status` and `list`: fetches every page, then prints them together. */
async function runPaged(client: ControlClient, command: CtlCommand, options: CtlOptions): Promise<number> {
  const pages = await fetchPages(client, command, options);
  if (!Array.isArray(pages)) return report(command, pages, false);
  // The speaker's waiting tracks are paged on their own (status {queue: true}).
  const speaker = (pages[0] as StatusPage | undefined)?.speaker;
  let queue: Record<string, unknown>[] = [];
  if (command.op === "status" && speaker && speaker.queue_length > 0) {
    const queuePages = await fetchPages(client, { op: "status", args: { queue: true } }, options);
    if (!Array.isArray(queuePages)) return report(command, queuePages, false);
    queue = queuePages;
  }
  // ...and so are the recordings, when they did not fit the first page (recordings_total).
  const first = pages[0] as StatusPage | undefined;
  if (command.op === "status" && first && first.recordings === undefined && (first.recordings_total ?? 0) > 0) {
    const recordingPages = await fetchPages(client, { op: "status", args: { recordings: true } }, options);
    if (!Array.isArray(recordingPages)) return report(command, recordingPages, false);
    first.recordings = recordingPages.flatMap((page) => (page.recordings as RecordingPart[] | undefined) ?? []);
  }
  if (options.json) return 0;
  if (command.op === "list") {
    for (const page of pages) {
      for (const item of (page.items as ListItem[] | undefined) ?? []) process.stdout.write(listLine(item));
    }
    return 0;
  }
  if (command.args.job !== undefined) {
    process.stdout.write(jobLines(oneJob(pages.map((page) => page.job as JobPart))).join("\n") + "\n");
    return 0;
  }
  process.stdout.write(formatStatus(pages, queue as QueuePage[]));
  return 0;
}

type ListItem =
  | { name: string; kind: "live"; state: string; rate: number; source: string | null; jobs: number }
  | { name: string; kind: string; duration: number | null };

/** One `list` line: a medium with its duration, or a live channel with its state, rate, source and jobs. */
function listLine(item: ListItem): string {
  if ("state" in item) {
    const rate = `${(item.rate / 1e6).toFixed(2)} Mbit/s`;
    return `${item.name}\tlive\t${item.state}\t${rate}\t${item.source ?? "-"}\t${item.jobs} jobs\n`;
  }
  const duration = item.duration === null ? "unknown" : `${item.duration.toFixed(3)} s`;
  return `${item.name}\t${item.kind}\t${duration}\n`;
}

/** Every page of a paged op, printing each reply with --json; the error reply that stopped it, if any. */
async function fetchPages(client: ControlClient, command: CtlCommand, options: CtlOptions): Promise<Record<string, unknown>[] | ControlReply> {
  const pages: Record<string, unknown>[] = [];
  let offset = 0;
  for (let n = 0; n < MAX_PAGES; n++) {
    const reply = await client.request(command.op, { ...command.args, offset }, { ttlMs: options.ttlMs });
    if (options.json) process.stdout.write(JSON.stringify(reply) + "\n");
    if (!reply.ok) return reply;
    const page = (reply.result ?? {}) as Record<string, unknown>;
    pages.push(page);
    if (typeof page.next !== "number" || page.next <= offset) break;
    offset = page.next;
  }
  return pages;
}

interface SpeakerPart {
  state: string;
  output: string;
  paused: boolean;
  playing: { id: string; path: string; position: number; duration: number | null; starved_s?: number } | null;
  queue_length: number;
  finished: { id: string; path: string; status: string; error?: string; lost_s?: number; starved_s?: number }[];
  output_error?: string;
}

interface QueuePage {
  queue?: { id: string; path: string }[];
}

/** The speaker's lines of `status`. */
function formatSpeaker(speaker: SpeakerPart, queue: QueuePage[]): string[] {
  const lines = [`speaker: ${speaker.state}, output ${speaker.output}, ${speaker.queue_length} queued`];
  if (speaker.output_error) lines.push(`  waiting for the output: ${speaker.output_error}`);
  const p = speaker.playing;
  if (p) {
    const duration = p.duration === null ? "" : ` of ${p.duration.toFixed(1)} s`;
    lines.push(`  ${speaker.paused ? "paused" : "playing"} ${p.id}\t${p.path}\t${p.position.toFixed(1)} s${duration}${starvedText(p)}`);
  }
  let n = 0;
  for (const page of queue) for (const t of page.queue ?? []) lines.push(`  ${n++}. ${t.id}\t${t.path}`);
  for (const t of speaker.finished) {
    const lost = t.lost_s === undefined ? "" : `\tlost ${t.lost_s.toFixed(1)} s`;
    lines.push(`  ${t.status} ${t.id}\t${t.path}${t.error ? `\t${t.error}` : ""}${lost}${starvedText(t)}`);
  }
  return lines;
}

/** How long the output waited for a track's audio (its decoder slower than real time), for its line. */
function starvedText(track: { starved_s?: number }): string {
  return track.starved_s === undefined ? "" : `\twaited ${track.starved_s.toFixed(1)} s for its audio`;
}

/** A job as a status page shows it: running (its destinations, or their count and totals) or finished. */
interface JobPart {
  id: string;
  source: string;
  persistent?: boolean;
  expires_in?: number | null;
  /** A list, or a count with the totals beside it (a job too big for a page of its own). */
  destinations?: { to: string; units: number; bytes: number; state: string }[] | number;
  state?: string;
  units?: number;
  bytes?: number;
  /** A finished job's end (`status JOB` only). */
  ended?: string;
}

interface StatusPage {
  server?: Record<string, unknown>;
  speaker?: SpeakerPart;
  recordings?: RecordingPart[];
  /** How many recordings there are, when they are paged on their own (status {recordings: true}). */
  recordings_total?: number;
  lateness?: Record<string, { count: number; p50: number; p99: number; max: number }>;
  jobs?: JobPart[];
}

interface RecordingPart {
  name: string;
  next: string | null;
  state: string;
  /**
   * `files` is the first name and the newest few (only the newest on a page too small), so the
   * count is `files_total`; an older server sent that only with the newest, and every name else.
   */
  last: { state: string; started: string; files: string[]; files_total?: number; bytes: number; error: string | null } | null;
}

/** One line per recording: its state, next run, and how its last run went. */
function recordingLine(r: RecordingPart): string {
  const files = r.last ? (r.last.files_total ?? r.last.files.length) : 0;
  const last = r.last ? `last ${r.last.state} at ${r.last.started}, ${files} file${files === 1 ? "" : "s"}, ${r.last.bytes} bytes${r.last.error ? ` (${r.last.error})` : ""}` : "no run yet";
  return `recording ${r.name}\t${r.state}\tnext ${r.next ?? "-"}\t${last}`;
}

function formatStatus(pages: StatusPage[], queue: QueuePage[]): string {
  const first = pages[0] ?? {};
  const s = first.server ?? {};
  const lines = [
    `server: pacer ${String(s.version)}, up ${String(s.uptime)} s, ${String(s.jobs)} jobs, ${String(s.requests)} requests, ` +
      `${String(s.rate_limited)} rate-limited, ${String(s.overloaded ?? 0)} overloaded, dropped ${JSON.stringify(s.dropped)}` +
      (s.stalls ? `, stalled ${String(s.stalls)} times (${String(s.stalled_ms)} ms)` : ""),
  ];
  for (const [kind, l] of Object.entries(first.lateness ?? {})) {
    lines.push(`lateness ${kind}: p50 ${l.p50} µs, p99 ${l.p99} µs, max ${l.max} µs (${l.count} events)`);
  }
  if (first.speaker) lines.push(...formatSpeaker(first.speaker, queue));
  for (const r of first.recordings ?? []) lines.push(recordingLine(r));
  for (const page of pages) for (const job of page.jobs ?? []) lines.push(...jobLines(job));
  return lines.join("\n") + "\n";
}

/** The job of `status JOB` from each of its pages, its destinations gathered. */
function oneJob(pages: JobPart[]): JobPart {
  const first = pages[0]!;
  if (!Array.isArray(first.destinations)) return first; // finished: one page, no destinations
  return { ...first, destinations: pages.flatMap((page) => (Array.isArray(page.destinations) ? page.destinations : [])) };
}

/** A job's line, then a line per destination (or their count and totals). */
function jobLines(job: JobPart): string[] {
  const ending = job.state !== undefined && job.state !== "running"; // stopped or expired, its outputs still closing
  const expiry = job.ended ? `${job.state} ${job.ended}` : ending ? `${job.state}, closing` : job.persistent ? "persistent" : job.expires_in == null ? "" : `interest ${job.expires_in} s`;
  const lines = [`${job.id}\t${job.source}\t${expiry}`];
  if (Array.isArray(job.destinations)) {
    for (const d of job.destinations) lines.push(`  ${d.to}\t${d.state}\t${d.units} packets\t${d.bytes} bytes`);
  } else if (typeof job.destinations === "number") {
    // Too big for a page of its own: the server sent its totals only (`pacer ctl status JOB` has the rest).
    lines.push(`  ${job.destinations} destinations\t${job.state}\t${job.units} packets\t${job.bytes} bytes`);
  }
  return lines;
}

interface PoolEntry {
  readonly line: number;
  readonly text: string;
  readonly command: CtlCommand;
  readonly id: string;
  nextSendMs: number;
  gapMs: number;
}

async function runPool(poolPath: string, logPath: string, options: CtlOptions, log: Logger): Promise<number> {
  let text: string;
  try {
    text = readFileSync(poolPath, "utf8");
  } catch (error) {
    throw new PacerError(`--pool ${poolPath}: cannot read it: ${fsErrorText(error)}`);
  }
  let parsed;
  try {
    parsed = parsePoolFile(text, poolPath);
  } catch (error) {
    if (error instanceof PoolFileError) throw new UsageError(error.message);
    throw error;
  }
  const lines = text.split("\n");
  const batch = newRequestId().slice(0, 8);
  const pending: PoolEntry[] = parsed.map((c) => {
    let command: CtlCommand;
    try {
      command = commandFromWords(c.words);
    } catch (error) {
      throw new UsageError(`${poolPath}:${c.line}: ${(error as Error).message}`);
    }
    return { line: c.line, text: lines[c.line - 1]!.trim(), command, id: `${batch}-${c.line}`, nextSendMs: 0, gapMs: FIRST_RETRY_MS };
  });
  const key = options.keyFile ? await readKey(options.keyFile) : undefined;
  const poolLog = openPoolLog(logPath);
  let logged = false;
  try {
    const appendLog = (line: string) => {
      try {
        appendFileSync(poolLog.fd, line);
        logged = true;
      } catch (error) {
        // A disk that fills meanwhile: the line is still on stderr (sendPool warns each one).
        log.error(`--log ${logPath}: cannot write it: ${fsErrorText(error)}`);
      }
    };
    return await sendPool(poolPath, pending, options, key, log, appendLog);
  } finally {
    closeSync(poolLog.fd);
    // As before the log was opened early: no log at all when nothing went wrong.
    if (poolLog.created && !logged) rmSync(logPath, { force: true });
  }
}

/**
 * The pool's log, opened for appending before a command is sent: a log that cannot be written is
 * then one line while nothing has run, not an error after every command went out. `created`: it
 * was not there before (a log left empty is taken away again).
 */
function openPoolLog(path: string): { fd: number; created: boolean } {
  try {
    try {
      return { fd: openSync(path, "ax"), created: true };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      return { fd: openSync(path, "a"), created: false };
    }
  } catch (error) {
    throw new PacerError(`--log ${path}: cannot open it: ${fsErrorText(error)}`);
  }
}

async function sendPool(
  poolPath: string,
  pending: PoolEntry[],
  options: CtlOptions,
  key: Uint8Array | undefined,
  log: Logger,
  appendLog: (line: string) => void,
): Promise<number> {
  const client = await ControlClient.open(options.server, key);
  let acknowledged = 0;
  let refused = 0;
  let expired = 0;
  const record = (entry: PoolEntry, reason: string) => {
    appendLog(`${new Date().toISOString()} ${poolPath}:${entry.line}: ${entry.text}: ${reason}\n`);
    log.warn(`${poolPath}:${entry.line}: ${reason}`);
  };
  client.onReply = (reply) => {
    const index = pending.findIndex((e) => e.id === reply.id);
    if (index < 0) return; // a late duplicate of an answered line
    const [entry] = pending.splice(index, 1);
    if (reply.ok) {
      acknowledged++;
      if (options.json) process.stdout.write(JSON.stringify(reply) + "\n");
    } else {
      refused++;
      record(entry!, `error reply: ${reply.error.code}${reply.error.message ? ` ${reply.error.message}` : ""}`);
    }
  };
  const deadline = performance.now() + options.ttlMs;
  let cursor = 0;
  try {
    while (pending.length > 0 && performance.now() < deadline) {
      const now = performance.now();
      // Round-robin: the next line after the last one sent whose back-off has passed.
      let sent = false;
      for (let k = 0; k < pending.length; k++) {
        const entry = pending[(cursor + k) % pending.length]!;
        if (entry.nextSendMs > now) continue;
        client.send(entry.id, entry.command.op, entry.command.args);
        entry.nextSendMs = now + entry.gapMs;
        entry.gapMs = Math.min(entry.gapMs * 2, MAX_RETRY_MS);
        cursor = (cursor + k + 1) % Math.max(1, pending.length);
        sent = true;
        break;
      }
      await Bun.sleep(sent ? POOL_SPACING_MS : 5);
    }
    // Replies already on their way get a moment to land.
    if (pending.length > 0) await Bun.sleep(Math.min(POOL_SPACING_MS, Math.max(0, deadline - performance.now())));
    for (const entry of pending.splice(0)) {
      expired++;
      record(entry, `ttl expired: no reply from ${options.server} within ${formatSeconds(options.ttlMs)}`);
    }
    // Said once, not on every line: what to check when the server kept silent.
    if (expired > 0 && acknowledged + refused === 0) log.warn(noReplyMessage(options.server, options.ttlMs, key !== undefined));
  } finally {
    client.close();
  }
  const errors = refused === 0 ? "" : `, ${refused} error ${refused === 1 ? "reply" : "replies"}`;
  process.stdout.write(`${acknowledged} acknowledged, ${expired} expired${errors}\n`);
  return expired + refused === 0 ? 0 : 1;
}
