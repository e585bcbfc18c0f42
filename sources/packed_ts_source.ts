/**
 * TS packed in units larger than a packet (protocol/mpegts.ts TsPacking) as a Source of plain
 * 188-byte TS packets: what every TS receiver takes. M2TS has a 4-byte header before each packet
 * (sources/m2ts_source.ts hands its arrival stamps on); some recorders write a 4-byte trailer
 * after each. The unit's other bytes are stripped as it is read.
 *
 * Packets are found by the same scanner as TS garbage is (TsScanner, with the input's packing),
 * so bytes between packets and a cut-off last unit never reach the job: `pacer probe` counts
 * them as garbage, with the same scanner.
 *
 * @example
 * ```ts
 * const source = packedTsSource(openFileSource("rec.ts", 0, size), TS_TRAILER_PACKING);
 * source.read(buffer, 0, 131072); // whole 188-byte TS packets
 * ```
 */
import { type TsPacketCallback, type TsPacking, TS_SIZE, TsScanner } from "../protocol/mpegts.ts";
import type { FileSource } from "./file_source.ts";
import { SOURCE_END, type Source } from "./source.ts";

/** Raw bytes read from the input at a time: about 64 KiB. */
const RAW_CHUNK_BYTES = 64 << 10;

export interface PackedTsSource extends Source {
  /** Bytes left out so far: garbage between packets and a cut-off last unit. */
  readonly skippedBytes: number;
  /** Moves to TS byte `offset` (a packet boundary of the stripped stream); files only. */
  seek(offset: number): void;
}

/**
 * Unwraps the TS read from `raw` in `packing`'s units; `onUnit` sees each unit (its buffer and
 * where it starts) as it is read, before the packet is taken. `seek` needs `raw` to be a file.
 */
export function packedTsSource(raw: Source | FileSource, packing: TsPacking, onUnit: TsPacketCallback | null = null): PackedTsSource {
  const unit = packing.size;
  const rawChunkBytes = Math.floor(RAW_CHUNK_BYTES / unit) * unit;
  const rawChunk = Buffer.alloc(rawChunkBytes);
  // Packets one raw chunk can complete: its own and those the scanner carried over from the last.
  const stripped = Buffer.alloc((rawChunkBytes / unit + 3) * TS_SIZE);
  let strippedStart = 0;
  let strippedEnd = 0;
  let rawEnded = false;
  // A raw source of several inputs (a live channel's sources): `stripped` holds one input's
  // packets at a time, and the next input's first raw bytes wait in `rawChunk` until they are
  // read out, so no read mixes two inputs and `inputIndex` says where the next one begins.
  let inputIndex = raw.inputIndex;
  let nextInputBytes = 0;
  const scanner = new TsScanner(0, packing);

  const onPacket: TsPacketCallback = (buf, at, offset) => {
    onUnit?.(buf, at, offset);
    // A byte loop: a subarray view per packet would allocate at the packet rate.
    const from = at + packing.syncAt;
    for (let i = 0; i < TS_SIZE; i++) stripped[strippedEnd + i] = buf[from + i]!;
    strippedEnd += TS_SIZE;
  };

  const restart = (rawOffset: number) => {
    scanner.reset(rawOffset);
    strippedStart = strippedEnd = 0;
    nextInputBytes = 0;
    rawEnded = false;
  };

  const source: PackedTsSource = {
    label: raw.label,
    onReadable: null,
    get skippedBytes() {
      return scanner.skipped;
    },
    get inputIndex() {
      return inputIndex;
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
        if (nextInputBytes > 0) {
          if (written > 0) return written;
          inputIndex = raw.inputIndex;
          scanner.push(rawChunk.subarray(0, nextInputBytes), onPacket);
          nextInputBytes = 0;
          continue;
        }
        const n = raw.read(rawChunk, 0, rawChunkBytes);
        if (n > 0 && raw.inputIndex !== inputIndex) {
          // The last input's held packet is its last (a cut one is garbage); the next input's
          // bytes wait until this one's are read out.
          scanner.flush(onPacket);
          nextInputBytes = n;
          continue;
        }
        if (n === SOURCE_END) {
          rawEnded = true;
          scanner.flush(onPacket); // a cut-off last unit is left out with its extra bytes
          continue;
        }
        if (n === 0) {
          // A pipe with nothing yet (onReadable calls again): a stall is not waited out, the
          // packet held for the next one's sync goes as it is (TsScanner.release).
          scanner.release(onPacket);
          if (strippedEnd === 0) return written;
          continue;
        }
        scanner.push(n === rawChunkBytes ? rawChunk : rawChunk.subarray(0, n), onPacket);
      }
    },
    rewind() {
      if (!raw.rewind()) return false;
      restart(0);
      return true;
    },
    seek(offset) {
      if (!("seek" in raw)) throw new Error(`${raw.label}: cannot seek`);
      const rawOffset = Math.floor(offset / TS_SIZE) * unit;
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
