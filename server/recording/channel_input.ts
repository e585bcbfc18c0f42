/**
 * A recording's view of a live channel: its own cursor into the channel's ring, drained into a
 * network input's queue (sources/live_input.ts), so that the recording's end says what the stream
 * lost on the way in as `pacer record` says it of a socket. A spell of STALL_MS or more without a
 * byte (the source stalled, or dropped and came back later) is a stall; bytes the queue could not
 * take are bytes dropped because the recording fell behind. Before, a recording of a channel whose
 * source was gone for minutes ended "gaps 0 (…, stalls 0)".
 *
 * A WAV stream (what `pacer acquire` sends of PCM) is recorded as samples: a recording started
 * part-way through it begins at a whole frame and knows the format from the header the channel
 * kept, and the header of each source that begins while it records is left out. Before, a `.wav`
 * recording needed `format` given, and each new source's header went in as samples (a click).
 *
 * @example
 * ```ts
 * const input = channelInput("live:cam1", channel);
 * input.onGap = (gap) => log.warn(gap.what);
 * ```
 */
import { formatToString, type SampleFormat, sameFormat } from "../../protocol/sample_format.ts";
import { liveInput, type LiveSource, newLiveStats } from "../../sources/live_input.ts";
import type { LiveChannel } from "../live/live_channel.ts";
import { HEAD_BYTES, wavStartOf } from "../live/source_head.ts";

/** Bytes moved from the ring per read. */
const DRAIN_BYTES = 64 << 10;

/** The recording's input; `format` is the WAV stream's, once one has been seen (record_options.ts inputPcmFormat). */
export type ChannelInput = LiveSource & { readonly format: SampleFormat | undefined };

export function channelInput(label: string, channel: LiveChannel): ChannelInput {
  const scratch = new Uint8Array(DRAIN_BYTES);
  const join = channel.wavJoin();
  let format = join?.format ?? undefined;
  const reader = channel.ring.reader(join?.from);
  /** Where sources began since: each one's header is looked at when the cursor gets there. */
  const starts: number[] = [];
  // Joined while the source's header is still arriving: the cursor is at its first byte.
  if (join && join.format === null) starts.push(join.from);
  const began = (offset: number) => void starts.push(offset);
  channel.sourceBegan.add(began);

  /**
   * The cursor is at a source's first byte: past its WAV header, if it has one. False: wait for the
   * rest of the header. Read from the ring, up to where the next source began: the channel keeps
   * the newest source's head only, and a cursor two sources behind took the first one's header
   * for samples.
   */
  const atSource = (offset: number): boolean => {
    const gone = offset < channel.ring.oldest; // a whole ring behind: the read skips it
    const start = gone ? null : wavStartOf(reader.copyAhead(Math.min(HEAD_BYTES, (starts[1] ?? Infinity) - offset)), starts.length > 1);
    if (start === "wait") return false;
    if (start !== null) {
      reader.position = offset + start.dataOffset;
      // Another format than the file's (acquire started again at 48 kHz): said, as an RTP input's is.
      if (format !== undefined && !sameFormat(format, start.format)) {
        stats.formatChanges++;
        const what = `the new source's WAV format ${formatToString(start.format)} is not the recording's ${formatToString(format)}; its samples are recorded as they come`;
        source.onGap?.({ kind: "format", count: 1, streamOffset: source.stats.bytes, wallMs: Date.now(), what });
      }
      format ??= start.format;
    }
    starts.shift();
    return true;
  };
  const stats = newLiveStats();

  const source = liveInput(label, {
    poll(push) {
      // All of it, whatever room the queue has: the ring cannot hold bytes back as a socket's
      // buffer can, so what does not fit is refused by the queue and counted there.
      for (;;) {
        while (starts.length > 0 && reader.position >= starts[0]!) {
          // A source the cursor skipped past (a whole ring behind) is no longer looked at.
          if (reader.position > starts[0]!) starts.shift();
          else if (!atSource(starts[0]!)) return false;
        }
        reader.until = starts[0] ?? Infinity;
        const n = reader.read(scratch, 0, DRAIN_BYTES);
        if (n > 0) push(scratch.subarray(0, n));
        else if (starts.length === 0 || reader.position < starts[0]!) return false;
      }
    },
    close: () => {
      channel.sourceBegan.delete(began);
      reader.close();
    },
  }, stats);
  return Object.defineProperty(source, "format", { get: () => format }) as ChannelInput;
}
