/**
 * Hooks that never exit do not pile up in the server (speaker/track_hooks.ts MAX_RUNNING_HOOKS):
 * with `on_start` stuck, 40 short tracks left 40 shells (and their pipes) for good, one more per
 * track for as long as the server ran; now at most 16 run, the oldest killed to make room.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { endSpeakerServe, type SpeakerServe, startSpeakerServe, wavTrack } from "./speaker_fixture.ts";

const TRACKS = 40;
/** speaker/track_hooks.ts MAX_RUNNING_HOOKS */
const MAX_RUNNING_HOOKS = 16;
let serve: SpeakerServe | null = null;

/** The pids of `pid`'s descendants. */
function descendants(pid: number): number[] {
  const rows = execFileSync("ps", ["-eo", "pid=,ppid="]).toString().trim().split("\n").map((l) => l.trim().split(/\s+/).map(Number));
  const found: number[] = [];
  for (let next = [pid]; next.length > 0; ) {
    next = rows.filter(([, ppid]) => next.includes(ppid!)).map(([p]) => p!);
    found.push(...next);
  }
  return found;
}

afterEach(async () => {
  if (serve) {
    const left = descendants(serve.child.pid!);
    await endSpeakerServe(serve);
    for (const pid of left) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {}
    }
  }
  serve = null;
});

describe("speaker: stuck hooks", () => {
  test(`hooks that never exit: at most ${MAX_RUNNING_HOOKS} run, the oldest killed, however many tracks play`, async () => {
    serve = await startSpeakerServe(
      (dir) => [`output = "cmd:cat > /dev/null"`, "buffer_seconds = 1", `on_start = "sleep 1000 2>/dev/null"`, `on_finish = "sleep 1000"`, `# ${dir}`],
      [],
      (media) => void wavTrack(media, "t.wav", "s16le:44100:2", 0.1, 440),
    );
    for (let i = 0; i < TRACKS; i++) expect((await serve.request("queue", { path: "t.wav", id: `t${i}` })).ok).toBe(true);
    const last = await serve.waitSpeaker((s) => s.queue_length === 0 && s.playing === null);
    expect(last.finished[0].id).toBe(`t${TRACKS - 1}`);
    // Each track's on_start has started (on_finish waits 10 s for it): the hooks' shells, the
    // output's `cat` aside.
    const shells = execFileSync("ps", ["--ppid", String(serve.child.pid), "-o", "stat=,args="]).toString().split("\n").filter((l) => /^[^Z].*sleep 1000/.test(l.trim()));
    expect(shells.length).toBeLessThanOrEqual(MAX_RUNNING_HOOKS);
    expect(serve.stderr()).toContain(`killed: at most ${MAX_RUNNING_HOOKS} hooks run at once`);
  }, 20_000);
});
