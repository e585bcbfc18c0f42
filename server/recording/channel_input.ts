/**
 * A recording's view of a live channel: its own cursor into the channel's ring, drained into a
 * network input's queue (sources/live_input.ts), so that the recording's end says what the stream
 * lost on the way in as `pacer record` says it of a socket. A spell of STALL_MS or more without a
 * byte (the source stalled, or dropped and came back later) is a stall; bytes the queue could not
 * take are bytes dropped because the recording fell behind. Before, a recording of a channel whose
 * source was gone for minutes ended "gaps 0 (…, stalls 0)".
 *
 * @example
 * ```ts
 * const input = channelInput("live:cam1", channel.ring.reader());
 * input.onGap = (gap) => log.warn(gap.what);
 * ```
 */
import { liveInput, type LiveSource } from "../../sources/live_input.ts";
import type { RingReader } from "../live/live_ring.ts";

/** Bytes moved from the ring per read. */
const DRAIN_BYTES = 64 << 10;

export function channelInput(label: string, reader: RingReader): LiveSource {
  const scratch = new Uint8Array(DRAIN_BYTES);
  return liveInput(label, {
    poll(push) {
      // All of it, whatever room the queue has: the ring cannot hold bytes back as a socket's
      // buffer can, so what does not fit is refused by the queue and counted there.
      for (let n = reader.read(scratch, 0, DRAIN_BYTES); n > 0; n = reader.read(scratch, 0, DRAIN_BYTES)) push(scratch.subarray(0, n));
      return false;
    },
    close: () => reader.close(),
  });
}
