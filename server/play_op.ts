/**
 * The `play` op: checks a client's request against the policy and starts a job
 * (DESIGN.md, "Control protocol", "Policy", "Interest", "Persistent streams").
 *
 * args: `source` (a media name relative to the media root, or `live:NAME`), `to` (a list of
 * `rtp://` or `udp://` URLs), and optional `bitrate` (bits/s, number or "1.5M"), `loop`,
 * `start` (seconds), `offset` (bytes of the stream as sent that the requester has already: a
 * receiver resuming a stream that expired, which `pacer recv` does), `persistent`. The result is `{job, interest_timeout, ssrc}`: the job id, the
 * seconds within which an `interest` must follow (null for a persistent job), and each `to`
 * destination's RTP SSRC in the request's order (null for `udp://`). The SSRCs are chosen here,
 * before the outputs open (a `live:` job opens them only once its channel has data), so that
 * `pacer recv` can tell its stream from a sender on the server's host from the first packet.
 *
 * Repeated play: a play from the same requester IP for the same media and the same destinations
 * as a running job is that client asking again (DESIGN.md: clients repeat the request until
 * packets arrive); it refreshes the job's interest and answers with the same id and the job's
 * own SSRCs (`refreshed: true`) instead of starting a second stream. A repeat asks for it the
 * same way (start, loop, bitrate): one that asks otherwise is `busy`, naming the running job
 * (it was answered ok and its start, loop or bitrate silently dropped). A `persistent` repeat
 * makes the running job persistent (a non-persistent repeat of a persistent job leaves it
 * persistent).
 *
 * Destinations from the network are restricted beyond `pacer play`: only `rtp:` and `udp:` (a
 * remote `cmd:` or `file:` would be code execution or file writes), only the options pkt, ptime,
 * pt, format, ttl, ahead, rtcp, sap and sap-interval (not source= or iface=, which pick the
 * server's own addresses); where RTCP and SAP go is checked as the stream's own address is. Host
 * names are resolved once here, checked, and the job is given the IP literal, so a second DNS
 * answer can never widen the policy. Nor may a stream go to one of the server's own ports on this
 * host (control, HTTP, live): it would flood the server with itself.
 *
 * @example
 * ```ts
 * const result = await playOp(server, req.args, { address: "127.0.0.1", port: 40000, authenticated: false });
 * // { job: "job-0394857230198472", interest_timeout: 10, ssrc: [2864434397] }
 * ```
 */

import { PacerError, UsageError } from "../foundation/errors.ts";
import { isShortage } from "../foundation/fs_error.ts";
import { parseBitrate } from "../foundation/units.ts";
import { withTimeout } from "../foundation/with_timeout.ts";
import { Job } from "../pipeline/job.ts";
import { openInput, type OpenedInput } from "../sources/open_input.ts";
import { canonicalIpText, hostPortText, ipKey, resolveHost } from "../foundation/net/address.ts";
import { type Endpoint, parseEndpoint } from "../foundation/net/endpoint.ts";
import { sapGroupFor } from "../protocol/sap.ts";
import { flagParam, newSsrc, type RtcpChoice, rtcpChoice } from "../backends/rtp/rtp.ts";
import { schemeOf } from "../backends/registry.ts";
import { planPayload } from "../backends/rtp/payload_plan.ts";
import { bytesPerFrame, type SampleFormat } from "../protocol/sample_format.ts";
import type { Config } from "./config.ts";
import type { Requester } from "./control_server.ts";
import { LIVE_PREFIX } from "../protocol/control.ts";
import { checkKeys, OpError, optionalBoolean, optionalNumber, requireString, requireStringList } from "./op_args.ts";
import { destinationAllowed, mediaShortage, openMediaFile, type OwnPort, ownPortAt } from "./policy.ts";
import type { ServerContext } from "./server_context.ts";
import type { RunningJob, ServedJob } from "./jobs.ts";
import type { LiveChannel } from "./live/live_channel.ts";
import { LiveJob } from "./live/live_job.ts";
import { wireRateRefusal } from "./wire_rate.ts";
import { US_PER_S } from "../scheduler/clock.ts";

