/**
 * An M2TS input (192-byte source packets, protocol/mpeg_m2ts.ts) as a Source of plain 188-byte
 * TS packets (packed_ts_source.ts strips each 4-byte header), each packet's arrival_time_stamp
 * handed to the clock that paces the stream (an ArrivalClock), in read order.
 *
 * @example
 * ```ts
 * const clock = new ArrivalClock();
 * const source = m2tsSource(openFileSource("movie.m2ts", 0, size), clock);
 * source.read(buffer, 0, 131072); // whole 188-byte TS packets, their stamps handed to the clock
 * ```
 */
import { M2TS_PACKING, m2tsGetArrivalTime } from "../protocol/mpeg_m2ts.ts";
import type { ArrivalSink } from "../protocol/mpeg_timing.ts";
import type { FileSource } from "./file_source.ts";
import { type PackedTsSource, packedTsSource } from "./packed_ts_source.ts";
import type { Source } from "./source.ts";

export interface M2tsSource extends PackedTsSource {
  /** Where the arrival stamps go: the pacing clock, or null when PCRs or --bitrate pace the stream. */
  arrivals: ArrivalSink | null;
}

/** Whether `source` unwraps M2TS (a sequence of inputs routes their stamps to one clock). */
export function isM2tsSource(source: Source): source is M2tsSource {
  return "arrivals" in source;
}

/** Unwraps the M2TS read from `raw`; `seek` needs `raw` to be a file. */
export function m2tsSource(raw: Source | FileSource, arrivals: ArrivalSink | null): M2tsSource {
  const source: M2tsSource = Object.assign(
    packedTsSource(raw, M2TS_PACKING, (buf, at) => source.arrivals?.arrived(m2tsGetArrivalTime(buf, at))),
    { arrivals },
  );
  return source;
}
