/**
 * `on_start` and `on_finish`: shell commands run as a track starts and ends
 * playing, with PACER_TRACK_ID, PACER_TRACK_PATH and PACER_TRACK_STATUS in
 * their environment. Playback never waits for them: a hook runs on its own,
 * a failing one is logged with its status, and one still running after
 * HOOK_SLOW_MS is logged once and left to finish. A track's `on_finish` waits
 * for its `on_start` (up to that bound): a short track's two hooks, spawned
 * moments apart, had run finish first.
 *
 * @example
 * ```ts
 * const started = runTrackHook("logger -t jukebox \"$PACER_TRACK_STATUS $PACER_TRACK_PATH\"", { id: "t1", path: "a.wav", status: "playing" }, log);
 * void started.then(() => runTrackHook(onFinish, { id: "t1", path: "a.wav", status: "played" }, log));
 * ```
 */
import { spawn } from "node:child_process";
import type { Logger } from "../foundation/log.ts";

/** A hook running longer than this is logged as slow (still not waited for). */
const HOOK_SLOW_MS = 10_000;

export interface HookTrack {
  readonly id: string;
  readonly path: string;
  readonly status: string;
}

/** Runs the hook; resolves once it has exited, or could not start, or after HOOK_SLOW_MS (not waited for longer). */
export function runTrackHook(command: string, track: HookTrack, log: Logger): Promise<void> {
  const { promise, resolve } = Promise.withResolvers<void>();
  let child;
  try {
    child = spawn("sh", ["-c", command], {
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, PACER_TRACK_ID: track.id, PACER_TRACK_PATH: track.path, PACER_TRACK_STATUS: track.status },
    });
  } catch (error) {
    log.warn(`hook "${command}" could not start: ${(error as Error).message}`);
    return Promise.resolve();
  }
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-300)));
  const slow = setTimeout(() => {
    log.warn(`hook "${command}" for ${track.id} still runs after ${HOOK_SLOW_MS / 1000} s; not waiting for it`);
    resolve();
  }, HOOK_SLOW_MS);
  slow.unref?.();
  child.on("error", (error) => {
    log.warn(`hook "${command}" could not start: ${error.message}`);
    resolve();
  });
  // Done at its exit, not its stderr's close: something it started in the background may hold that.
  child.on("exit", () => resolve());
  child.on("close", (code) => {
    clearTimeout(slow);
    resolve();
    if (code !== 0) {
      const why = stderr.trim().split("\n").pop();
      log.warn(`hook "${command}" for ${track.id} exited with status ${code}${why ? `: ${why}` : ""}`);
    }
  });
  return promise;
}
