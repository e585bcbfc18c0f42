/**
 * `on_start` and `on_finish`: shell commands run as a track starts and ends
 * playing, with PACER_TRACK_ID, PACER_TRACK_PATH and PACER_TRACK_STATUS in
 * their environment. Playback never waits for them: a hook runs on its own,
 * a failing one is logged with its status, and one still running after
 * HOOK_SLOW_MS is logged once and left to finish. A track's `on_finish` waits
 * for its `on_start` (up to that bound): a short track's two hooks, spawned
 * moments apart, had run finish first.
 *
 * At most MAX_RUNNING_HOOKS run at once: a hook that would be one more ends the oldest one still
 * running (its process group, killed). Before, a hook that never exited (`curl` to a host that
 * does not answer, with no timeout) stayed for good, and each track left two more processes and
 * four more descriptors in the server: 30 tracks, 60 processes and 121 descriptors, growing until
 * the server could open no file.
 *
 * @example
 * ```ts
 * const started = runTrackHook("logger -t jukebox \"$PACER_TRACK_STATUS $PACER_TRACK_PATH\"", { id: "t1", path: "a.wav", status: "playing" }, log);
 * void started.then(() => runTrackHook(onFinish, { id: "t1", path: "a.wav", status: "played" }, log));
 * ```
 */
import { type ChildProcess, spawn } from "node:child_process";
import type { Logger } from "../foundation/log.ts";
import { signalGroup } from "../foundation/process_group.ts";
import { describeExit } from "../foundation/child_exit.ts";
import { describeFsError } from "../foundation/fs_error.ts";

/** A hook running longer than this is logged as slow (still not waited for). */
const HOOK_SLOW_MS = 10_000;
/** Hooks running at once; one more ends the oldest (it has run longest, and is likely stuck). */
export const MAX_RUNNING_HOOKS = 16;

interface RunningHook {
  readonly child: ChildProcess;
  readonly command: string;
  readonly trackId: string;
  readonly startedAtMs: number;
  /** Ended here (one too many ran): its status says nothing of the hook. */
  killed: boolean;
}

/** Hooks still running, oldest first (a Set keeps insertion order). */
const running = new Set<RunningHook>();

/** Kills the hook and what it started (its process group: it was spawned detached). */
function killHook(hook: RunningHook): void {
  hook.killed = true;
  signalGroup(hook.child, "SIGKILL");
}

export interface HookTrack {
  readonly id: string;
  readonly path: string;
  readonly status: string;
}

/** Runs the hook; resolves once it has exited, or could not start, or after HOOK_SLOW_MS (not waited for longer). */
export function runTrackHook(command: string, track: HookTrack, log: Logger): Promise<void> {
  const { promise, resolve } = Promise.withResolvers<void>();
  if (running.size >= MAX_RUNNING_HOOKS) {
    const oldest: RunningHook = running.values().next().value!;
    running.delete(oldest);
    const s = Math.round((Date.now() - oldest.startedAtMs) / 1000);
    log.warn(`hook "${oldest.command}" for ${oldest.trackId} still runs after ${s} s; killed: at most ${MAX_RUNNING_HOOKS} hooks run at once`);
    killHook(oldest);
  }
  let child: ChildProcess;
  try {
    child = spawn("sh", ["-c", command], {
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, PACER_TRACK_ID: track.id, PACER_TRACK_PATH: track.path, PACER_TRACK_STATUS: track.status },
      // Its own process group, so ending it ends what the shell started too.
      detached: true,
    });
  } catch (error) {
    log.warn(`hook "${command}" could not start: ${(error as Error).message}`);
    return Promise.resolve();
  }
  const hook: RunningHook = { child, command, trackId: track.id, startedAtMs: Date.now(), killed: false };
  if (child.pid !== undefined) running.add(hook);
  let stderr = "";
  // Absent when the host was short of descriptors: the "error" below says so.
  child.stderr?.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-300)));
  const slow = setTimeout(() => {
    log.warn(`hook "${command}" for ${track.id} still runs after ${HOOK_SLOW_MS / 1000} s; not waiting for it`);
    resolve();
  }, HOOK_SLOW_MS);
  slow.unref?.();
  let started = true;
  child.on("error", (error) => {
    started = false;
    running.delete(hook);
    log.warn(`hook "${command}" could not start: ${describeFsError(error)}`);
    resolve();
  });
  // Done at its exit, not its stderr's close: something it started in the background may hold that.
  child.on("exit", () => resolve());
  // Running until its stderr closes: whatever it left in the background holds that pipe here.
  child.on("close", (code, signal) => {
    running.delete(hook);
    clearTimeout(slow);
    resolve();
    if (code !== 0 && !hook.killed && started) {
      const why = stderr.trim().split("\n").pop();
      log.warn(`hook "${command}" for ${track.id} ${describeExit(code, signal)}${why ? `: ${why}` : ""}`);
    }
  });
  return promise;
}