const PLAY_KEYS = ["source", "to", "bitrate", "loop", "start", "offset", "persistent"] as const;
const DESTINATION_SCHEMES = ["rtp", "udp"];
const DESTINATION_OPTIONS = ["pkt", "ptime", "pt", "format", "compat", "ttl", "ahead", "rtcp", "sap", "sap-interval"] as const;
/** Longest media name and destination URL accepted; a datagram holds 1400 bytes anyway. */
const MAX_NAME = 1024;
const MAX_URL = 512;
/** A year: a longer start offset is a typo. */
const MAX_START_S = 366 * 86_400;
/** A DNS lookup that takes longer fails the request instead of holding it open. */
const RESOLVE_TIMEOUT_MS = 2_000;

export interface PlayResult {
  readonly job: string;
  readonly interest_timeout: number | null;
  /** Each `to` destination's RTP SSRC, in the request's order; null where it is not RTP. */
  readonly ssrc: readonly (number | null)[];
  readonly refreshed?: true;
}

/** Validates, checks policy, and starts (or refreshes) a job. Throws OpError. */
export async function playOp(server: ServerContext, args: Readonly<Record<string, unknown>>, requester: Requester): Promise<PlayResult> {
  const config = server.config();
  checkKeys(args, PLAY_KEYS);
  const name = requireString(args, "source", MAX_NAME);
  const targets = requireStringList(args, "to", config.limits.maxDestinationsPerJob, MAX_URL);
  const bitrate = readBitrate(args.bitrate);
  if (bitrate !== undefined && bitrate > config.limits.maxBitrate) {
    throw new OpError("limit", `"bitrate" ${bitrate} is more than this server allows (limits.max_bitrate, ${config.limits.maxBitrate} bits/s)`);
  }
  const loop = optionalBoolean(args, "loop") ?? false;
  const startSeconds = optionalNumber(args, "start", 0, MAX_START_S);
  const offset = optionalNumber(args, "offset", 0, Number.MAX_SAFE_INTEGER, true);
  if (offset !== undefined && startSeconds !== undefined) throw new OpError("bad_request", `give "start" or "offset", not both`);
  const persistent = optionalBoolean(args, "persistent") ?? false;

  const channel = name.startsWith(LIVE_PREFIX) ? liveChannel(server, name) : null;
  if (channel && (loop || startSeconds !== undefined || offset !== undefined)) throw new OpError("bad_request", `${name} is live: it takes no "loop", "start" or "offset"`);
  if (persistent && server.keyed() && !requester.authenticated) {
    throw new OpError("forbidden", "only authenticated requests may start persistent streams");
  }
  const media = channel ? { ok: true as const, path: name, openPath: name, fd: -1, close() {} } : await openMediaFile(config.mediaRoot, name);
  if (!media.ok) throw new OpError(media.code, media.message);
  try {
    return await startPlay(server, requester, { name, media, channel, targets, bitrate, loop, startSeconds, offset, persistent });
  } finally {
    // The job's input has opened the file through the descriptor (or failed): it is not needed now.
    media.close();
  }
}

interface PlayChoice {
  readonly name: string;
  readonly media: { readonly path: string; readonly openPath: string };
  readonly channel: LiveChannel | null;
  readonly targets: readonly string[];
  readonly bitrate: number | undefined;
  readonly loop: boolean;
  readonly startSeconds: number | undefined;
  /** Bytes of the stream as sent that the requester has already (a receiver resuming it). */
  readonly offset: number | undefined;
  readonly persistent: boolean;
}

