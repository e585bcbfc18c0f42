/**
 * The speaker's control ops (DESIGN.md, "Speaker"): `queue`, `pause`, `resume`, `cancel`,
 * `clear`, and the `speaker` part of `status`. Without a `[speaker]` table each answers
 * `not_available`.
 *
 * | op | args | result |
 * |---|---|---|
 * | queue | `path` (a media name), `id`?, `after`? (a track id) or `first`? | `{id, position}` (0: plays next) |
 * | pause, resume | – | `{paused}` |
 * | cancel | `id` | `{id, was: "queued" \| "playing"}`; an unknown id is `not_found` |
 * | clear | – | `{cleared}`: the waiting tracks removed (the playing one plays on) |
 * | status | `queue: true`, `offset`, `limit` | `{queue: [{id, path}], total, offset, next}` |
 *
 * One client (its address, as a job's owner) has at most `max_queued_tracks_per_client` tracks
 * waiting, so it cannot fill the queue every client shares.
 *
 * The media name resolves inside the media root as for `play`; the decoder comes from the config
 * by the file's extension, never from the request. A track that can never play (no decoder for
 * its extension, a `.wav` that is no WAV) is `bad_request` when queued (checkTrack). A duplicated `queue` datagram (same request
 * id) is answered from the dedup cache and queues once; a new request with a track id already
 * queued is refused.
 *
 * @example
 * ```ts
 * await queueOp(server, { path: "albums/a/01.flac", id: "a-01" }, from); // { id: "a-01", position: 0 }
 * ```
 */
import { normalize } from "node:path/posix";
import { cutText } from "../foundation/cut_text.ts";
import { canonicalIpText, ipKey } from "../foundation/net/address.ts";
import { SpeakerError, type Speaker, type SpeakerStatus } from "../speaker/speaker.ts";
import { checkKeys, OpError, optionalBoolean, optionalString, pageArgs, requireString } from "./op_args.ts";
import { fitPage } from "./paging.ts";
import { openMediaFile } from "./policy.ts";
import { checkTrack, type HeldFile, TrackError } from "../speaker/track_input.ts";
import type { ServerContext } from "./server_context.ts";
import type { RequestContext } from "./control_server.ts";
import { MAX_DATAGRAM, MAX_ID } from "../protocol/control.ts";

/** Longest media name accepted, as for play. */
const MAX_NAME = 1024;
/** Names in the status summary are cut to this, so the first status page keeps room for jobs. */
const SUMMARY_NAME = 120;
/** Finished tracks in the status summary (the speaker remembers more). */
const SUMMARY_FINISHED = 3;
const TRACK_ID = /^[\x21-\x7e]+$/;

function speakerOf(server: ServerContext): Speaker {
  if (!server.speaker) throw new OpError("not_available", "this server has no speaker; add a [speaker] table to its config");
  return server.speaker;
}

/** Runs a speaker call, turning its refusals into error replies. */
function guarded<T>(call: () => T): T {
  try {
    return call();
  } catch (error) {
    if (error instanceof SpeakerError) throw new OpError(error.code, error.message);
    throw error;
  }
}

function trackId(args: Readonly<Record<string, unknown>>, key: string, required: true): string;
function trackId(args: Readonly<Record<string, unknown>>, key: string, required: false): string | undefined;
function trackId(args: Readonly<Record<string, unknown>>, key: string, required: boolean): string | undefined {
  const id = required ? requireString(args, key, MAX_ID) : optionalString(args, key, MAX_ID);
  if (id !== undefined && !TRACK_ID.test(id)) throw new OpError("bad_request", `"${key}" must be printable ASCII without spaces`);
  return id;
}

