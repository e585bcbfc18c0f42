/**
 * The control ops of `pacer serve` (DESIGN.md, "Ops"): one function per op, and `dispatch`,
 * which runs the one a request names and turns an OpError into an error reply.
 *
 * | op | args | result |
 * |---|---|---|
 * | ping | – | `{pong: true, version}` |
 * | status | `offset`, `limit`; or `job` (its destinations paged by `offset`, `limit`); or `queue: true` | `{server, lateness, speaker, jobs, offset, next}` (server, lateness and speaker on the first page only), `{job, total, offset, next}` for one job, or the speaker's queue paged |
 * | list | `offset`, `limit` | `{items: [{name, kind, duration}], total, offset, next}`; live channels first as `{name: "live:X", kind: "live", state, rate, source, jobs, drops}` |
 * | play | see play_op.ts (`source`, `to`, `bitrate`, `loop`, `start`, `offset`, `persistent`) | `{job, interest_timeout, ssrc}` |
 * | stop | `job` | `{job, stopped: true}` |
 * | interest | `job` | `{job, expires_in}` (seconds; null for a persistent job) |
 * | reload | – | `{config}` (where the config came from); error `invalid_config` with the config's one-line error |
 * | queue, pause, resume, cancel, clear | see speaker_ops.ts | error `not_available` without a speaker |
 * | record | `action` ("start" or "stop"), `name` | start: `{name, started: true}`; stop: `{name, stopped: true, last}` (see recording/recordings.ts) |
 *
 * A job belongs to the address that started it: `stop`, `interest` and `status {job}` are accepted
 * from that address, or from any authenticated request (a keyholder, such as the database server);
 * anyone else gets `forbidden`. A `status` page shows an unauthenticated requester its own jobs only.
 *
 * Every op gets the same two things: the running server (server_context.ts) and who asked.
 *
 * @example
 * ```ts
 * const reply = await dispatch(server, req, { address, port, authenticated, replyBudget: 1400 });
 * const endpoint = new ControlEndpoint({ ops: serverOps(server), scheduler, log, limits });
 * ```
 */

import pkg from "../package.json" with { type: "json" };
import { type ControlReply, type ControlRequest, errorReply, MAX_DATAGRAM, okReply } from "../protocol/control.ts";
import type { Scheduler } from "../scheduler/scheduler.ts";
import { ConfigError, KeyFileError } from "./config.ts";
import type { ControlOps, RequestContext } from "./control_server.ts";
import { cutText } from "../foundation/cut_text.ts";
import { ipKey } from "../foundation/net/address.ts";
import type { FinishedJob, ServedJob } from "./jobs.ts";
import { checkKeys, OpError, optionalString, pageArgs, requireString } from "./op_args.ts";
import { fitPage } from "./paging.ts";
import { playOp } from "./play_op.ts";
import { cancelOp, clearOp, pauseOp, queueOp, queueStatusOp, resumeOp, speakerSummary } from "./speaker_ops.ts";
import type { ServerContext } from "./server_context.ts";
import { RunError } from "./recording/recording_run.ts";

const MAX_PAGE = 100;
/** A compact job's source, or a compact destination's URL, is cut to this many characters (a page must hold one). */
const COMPACT_CHARS = 120;
/** Beside the first item's compact form on a page with a header: its comma and a larger `next`. */
const JOB_SLACK_BYTES = 16;
const MAX_JOB_ID = 32;
/** `live:` and a 64-character channel name. */
const MAX_RECORDING_NAME = 69;

type OpHandler = (server: ServerContext, req: ControlRequest, ctx: RequestContext) => Promise<unknown> | unknown;

const HANDLERS: Record<ControlRequest["op"], OpHandler> = {
  ping: (_server, req) => {
    checkKeys(req.args, []);
    return { pong: true, version: pkg.version };
  },
  status: statusOp,
  list: listOp,
  play: (server, req, ctx) => playOp(server, req.args, ctx),
  stop: async (server, req, ctx) => {
    const served = ownedJob(server, req, ctx);
    await server.jobs.stop(served.id);
    server.log.info("job stop requested", { job: served.id, from: ctx.address });
    return { job: served.id, stopped: true };
  },
  interest: (server, req, ctx) => {
    const served = ownedJob(server, req, ctx);
    // Expired or stopped, its outputs still closing: no interest keeps it. It was answered ok with
    // `expires_in` null, which says persistent, and the client went on waiting for its stream.
    if (served.endReason !== null) throw new OpError("not_found", `${served.id} has finished (${served.endReason})`);
    const leftMs = server.jobs.refresh(served.id);
    return { job: served.id, expires_in: leftMs === null ? null : leftMs / 1000 };
  },
  reload: async (server, req, ctx) => {
    checkKeys(req.args, []);
    try {
      const config = await server.reload(ctx.address);
      return { config: config.source };
    } catch (error) {
      if (error instanceof ConfigError || error instanceof KeyFileError) {
        throw new OpError("invalid_config", `${error.message}; the old config stays in force`);
      }
      throw error;
    }
  },
  queue: (server, req, ctx) => queueOp(server, req.args, ctx),
  pause: (server, req) => pauseOp(server, req.args),
  resume: (server, req) => resumeOp(server, req.args),
  cancel: (server, req) => cancelOp(server, req.args),
  clear: (server, req) => clearOp(server, req.args),
  record: recordOp,
};

