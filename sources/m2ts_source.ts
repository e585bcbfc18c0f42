/**
 * An M2TS input (192-byte source packets, protocol/mpeg_m2ts.ts) as a Source
 * of plain 188-byte TS packets: what every TS receiver takes. Each packet's
 * 4-byte header is stripped as it is read, and its arrival_time_stamp handed
 * to the clock that paces the stream (an ArrivalClock), in read order.
 *
 * Packets are found by the same scanner as TS garbage is (TsScanner, with
 * M2TS packing), so bytes between packets and a cut-off last packet never
 * reach the job: `pacer probe` counts them as garbage, with the same scanner.
 *
 * @example
 * ```ts
 * const clock = new ArrivalClock();
 * const source = m2tsSource(openFileSource("movie.m2ts", 0, size), clock);
 * source.read(buffer, 0, 131072); // whole 188-byte TS packets
 * ```
 */
import { type TsPacketCallback, TS_SIZE, TsScanner } from "../protocol/mpegts.ts";
import { M2TS_HEADER_SIZE, M2TS_PACKING, M2TS_SIZE, m2tsGetArrivalTime } from "../protocol/mpeg_m2ts.ts";
import type { ArrivalSink } from "../protocol/mpeg_timing.ts";
import type { FileSource } from "./file_source.ts";
import { SOURCE_END, type Source } from "./source.ts";

/** Raw bytes read from the input at a time: whole source packets, about 64 KiB. */
const RAW_CHUNK_BYTES = Math.floor((64 << 10) / M2TS_SIZE) * M2TS_SIZE;
/** Packets one raw chunk can complete: its own and those the scanner carried over from the last. */
const PACKETS_PER_CHUNK = RAW_CHUNK_BYTES / M2TS_SIZE + 3;

export interface M2tsSource extends Source {
  /** Where the arrival stamps go: the pacing clock, or null when PCRs or --bitrate pace the stream. */
  arrivals: ArrivalSink | null;
  /** Bytes left out so far: garbage between packets and a cut-off last packet. */
  readonly skippedBytes: number;
  /** Moves to TS byte `offset` (a packet boundary of the stripped stream); files only. */
  seek(offset: number): void;
}

/** Whether `source` unwraps M2TS (a sequence of inputs routes their stamps to one clock). */
export function isM2tsSource(source: Source): source is M2tsSource {
  return "arrivals" in source;
}

/** Unwraps the M2TS read from `raw`; `seek` needs `raw` to be a file. */
export function m2tsSource(raw: Source | FileSource, arrivals: ArrivalSink | null): M2tsSource {
  const rawChunk = Buffer.alloc(RAW_CHUNK_BYTES);
  const stripped = Buffer.alloc(PACKETS_PER_CHUNK * TS_SIZE);
  let strippedStart = 0;
  let strippedEnd = 0;
  let rawEnded = false;
  const scanner = new TsScanner(0, M2TS_PACKING);

  const onPacket: TsPacketCallback = (buf, at) => {
    source.arrivals?.arrived(m2tsGetArrivalTime(buf, at));
    // A byte loop: a subarray view per packet would allocate at the packet rate.
    const from = at + M2TS_HEADER_SIZE;
    for (let i = 0; i < TS_SIZE; i++) stripped[strippedEnd + i] = buf[from + i]!;
    strippedEnd += TS_SIZE;
  };

  const restart = (rawOffset: number) => {
    scanner.reset(rawOffset);
    strippedStart = strippedEnd = 0;
    rawEnded = false;
  };

  const source: M2tsSource = {
    label: raw.label,
    onReadable: null,
    arrivals,
    get skippedBytes() {
      return scanner.skipped;
    },
    read(target, at, length) {
      let written = 0;
      for (;;) {
        if (strippedEnd > strippedStart) {
          const n = Math.min(length - written, strippedEnd - strippedStart);
          stripped.copy(target, at + written, strippedStart, strippedStart + n);
          strippedStart += n;
          written += n;
          if (written === length) return written;
        }
        if (rawEnded) return written > 0 ? written : SOURCE_END;
        strippedStart = strippedEnd = 0;
        const n = raw.read(rawChunk, 0, RAW_CHUNK_BYTES);
        if (n === SOURCE_END) {
          rawEnded = true;
          scanner.flush(onPacket); // a cut-off last packet is left out with its header
          continue;
        }
        if (n === 0) {
          // A pipe with nothing yet (onReadable calls again): a stall is not waited out, the
          // packet held for the next one's sync goes as it is (TsScanner.release).
          scanner.release(onPacket);
          if (strippedEnd === 0) return written;
          continue;
        }
        scanner.push(n === RAW_CHUNK_BYTES ? rawChunk : rawChunk.subarray(0, n), onPacket);
      }
    },
    rewind() {
      if (!raw.rewind()) return false;
      restart(0);
      return true;
    },
    seek(offset) {
      if (!("seek" in raw)) throw new Error(`${raw.label}: cannot seek`);
      const rawOffset = Math.floor(offset / TS_SIZE) * M2TS_SIZE;
      raw.seek(rawOffset);
      restart(rawOffset);
    },
    close() {
      raw.close();
    },
  };
  raw.onReadable = () => source.onReadable?.();
  return source;
}