export async function queueOp(server: ServerContext, args: Readonly<Record<string, unknown>>, from: RequestContext): Promise<{ id: string; position: number }> {
  const speaker = speakerOf(server);
  checkKeys(args, ["path", "id", "after", "first"]);
  const given = requireString(args, "path", MAX_NAME);
  const id = trackId(args, "id", false);
  const after = trackId(args, "after", false);
  const first = optionalBoolean(args, "first") ?? false;
  if (first && after !== undefined) throw new OpError("bad_request", `give "after" or "first", not both`);
  // Opened now too (beneath the root, a regular file), for a look at whether it can play at all.
  const media = await openMediaFile(server.config().mediaRoot, given);
  if (!media.ok) throw new OpError(media.code, media.message);
  // Kept as the same file's shortest name ("./" and "//" taken out; it has no ".." once checked),
  // so padding a name costs no memory, status room or log.
  const name = normalize(given);
  try {
    // Cheap (the extension, a WAV's header): a track that can never play is refused here, not
    // failed when its turn comes, hours later, with nobody to see why.
    await checkTrack(media.path, name, speaker.options.decoders, media.fd);
  } catch (error) {
    if (error instanceof TrackError) throw new OpError("bad_request", error.message);
    throw error;
  } finally {
    media.close();
  }
  // Checked again, and opened beneath the root, when the track loads: the names may change meanwhile.
  const open = async (): Promise<HeldFile> => {
    const held = await openMediaFile(server.config().mediaRoot, name);
    if (!held.ok) return { ok: false, message: held.message, shortage: held.code === "not_available" };
    return { ok: true, fd: held.fd };
  };
  // Counted here, after the name's checks wait on the disk, so requests in flight together cannot pass it.
  const { maxQueuedTracks: limit, maxQueuedTracksPerClient: share } = server.config().limits;
  if (speaker.queueLength >= limit) {
    throw new OpError("limit", `the speaker's queue holds ${speaker.queueLength} tracks, its limit (limits.max_queued_tracks = ${limit}); queue more as these play, or clear it`);
  }
  const owner = ipKey(from.address);
  const mine = speaker.waitingBy(owner);
  if (mine >= share) {
    throw new OpError("limit", `this client (${canonicalIpText(from.address)}) has ${mine} tracks waiting, its share of the speaker's queue (limits.max_queued_tracks_per_client = ${share}); queue more as these play`);
  }
  return guarded(() => speaker.enqueue({ path: media.path, name, id, after, first, open, owner }));
}

export function pauseOp(server: ServerContext, args: Readonly<Record<string, unknown>>) {
  checkKeys(args, []);
  return speakerOf(server).pause();
}

export function resumeOp(server: ServerContext, args: Readonly<Record<string, unknown>>) {
  checkKeys(args, []);
  return speakerOf(server).resume();
}

export function cancelOp(server: ServerContext, args: Readonly<Record<string, unknown>>) {
  const speaker = speakerOf(server);
  checkKeys(args, ["id"]);
  const id = trackId(args, "id", true);
  return guarded(() => speaker.cancel(id));
}

export function clearOp(server: ServerContext, args: Readonly<Record<string, unknown>>) {
  checkKeys(args, []);
  return speakerOf(server).clear();
}

function cut(name: string): string {
  return cutText(name, SUMMARY_NAME);
}

/** The `speaker` part of the first status page: small, with names cut, so jobs still fit beside it. */
export function speakerSummary(server: ServerContext): SpeakerStatus | null {
  if (!server.speaker) return null;
  const status = server.speaker.status();
  return {
    ...status,
    playing: status.playing && { ...status.playing, path: cut(status.playing.path) },
    finished: status.finished.slice(0, SUMMARY_FINISHED).map((t) => ({ ...t, path: cut(t.path), ...(t.error && { error: cut(t.error) }) })),
  };
}

/** `status {queue: true}`: the waiting tracks, paged. */
export function queueStatusOp(server: ServerContext, args: Readonly<Record<string, unknown>>, ctx: RequestContext, sizeOf: (result: unknown) => number) {
  const speaker = speakerOf(server);
  checkKeys(args, ["queue", "offset", "limit"]);
  const page = pageArgs(args, 100);
  const all = speaker.queued();
  return fitPage(
    all,
    page,
    ctx.replyBudget,
    (items, next) => ({ queue: items, total: all.length, offset: page.offset, next }),
    sizeOf,
    (item) => ({ id: item.id, path: cut(item.path) }),
    MAX_DATAGRAM,
  );
}