/** Destinations checked against policy, then the job started, or a repeat's interest refreshed. */
async function startPlay(server: ServerContext, requester: Requester, choice: PlayChoice): Promise<PlayResult> {
  const config = server.config();
  const { jobs } = server;
  const { name, media, channel, bitrate, loop, startSeconds, offset, persistent } = choice;
  const outputs: string[] = [];
  for (const target of choice.targets) outputs.push(await checkDestination(target, requester.address, config, server.ownPorts()));
  refuseTwice(choice.targets, outputs);

  const repeatKey = JSON.stringify([requester.address, media.path, [...outputs].sort()]);
  // The same stream asked for again while it is being started waits for it, and refreshes it.
  for (let pending = jobs.startingFor(repeatKey); pending; pending = jobs.startingFor(repeatKey)) await pending;
  const repeated = jobs.findRepeat(repeatKey);
  const how = playHow(choice);
  if (repeated && repeated.how !== undefined && repeated.how !== how) {
    throw new OpError("busy", `${repeated.id} already streams ${name} to these destinations (${repeated.how}); stop it to play it ${how}`);
  }
  if (repeated) {
    if (persistent) jobs.makePersistent(repeated.id);
    const leftMs = jobs.refresh(repeated.id);
    return { job: repeated.id, interest_timeout: leftMs === null ? null : leftMs / 1000, ssrc: repeatSsrcs(outputs, repeated), refreshed: true };
  }
  if (jobs.taken >= config.limits.maxJobs) {
    throw new OpError("limit", `the server runs ${config.limits.maxJobs} jobs already (limits.max_jobs); try again later`);
  }
  const ownerKey = ipKey(requester.address);
  const share = config.limits.maxJobsPerClient;
  const held = jobs.takenBy(ownerKey);
  if (held >= share) {
    throw new OpError("limit", `this client (${canonicalIpText(requester.address)}) runs ${held} jobs already, its share of this server (limits.max_jobs_per_client = ${share}); stop one, or try again when one ends`);
  }

  const ssrcs = outputs.map((output) => (schemeOf(output) === "rtp" ? newSsrc() : null));
  const served = await jobs.startingAs(repeatKey, async () => {
    const job: RunningJob = await jobs.preparing(ownerKey, async () =>
      channel
        ? new LiveJob({ channel, outputs, ssrcs, scheduler: server.scheduler, log: server.log.child({ source: name }), bitrate, maxBitrate: () => server.config().limits.maxBitrate })
        : await jobs.preparations.take(() => createJob(server, media.openPath, name, outputs, ssrcs, { bitrate, loop, startSeconds, offset })),
    );
    return jobs.add({ job, source: name, owner: requester.address, outputs, ssrcs, persistent, repeatKey, how });
  });
  server.log.info("job started", { job: served.id, source: name, to: outputs.join(" "), owner: requester.address, persistent });
  return { job: served.id, interest_timeout: persistent ? null : jobs.interestTimeoutMs / 1000, ssrc: ssrcs };
}

/**
 * Each destination takes one stream: the same address and port twice in one play (however it is
 * spelled: 127.1, localhost, ::ffff:127.0.0.1) would send it the stream twice over, each copy a
 * series of its own in /metrics under one label: a duplicate series, which the exposition format
 * does not allow (Prometheus drops such samples and counts the scrape's duplicates).
 */
function refuseTwice(targets: readonly string[], outputs: readonly string[]): void {
  const seen = new Map<string, number>();
  outputs.forEach((output, i) => {
    const at = destinationAt(output);
    const first = seen.get(at);
    if (first !== undefined) {
      const as = targets[first] === targets[i] ? `${JSON.stringify(targets[i])} twice` : `${JSON.stringify(targets[first])} and ${JSON.stringify(targets[i])}`;
      throw new OpError("bad_request", `destination ${at} is given twice (${as}); each destination takes one stream`);
    }
    seen.set(at, i);
  });
}

/** `HOST:PORT` of a URL checkDestination gave (its host the canonical IP literal; a zone is no URL host). */
function destinationAt(output: string): string {
  return output.slice(output.indexOf("://") + 3).split("?")[0]!;
}

/** How a play asks for its stream beyond what and where, in words: a repeat asks the same. */
function playHow(choice: Pick<PlayChoice, "startSeconds" | "offset" | "loop" | "bitrate">): string {
  const parts = [choice.offset === undefined ? `from ${choice.startSeconds ?? 0} s` : `from byte ${choice.offset}`];
  if (choice.loop) parts.push("looping");
  if (choice.bitrate !== undefined) parts.push(`at ${choice.bitrate} bits/s`);
  return parts.join(", ");
}

