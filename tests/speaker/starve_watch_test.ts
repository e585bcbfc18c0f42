/**
 * The speaker's starvation look, on a manual clock (µs): waits less than 1 s apart are one stall,
 * logged once as it ends with its total, and charged to the track; a wait of a tick or two (the
 * next track's file opening as the outputs caught up) is neither. Before, that read "the output
 * waited 0.0 s for this track's audio", and status `starved_s: 0.02`.
 */
import { describe, expect, test } from "bun:test";
import { createLogger } from "../../foundation/log.ts";
import { StarveWatch } from "../../speaker/starve_watch.ts";
import { Track } from "../../speaker/track.ts";

const TICK = 20_000;

function watched() {
  const lines: string[] = [];
  const watch = new StarveWatch(createLogger({ level: "info", write: (line) => lines.push(line) }));
  return { watch, lines, track: new Track("t1", "slow.flac", "/srv/slow.flac") };
}

describe("starvation: what is a stall", () => {
  test("waits a block apart are one stall, logged once after a second of flow, with the total", () => {
    const { watch, lines, track } = watched();
    let now = 0;
    // Five times: 100 ms waited, 100 ms of audio.
    for (let i = 0; i < 5; i++) {
      for (let t = 0; t < 5; t++, now += TICK) watch.look(now, track);
      for (let t = 0; t < 5; t++, now += TICK) watch.look(now, null);
    }
    expect(lines).toEqual([]);
    expect(watch.starvedUs(track)).toBe(500_000);
    for (let t = 0; t < 50; t++, now += TICK) watch.look(now, null);
    expect(lines).toEqual([
      "pacer: warn: speaker: the output waited 0.5 s for this track's audio (5 waits less than 1 s apart): its decoder or its file gives it slower than real time track=t1 media=slow.flac",
    ]);
    expect(track.starvedUs).toBe(500_000);
  });

  test("a wait of a tick is no stall: not logged, not counted", () => {
    const { watch, lines, track } = watched();
    watch.look(0, track);
    watch.look(TICK, null);
    watch.close(2 * TICK, track);
    expect(lines).toEqual([]);
    expect(track.starvedUs).toBe(0);
  });

  test("the track ending ends its stall: logged then", () => {
    const { watch, lines, track } = watched();
    for (let now = 0; now <= 10 * TICK; now += TICK) watch.look(now, track);
    watch.close(11 * TICK, track);
    expect(lines).toEqual([expect.stringContaining("the output waited 0.2 s for this track's audio: its decoder")]);
    expect(track.starvedUs).toBe(220_000);
  });

  test("a track the server's shortage held back (no descriptor or process for its decoder) is not blamed on its decoder", () => {
    const { watch, lines, track } = watched();
    track.heldByShortage = true; // as track_loader marks it while it waits
    for (let now = 0; now <= 10 * TICK; now += TICK) watch.look(now, track);
    watch.close(11 * TICK, track);
    expect(lines).toEqual([
      "pacer: warn: speaker: the output waited 0.2 s for this track's audio: the server was short of descriptors or processes to load it track=t1 media=slow.flac",
    ]);
  });
});