/**
 * Runs the op `req` names. Never throws: an OpError becomes an error reply with its code, and
 * anything else an `internal` error (logged). The reply comes at once for ops that do not wait
 * (ping, status, interest…), so the control intake can account for their time.
 */
export function dispatch(server: ServerContext, req: ControlRequest, ctx: RequestContext): ControlReply | Promise<ControlReply> {
  const failed = (error: unknown): ControlReply => {
    if (error instanceof OpError) return errorReply(req.id, error.code, error.message);
    server.log.error(`op ${req.op} failed: ${(error as Error).stack ?? error}`);
    return errorReply(req.id, "internal", "the server failed to carry out the request; see its log");
  };
  try {
    const result = HANDLERS[req.op](server, req, ctx);
    if (result instanceof Promise) return result.then((r) => okReply(req.id, r), failed);
    return okReply(req.id, result);
  } catch (error) {
    return failed(error);
  }
}

/** The ops of the running `server`, as the control endpoint runs them. */
export function serverOps(server: ServerContext): ControlOps {
  return { run: (req, from) => dispatch(server, req, from) };
}

/** The running job named by `args.job`, if the requester may act on it. */
function ownedJob(server: ServerContext, req: ControlRequest, ctx: RequestContext): ServedJob {
  checkKeys(req.args, ["job"]);
  const id = requireString(req.args, "job", MAX_JOB_ID);
  const job = findOwnJob(server, id, ctx);
  if ("job" in job) return job;
  throw new OpError("not_found", `${id} has finished (${job.state})`);
}

/** The job `id`, running or finished, if `from` may see it; throws OpError otherwise. */
function findOwnJob(server: ServerContext, id: string, from: RequestContext): ServedJob | FinishedJob {
  const job = server.jobs.get(id) ?? server.jobs.finished(id);
  if (!job) throw new OpError("not_found", `no job ${id}`);
  if (!mayActOn(from)(job.owner)) {
    throw new OpError("forbidden", `${id} was started by another address; only that address (or an authenticated request) may stop, refresh or inspect it`);
  }
  return job;
}

/** Which jobs, by their owner's address, `from` may act on: a keyholder on any, anyone else on their own. */
function mayActOn(from: RequestContext): (owner: string) => boolean {
  if (from.authenticated) return () => true;
  const requester = ipKey(from.address);
  return (owner) => ipKey(owner) === requester;
}

/** One destination of a running job as `status` reports it. */
function destinationStatus(d: ServedJob["job"]["destinations"][number]) {
  return {
    to: d.label,
    state: d.state,
    units: d.backend.counters.units,
    bytes: d.backend.counters.bytes,
    errors: d.backend.counters.errors,
    reanchors: d.pace.reanchors,
    pacing: d.pacing.summary(),
  };
}

/** A running job as `status` reports it, before its destinations: one already ending by its end (stopped, expired), as it will be once its outputs close. */
function jobHeader(server: ServerContext, served: ServedJob) {
  const expiresMs = server.jobs.expiresInMs(served);
  return {
    id: served.id,
    source: served.source,
    state: served.endReason ?? "running",
    persistent: served.persistent,
    owner: served.owner,
    age: Math.round((Date.now() - served.startedAtMs) / 1000),
    expires_in: expiresMs === null ? null : expiresMs / 1000,
    loops: served.job.loops,
  };
}

/** One running job as `status` reports it. */
export function jobStatus(server: ServerContext, served: ServedJob) {
  return { ...jobHeader(server, served), destinations: served.job.destinations.map(destinationStatus) };
}

/** A finished job as `status {job}` reports it: snake_case and an ISO time, as the recordings' `last`. */
function finishedJobStatus(job: FinishedJob) {
  return { id: job.id, source: job.source, state: job.state, owner: job.owner, ended: new Date(job.endedAtMs).toISOString() };
}

/** A job too big for a page of its own (many destinations): totals only, and its source cut, so it fits beside the first page's header. */
function compactJobStatus(status: ReturnType<typeof jobStatus>) {
  let units = 0;
  let bytes = 0;
  for (const d of status.destinations) {
    units += d.units;
    bytes += d.bytes;
  }
  const { id, state, persistent, expires_in } = status;
  return { id, source: cutText(status.source, COMPACT_CHARS), state, persistent, expires_in, destinations: status.destinations.length, units, bytes };
}