/** A repeat's SSRCs: each of its destinations' in the running job, which may list them in another order. */
function repeatSsrcs(outputs: readonly string[], served: ServedJob): (number | null)[] {
  const matched = new Set<number>();
  return outputs.map((output) => {
    const at = served.outputs.findIndex((known, i) => known === output && !matched.has(i));
    matched.add(at);
    return served.ssrcs?.[at] ?? null;
  });
}

/** The channel `live:NAME` names; not_found when there is none. */
function liveChannel(server: ServerContext, name: string): LiveChannel {
  const channel = server.live?.get(name.slice(LIVE_PREFIX.length));
  if (!channel) throw new OpError("not_found", `no live channel ${JSON.stringify(name.slice(LIVE_PREFIX.length))}; list shows the channels`);
  return channel;
}

function readBitrate(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  try {
    if (typeof value === "string" && value.length <= 32) return parseBitrate(value, '"bitrate":');
    if (typeof value === "number") return parseBitrate(String(value), '"bitrate":');
  } catch (error) {
    throw new OpError("bad_request", (error as Error).message);
  }
  throw new OpError("bad_request", `"bitrate" must be bits per second, like 1500000 or "1.5M"`);
}

/** Output options a request may not give: they choose the server's side of the stream. */
const SERVER_SIDE_OPTIONS = ["source", "iface"] as const;

/**
 * Checks one destination URL against the policy; returns it with the host replaced by the
 * address it resolved to. Throws OpError: bad_request for a malformed URL, forbidden otherwise
 * (not the requester's nor an allowed network, or one of the server's `own` ports).
 */

export async function checkDestination(target: string, requesterIp: string, config: Config, own: readonly OwnPort[]): Promise<string> {
  if (!DESTINATION_SCHEMES.includes(schemeOf(target))) {
    throw new OpError("forbidden", `destination "${target}": only rtp:// and udp:// destinations may be requested`);
  }
  let endpoint;
  try {
    endpoint = parseEndpoint(target, [...DESTINATION_OPTIONS, ...SERVER_SIDE_OPTIONS]);
  } catch (error) {
    throw new OpError("bad_request", (error as Error).message);
  }
  // The server's own addresses are its to pick: these are real options, refused (not unknown).
  for (const option of SERVER_SIDE_OPTIONS) {
    if (endpoint.params.has(option)) throw new OpError("forbidden", `destination "${target}": ${option}= picks the server's own ${option === "iface" ? "interface" : "address"}, which a request may not choose`);
  }
  if (endpoint.listen) throw new OpError("bad_request", `destination "${target}": the @ (receive) form is not a destination`);
  let address: string;
  try {
    // One spelling per address, so a repeat, or the same destination twice, is known whatever the
    // spelling; and before any check, so each judges the address the stream and its side channels
    // use: `[::ffff:239.255.1.2]` had its SAP group judged as IPv6's ff0e::2:7ffe, then announced
    // on 239.255.255.255, which allow_destinations need not hold.
    address = canonicalIpText((await withTimeout(resolveHost(endpoint.host), RESOLVE_TIMEOUT_MS)).address);
  } catch {
    throw new OpError("bad_request", `destination "${target}": cannot resolve host "${endpoint.host}"`);
  }
  if (!destinationAllowed(address, requesterIp, config.allowDestinations)) {
    throw new OpError(
      "forbidden",
      `destination ${address} is neither the requester's address (${requesterIp}) nor in allow_destinations`,
    );
  }
  const ownPort = ownPortAt(address, endpoint.port, own);
  if (ownPort) {
    throw new OpError("forbidden", `destination ${hostPortText(address, endpoint.port)} is the server's own ${ownPort.what} port; send the stream elsewhere`);
  }
  if (endpoint.scheme === "rtp") checkSideChannels(target, endpoint, address, requesterIp, config, own);
  const query = endpoint.params.toString();
  return `${endpoint.scheme}://${hostPortText(address, endpoint.port)}${query ? `?${query}` : ""}`;
}

/**
 * RTCP goes to port + 1 (or `rtcp=PORT`), and `sap=1` announces to the SAP group of the stream's
 * scope: both are destinations too, held to the same policy as the stream's own address.
 */
