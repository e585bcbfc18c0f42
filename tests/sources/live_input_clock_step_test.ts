/**
 * A network input's stalls are lengths, on the monotonic clock: a wall clock stepped on between
 * two polls is no stall, and one stepped back does not hide a real stall. The wall clock is
 * stepped through liveInput's `wallClock`; the feed hands over bytes when the test says.
 */
import { expect, test } from "bun:test";
import { type InputGap, type LiveFeed, liveInput } from "../../sources/live_input.ts";

const HOUR = 3_600_000;

test("an hour's step of the wall clock is no stall, and a stall of a second after a step back is one", async () => {
  let offset = 0;
  let pending: Uint8Array | null = null;
  const feed: LiveFeed = {
    poll(push) {
      if (pending) push(pending);
      pending = null;
      return false;
    },
    close() {},
  };
  const input = liveInput("test feed", feed, undefined, () => Date.now() + offset);
  const gaps: InputGap[] = [];
  input.onGap = (gap) => gaps.push(gap);
  const arrive = async () => {
    pending = new Uint8Array(188);
    while (pending) await Bun.sleep(2);
  };
  try {
    await arrive();
    offset += HOUR; // NTP steps the clock on between two polls
    await Bun.sleep(30);
    await arrive();
    await Bun.sleep(30);
    // (Before, "input stalled for 3600.0 s", and the recording's summary said stalls 1.)
    expect(gaps.map((gap) => gap.what)).toEqual([]);
    offset -= 2 * HOUR; // and back, past where it was
    await Bun.sleep(1200);
    await arrive();
    // (Before, no stall: the clock read an hour before the last bytes.)
    expect(input.stats.stalls).toBe(1);
    expect(gaps.map((gap) => gap.what)).toEqual([expect.stringMatching(/^input stalled for 1\.\d s$/)]);
  } finally {
    input.close();
  }
});