/** A destination too big for a page of its own (a long URL beside a long source): its counts, its URL cut. */
function compactDestinationStatus(status: ReturnType<typeof destinationStatus>) {
  const { state, units, bytes } = status;
  return { to: cutText(status.to, COMPACT_CHARS), state, units, bytes };
}

/**
 * `status {job, offset?, limit?}`: one job, its destinations paged (`total`, `offset`, `next`, as
 * every paged answer), so any job fits a datagram. Before, five destinations' pacing made the
 * answer larger than a datagram and it failed with a bare `too_large`. The job's own fields come
 * on every page; its source is cut when it would leave no room for a whole destination, and a
 * destination too big for a page even then keeps its counts only.
 */
function oneJobStatus(server: ServerContext, req: ControlRequest, ctx: RequestContext, id: string): unknown {
  const found = findOwnJob(server, id, ctx);
  const page = pageArgs(req.args, MAX_PAGE);
  if (!("job" in found)) return { job: finishedJobStatus(found) };
  const destinations = found.job.destinations;
  const view = { length: destinations.length, at: (i: number) => (destinations[i] ? destinationStatus(destinations[i]) : undefined) };
  const build = (header: object) => (items: readonly unknown[], next: number | null) => ({ job: { ...header, destinations: items }, total: destinations.length, offset: page.offset, next });
  const full = jobHeader(server, found);
  const first = view.at(page.offset);
  // The destinations' detail is what this answer is for: the source is cut before a destination is.
  const room = first ? Buffer.byteLength(JSON.stringify(first)) + JOB_SLACK_BYTES : 0;
  const header = replySize(req.id, build(full)([], null)) + room <= ctx.replyBudget ? full : { ...full, source: cutText(full.source, COMPACT_CHARS) };
  return fitPage(view, page, ctx.replyBudget, build(header), (result) => replySize(req.id, result), compactDestinationStatus, MAX_DATAGRAM);
}

/** Bytes of the ok reply carrying `result`, unshrunk (encodeReply would shrink an oversize one). */
function replySize(id: string, result: unknown): number {
  return Buffer.byteLength(JSON.stringify(okReply(id, result)));
}

/** Lateness of every event kind, µs. */
function latenessSummary(scheduler: Scheduler) {
  const out: Record<string, { count: number; p50: number; p99: number; max: number }> = {};
  for (const [kind, histogram] of scheduler.latenessKinds()) out[kind] = histogram.summary();
  return out;
}

/** The server part of `status`: counters and lateness; also served as JSON over HTTP. */
export function serverStatus(server: ServerContext) {
  const { counters, jobs } = server;
  return {
    server: {
      version: pkg.version,
      uptime: Math.round((Date.now() - server.startedAtMs) / 1000),
      jobs: jobs.size,
      jobs_total: jobs.totals,
      requests: counters.requests,
      replies: counters.replies,
      replays: counters.replays,
      rate_limited: counters.rate_limited,
      overloaded: counters.overloaded,
      retries_in_flight: counters.retries_in_flight,
      dropped: counters.dropped,
      unsent: counters.unsent,
      errors: counters.errors,
      stalls: server.stalls.count,
      stalled_ms: server.stalls.stalledMs,
    },
    lateness: latenessSummary(server.scheduler),
  };
}

/** The status op's first page before its jobs, and `/status` before every job: the server, speaker and recordings. */
export function statusHeader(server: ServerContext) {
  const speaker = speakerSummary(server);
  const recordings = server.recordings.status();
  return { ...serverStatus(server), ...(speaker && { speaker }), ...(recordings.length > 0 && { recordings }) };
}

/**
 * The first status page's header, fitted to `budget` bytes (`sizeOf` measures the page without
 * jobs): the whole of it when it fits. Else, in turn, the recordings go to pages of their own
 * (`recordings_total` says how many; `status {recordings: true}`), the speaker keeps its state
 * and what is playing (the finished tracks go), and the lateness goes (`/metrics` and `/status`
 * have it). A growing header never makes status fail, and never hides a job.
 */
function fittedHeader(server: ServerContext, budget: number, sizeOf: (header: object) => number): object {
  const full = statusHeader(server);
  if (sizeOf(full) <= budget) return full;
  const { recordings, ...rest } = full;
  const paged = recordings ? { ...rest, recordings_total: recordings.length } : rest;
  if (sizeOf(paged) <= budget) return paged;
  const shortSpeaker = paged.speaker ? { ...paged, speaker: { ...paged.speaker, finished: [] } } : paged;
  if (sizeOf(shortSpeaker) <= budget) return shortSpeaker;
  const { lateness: _lateness, ...bare } = shortSpeaker;
  return bare;
}