function checkSideChannels(target: string, endpoint: Endpoint, address: string, requesterIp: string, config: Config, own: readonly OwnPort[]): void {
  let rtcp: RtcpChoice;
  let sap: boolean;
  try {
    rtcp = rtcpChoice(target, endpoint.params.get("rtcp"), endpoint.port);
    sap = flagParam(target, endpoint.params.get("sap"), "sap");
  } catch (error) {
    throw new OpError("bad_request", (error as Error).message);
  }
  const rtcpOwn = rtcp.kind === "port" ? ownPortAt(address, rtcp.port, own) : null;
  if (rtcpOwn && rtcp.kind === "port") {
    throw new OpError("forbidden", `destination "${target}": its RTCP would go to ${hostPortText(address, rtcp.port)}, the server's own ${rtcpOwn.what} port; give rtcp=PORT, mux or off`);
  }
  if (sap) {
    const group = sapGroupFor(address);
    if (!destinationAllowed(group.address, requesterIp, config.allowDestinations)) {
      throw new OpError("forbidden", `destination "${target}": sap=1 announces to ${group.address}:${group.port}, which is not in allow_destinations`);
    }
  }
}

interface InputChoice {
  readonly bitrate: number | undefined;
  readonly loop: boolean;
  readonly startSeconds: number | undefined;
  readonly offset: number | undefined;
}

/**
 * A PCM frame's bytes as `output` sends it, which a resuming receiver counted: RTP's L16 or L24
 * (payload_plan.ts), UDP's the input's own. Where the wire's rate is another, frames do not map.
 */
export function wireFrameBytes(output: string, format: SampleFormat): number {
  const wire = schemeOf(output) === "rtp" ? (planPayload(output, parseEndpoint(output), { kind: "pcm", format }).format ?? format) : format;
  if (wire.rate !== format.rate) throw new UsageError(`"offset" counts frames as sent, and ${output} sends ${wire.rate} Hz where the media is ${format.rate} Hz; give "start"`);
  return bytesPerFrame(wire);
}

/** Opens the media and every output; input and setup errors become bad_request replies. */
async function createJob(server: ServerContext, path: string, name: string, outputs: string[], ssrcs: (number | null)[], choice: InputChoice): Promise<Job> {
  // Messages name the media as the client did, not by the server's real path.
  // A network client gives the op's "bitrate", not play's option.
  const clientMessage = (error: unknown) => (error as Error).message.split(path).join(name).replace("give --bitrate", 'give "bitrate"');
  let input: OpenedInput;
  try {
    const resume = choice.offset === undefined ? undefined : { bytes: choice.offset, wireFrameBytes: (format: SampleFormat) => wireFrameBytes(outputs[0]!, format) };
    input = await openInput(path, { bitrate: choice.bitrate, startSeconds: choice.startSeconds, resume, name });
  } catch (error) {
    // Out of descriptors between the media's open and the input's: no fault of the request.
    if (isShortage(error)) throw new OpError("not_available", mediaShortage(name, error).message);
    if (error instanceof UsageError || error instanceof PacerError) throw new OpError("bad_request", clientMessage(error));
    throw new OpError("not_found", `media ${JSON.stringify(name)} cannot be opened: ${clientMessage(error)}`);
  }
  if (choice.bitrate !== undefined && input.info.kind === "pcm") {
    input.source.close();
    throw new OpError("bad_request", `"bitrate" is for MPEG and other data: ${name} is PCM, paced by its sample rate`);
  }
  const { mediaBytes, durationUs } = input.info;
  const averageBytesPerSecond = mediaBytes && durationUs ? mediaBytes / (durationUs / US_PER_S) : undefined;
  const refusal = wireRateRefusal(outputs, input.info, server.config().limits.maxBitrate, choice.bitrate === undefined ? averageBytesPerSecond : choice.bitrate / 8);
  if (refusal) {
    input.source.close();
    throw new OpError("limit", refusal);
  }
  try {
    return await Job.create({
      input: { ...input.info, label: name },
      source: input.source,
      byteClock: input.byteClock,
      startOffset: input.startOffset,
      outputs,
      ssrcs,
      scheduler: server.scheduler,
      log: server.log.child({ source: name }),
      loop: choice.loop,
    });
  } catch (error) {
    throw new OpError("bad_request", clientMessage(error));
  }
}
