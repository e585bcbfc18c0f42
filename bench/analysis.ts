/**
 * Turns the receiver's rows (bench/receiver.ts) into pacing figures.
 *
 * Lateness ("as seen by the receiver"): for each datagram i of a stream,
 * its ideal arrival is t0 + media_i, where media_i is its media time (RTP
 * timestamp / sample rate for audio, bytes before it / byte rate for
 * constant-rate MPEG). The unknown t0, which includes the sender's lead and
 * the path delay, is fitted as the smallest arrival − media_i, so the
 * earliest datagram relative to the schedule has lateness 0 and every
 * other lateness is ≥ 0.
 *
 * Residual (MPEG): a least-squares line of arrival time against byte
 * offset, residual = arrival − line; figures are of |residual|. Unlike
 * lateness it does not assume the nominal rate, so it measures evenness
 * alone, as the multicat figures do.
 *
 * @example
 * ```ts
 * const audio = rtpLateness(rows, 1, 44_100);
 * spread(audio.latenessNs).p99;
 * ```
 */
import { ROW_ARRIVAL_NS, ROW_BYTES, ROW_FIELDS, ROW_SEQ, ROW_STREAM, ROW_TS } from "./receiver.ts";
import { lineResiduals, spread } from "./stats.ts";

const SEQ_MOD = 65_536;
const TS_MOD = 2 ** 32;
const NS_PER_S = 1e9;

export interface StreamCounts {
  /** Datagrams received per stream. */
  received: number[];
  /** RTP only: sequence numbers missing inside each stream's received span. */
  seqMissing: number[];
}

/**
 * Lateness of RTP audio against its timestamps, pooled over `streams` streams. The packets of the
 * sender's lead (`leadUs` of media, sent at once at the start by design) are counted as received
 * but not timed: they are early on purpose, and against the steady state they would read as late.
 */
export function rtpLateness(rows: Float64Array, streams: number, rate: number, leadUs = 0): { latenessNs: Float64Array } & StreamCounts {
  const n = rows.length / ROW_FIELDS;
  const offsetNs = new Float64Array(n);
  const stream = new Int32Array(n);
  const lastTs = new Float64Array(streams).fill(-1);
  const mediaTicks = new Float64Array(streams);
  const lastSeq = new Float64Array(streams).fill(-1);
  const minOffset = new Float64Array(streams).fill(Infinity);
  const received = new Array<number>(streams).fill(0);
  const seqMissing = new Array<number>(streams).fill(0);
  let kept = 0;
  for (let i = 0; i < n; i++) {
    const r = i * ROW_FIELDS;
    const s = rows[r + ROW_STREAM]!;
    const ts = rows[r + ROW_TS]!;
    const seq = rows[r + ROW_SEQ]!;
    if (ts < 0) continue;
    received[s]!++;
    if (lastTs[s]! >= 0) mediaTicks[s]! += (ts - lastTs[s]! + TS_MOD) % TS_MOD;
    if (lastSeq[s]! >= 0) seqMissing[s]! += ((seq - lastSeq[s]! + SEQ_MOD) % SEQ_MOD) - 1;
    lastTs[s] = ts;
    lastSeq[s] = seq;
    if ((mediaTicks[s]! / rate) * 1e6 < leadUs) continue;
    const offset = rows[r + ROW_ARRIVAL_NS]! - (mediaTicks[s]! / rate) * NS_PER_S;
    offsetNs[kept] = offset;
    stream[kept] = s;
    if (offset < minOffset[s]!) minOffset[s] = offset;
    kept++;
  }
  const latenessNs = new Float64Array(kept);
  for (let i = 0; i < kept; i++) latenessNs[i] = offsetNs[i]! - minOffset[stream[i]!]!;
  return { latenessNs, received, seqMissing };
}

export interface CbrStreamFigures {
  packets: number;
  bytes: number;
  gapsNs: Float64Array;
  /** |arrival − least-squares line|. */
  residualNs: Float64Array;
  /** Bits per second from the first to the last arrival. */
  bitrate: number;
}

/**
 * Evenness of one raw UDP stream (stream index `s`); with `skipNs`, of what arrived that long
 * after its first datagram (the start left out: a step there moves the whole run's line).
 */
export function cbrStream(rows: Float64Array, s: number, skipNs = 0): CbrStreamFigures {
  const n = rows.length / ROW_FIELDS;
  const arrivals: number[] = [];
  const offsets: number[] = [];
  let bytes = 0;
  let firstNs = NaN;
  for (let i = 0; i < n; i++) {
    const r = i * ROW_FIELDS;
    if (rows[r + ROW_STREAM] !== s) continue;
    const at = rows[r + ROW_ARRIVAL_NS]!;
    if (Number.isNaN(firstNs)) firstNs = at;
    if (at - firstNs >= skipNs) {
      arrivals.push(at);
      offsets.push(bytes);
    }
    bytes += rows[r + ROW_BYTES]!;
  }
  const gapsNs = new Float64Array(Math.max(0, arrivals.length - 1));
  for (let i = 1; i < arrivals.length; i++) gapsNs[i - 1] = arrivals[i]! - arrivals[i - 1]!;
  const residualNs = lineResiduals(offsets, arrivals).map(Math.abs);
  const spanNs = arrivals.length > 1 ? arrivals[arrivals.length - 1]! - arrivals[0]! : NaN;
  return { packets: arrivals.length, bytes, gapsNs, residualNs, bitrate: ((offsets[offsets.length - 1]! - offsets[0]!) * 8 * NS_PER_S) / spanNs };
}

/** A stream's residual p99 (cbrStream), ms. */
export function residualP99Ms(f: CbrStreamFigures): number {
  return spread(Array.from(f.residualNs, (ns) => ns / 1e6)).p99;
}

/** Lateness of many raw UDP streams against the constant byte rate, pooled; plus per-stream bitrates. */
export function cbrLateness(rows: Float64Array, streams: number, bytesPerSecond: number): { latenessNs: Float64Array; bitrates: number[] } & StreamCounts {
  const n = rows.length / ROW_FIELDS;
  const offsetNs = new Float64Array(n);
  const cumBytes = new Float64Array(streams);
  const minOffset = new Float64Array(streams).fill(Infinity);
  const first = new Float64Array(streams).fill(NaN);
  const last = new Float64Array(streams);
  const bytesBeforeLast = new Float64Array(streams);
  const received = new Array<number>(streams).fill(0);
  for (let i = 0; i < n; i++) {
    const r = i * ROW_FIELDS;
    const s = rows[r + ROW_STREAM]!;
    const at = rows[r + ROW_ARRIVAL_NS]!;
    received[s]!++;
    if (Number.isNaN(first[s]!)) first[s] = at;
    last[s] = at;
    bytesBeforeLast[s] = cumBytes[s]!;
    const offset = at - (cumBytes[s]! / bytesPerSecond) * NS_PER_S;
    offsetNs[i] = offset;
    if (offset < minOffset[s]!) minOffset[s] = offset;
    cumBytes[s]! += rows[r + ROW_BYTES]!;
  }
  const latenessNs = new Float64Array(n);
  for (let i = 0; i < n; i++) latenessNs[i] = offsetNs[i]! - minOffset[rows[i * ROW_FIELDS + ROW_STREAM]!]!;
  const bitrates = Array.from(first, (f, s) => (bytesBeforeLast[s]! * 8 * NS_PER_S) / (last[s]! - f));
  return { latenessNs, bitrates, received, seqMissing: new Array<number>(streams).fill(0) };
}