/** `status {recordings: true}`: every recording's state and last run, paged. */
function recordingsStatusOp(server: ServerContext, req: ControlRequest, ctx: RequestContext): unknown {
  checkKeys(req.args, ["recordings", "offset", "limit"]);
  const page = pageArgs(req.args, MAX_PAGE);
  const all = server.recordings.status();
  return fitPage(
    all,
    page,
    ctx.replyBudget,
    (items, next) => ({ recordings: items, total: all.length, offset: page.offset, next }),
    (result) => replySize(req.id, result),
    // A run of many files, or a long error: its newest file and the counts only.
    (r) => ({ ...r, last: r.last && { ...r.last, files: r.last.files.slice(-1), error: r.last.error && r.last.error.slice(0, 200) } }),
    MAX_DATAGRAM,
  );
}

function statusOp(server: ServerContext, req: ControlRequest, ctx: RequestContext): unknown {
  if (req.args.queue !== undefined) {
    if (req.args.queue !== true) throw new OpError("bad_request", `"queue" must be true`);
    return queueStatusOp(server, req.args, ctx, (result) => replySize(req.id, result));
  }
  if (req.args.recordings !== undefined) {
    if (req.args.recordings !== true) throw new OpError("bad_request", `"recordings" must be true`);
    return recordingsStatusOp(server, req, ctx);
  }
  checkKeys(req.args, ["offset", "limit", "job", "queue", "recordings"]);
  const one = optionalString(req.args, "job", MAX_JOB_ID);
  if (one !== undefined) return oneJobStatus(server, req, ctx, one);
  const page = pageArgs(req.args, MAX_PAGE);
  // Looked up, not filtered: parsing each of 1000 jobs' owners held every stream's sends for 2–3 ms a request (measured).
  const running = ctx.authenticated ? server.jobs.running() : server.jobs.ownedBy(ipKey(ctx.address));
  // The server part only on the first page, so later pages have room for more jobs; it leaves
  // room for the first job at least in its compact form, measured (a source's bytes vary).
  const first = page.offset === 0 ? running[0] : undefined;
  const jobRoom = first ? Buffer.byteLength(JSON.stringify(compactJobStatus(jobStatus(server, first)))) + JOB_SLACK_BYTES : 0;
  const headerBudget = ctx.replyBudget - jobRoom;
  const header = page.offset === 0 ? fittedHeader(server, headerBudget, (h) => replySize(req.id, { ...h, jobs: [], offset: 0, next: null })) : {};
  return fitPage(
    { length: running.length, at: (i: number) => (running[i] ? jobStatus(server, running[i]) : undefined) },
    page,
    ctx.replyBudget,
    (items, next) => ({ ...header, jobs: items, offset: page.offset, next }),
    (result) => replySize(req.id, result),
    compactJobStatus,
    MAX_DATAGRAM,
  );
}

async function listOp(server: ServerContext, req: ControlRequest, ctx: RequestContext): Promise<unknown> {
  checkKeys(req.args, ["offset", "limit"]);
  const page = pageArgs(req.args, MAX_PAGE);
  // Live channels first: a short, fixed list, so paging stays stable.
  const channels = server.live?.summaries() ?? [];
  const media = await server.catalogue.entries(server.config().mediaRoot);
  const all = [...channels, ...media];
  return fitPage(
    all,
    page,
    ctx.replyBudget,
    (items, next) => ({ items, total: all.length, offset: page.offset, next }),
    (result) => replySize(req.id, result),
    undefined,
    MAX_DATAGRAM,
  );
}

/**
 * `record start NAME` / `record stop NAME`. Recordings write to the server's disk, so on a keyed
 * server only an authenticated request may start or stop one.
 */
async function recordOp(server: ServerContext, req: ControlRequest, ctx: RequestContext): Promise<unknown> {
  checkKeys(req.args, ["action", "name"]);
  const action = requireString(req.args, "action", 8);
  const name = requireString(req.args, "name", MAX_RECORDING_NAME);
  if (action !== "start" && action !== "stop") throw new OpError("bad_request", `"action" must be "start" or "stop"`);
  if (server.keyed() && !ctx.authenticated) throw new OpError("forbidden", "recording needs an authenticated request on a keyed server");
  try {
    if (action === "start") {
      const started = await server.recordings.start(name);
      server.log.info("recording start requested", { recording: started.name, from: ctx.address });
      return { name: started.name, started: true };
    }
    const last = await server.recordings.stop(name);
    server.log.info("recording stop requested", { recording: name, from: ctx.address });
    return { name, stopped: true, last: { state: last.state, files: last.files_total, bytes: last.bytes } };
  } catch (error) {
    if (error instanceof RunError) {
      server.log.warn(`recording ${action} refused: ${error.message}`, { recording: name, from: ctx.address });
      throw new OpError(error.code === "failed" ? "not_available" : error.code, error.message);
    }
    throw error;
  }
}
