/**
 * MPEG fixtures made at test run time: synthetic CBR streams written in
 * TypeScript (exact, known timing) and real ones made by ffmpeg, with
 * ffprobe as the independent check. Nothing binary is committed.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  PCR_HZ, TS_RS_PARITY_SIZE, TS_SIZE, tsInit, tsSetAdaptation, tsSetCc, tsSetDiscontinuity, tsSetPcr, tsSetPid,
  tsSetPayloadUnitStart, TS_PCR_ADAPTATION_LENGTH,
} from "../../protocol/mpegts.ts";
import { PS_MPEG2_PACK_SIZE, psWriteMpeg2Pack } from "../../protocol/mpegps.ts";
import { M2TS_HEADER_SIZE, M2TS_SIZE, m2tsSetArrivalTime } from "../../protocol/mpeg_m2ts.ts";

export interface CbrTsOptions {
  /** Bits per second. */
  bitrate: number;
  /** Seconds. */
  duration: number;
  /** Default 0x100. */
  pcrPid?: number;
  /** Default 0x101; its packets carry a counting payload. */
  payloadPid?: number;
  /** Milliseconds between PCRs, default 20. */
  pcrIntervalMs?: number;
  /** PCR of packet 0, 27 MHz ticks, default 10 s. */
  firstPcr?: number;
}

/**
 * A constant-bit-rate TS: packet k is due at k*188*8/bitrate s, and PCRs on
 * pcrPid carry exactly that (plus firstPcr).
 */
export function makeCbrTs(o: CbrTsOptions): Uint8Array {
  const pcrPid = o.pcrPid ?? 0x100;
  const payloadPid = o.payloadPid ?? 0x101;
  const firstPcr = o.firstPcr ?? 10 * PCR_HZ;
  const bytesPerSecond = o.bitrate / 8;
  const count = Math.round((o.duration * bytesPerSecond) / TS_SIZE);
  const pcrEvery = Math.max(1, Math.round(((o.pcrIntervalMs ?? 20) / 1000) * bytesPerSecond / TS_SIZE));
  const out = new Uint8Array(count * TS_SIZE);
  let cc = 0;
  for (let k = 0; k < count; k++) {
    const at = k * TS_SIZE;
    tsInit(out, at);
    if (k % pcrEvery === 0) {
      tsSetPid(out, at, pcrPid);
      out[at + 3] = 0x20; // adaptation only
      tsSetAdaptation(out, at, TS_SIZE - 5);
      tsSetPcr(out, at, firstPcr + Math.round((at * PCR_HZ) / bytesPerSecond));
    } else {
      tsSetPid(out, at, payloadPid);
      tsSetPayloadUnitStart(out, at, k % 50 === 1);
      tsSetCc(out, at, cc++);
      out.fill(k & 0xff, at + 4, at + TS_SIZE);
      out[at + 4] = 0; // keep 0x47 rare in payload without forbidding it
    }
  }
  return out;
}

/** Sets discontinuity_indicator on the PCR packet at or after `byteOffset` in a makeCbrTs stream. */
export function markDiscontinuityAt(ts: Uint8Array, byteOffset: number, pcrPid = 0x100): number {
  for (let at = Math.ceil(byteOffset / TS_SIZE) * TS_SIZE; at < ts.length; at += TS_SIZE) {
    if (((ts[at + 1] & 0x1f) << 8 | ts[at + 2]) === pcrPid && ts[at + 4] >= TS_PCR_ADAPTATION_LENGTH) {
      tsSetDiscontinuity(ts, at, true);
      return at;
    }
  }
  return -1;
}

export interface CbrPsOptions {
  /** Bytes per second (program_mux_rate * 50). */
  muxRate: number;
  duration: number;
  /** Bytes per pack, default 2048. */
  packSize?: number;
  firstScr?: number;
}

/** An MPEG-2 PS of packs each holding one padding_stream PES packet, SCRs exactly at muxRate. */
export function makeCbrPs(o: CbrPsOptions): Uint8Array {
  const packSize = o.packSize ?? 2048;
  const firstScr = o.firstScr ?? 0;
  const count = Math.round((o.duration * o.muxRate) / packSize);
  const out = new Uint8Array(count * packSize);
  for (let k = 0; k < count; k++) {
    const at = k * packSize;
    psWriteMpeg2Pack(out, at, firstScr + Math.round((at * PCR_HZ) / o.muxRate), o.muxRate);
    const pes = at + PS_MPEG2_PACK_SIZE;
    const length = packSize - PS_MPEG2_PACK_SIZE - 6;
    out.set([0, 0, 1, 0xbe, length >> 8, length & 0xff], pes); // padding_stream
    out.fill(0xff, pes + 6, at + packSize);
  }
  return out;
}

/**
 * A PS as GStreamer's mpegpsmux writes one: a pack header only every `scrEvery` s (the packs
 * between are PES packets alone) and every program_mux_rate 409600 bit/s, whatever the rate the
 * SCRs give (`muxRate` bytes/s; `firstRate` between the first two, default the same).
 */
export function makeGstreamerLikePs(o: { muxRate: number; duration: number; scrEvery: number; firstRate?: number }): Uint8Array {
  // The first stretch (first SCR to second) carries `firstRate` bytes/s, the rest `muxRate`.
  const firstRate = o.firstRate ?? o.muxRate;
  const packEvery = Math.round((o.scrEvery * o.muxRate) / 2048);
  const firstBytes = Math.round((o.scrEvery * firstRate) / 2048) * 2048;
  const ps = makeCbrPs({ muxRate: o.muxRate, duration: o.duration + (firstBytes - packEvery * 2048) / o.muxRate });
  const scrAt = (at: number): number =>
    at < firstBytes ? (at * PCR_HZ) / firstRate : (firstBytes * PCR_HZ) / firstRate + ((at - firstBytes) * PCR_HZ) / o.muxRate;
  for (let at = 0; at < ps.length; at += 2048) {
    if (at < firstBytes ? at === 0 : ((at - firstBytes) / 2048) % packEvery === 0) psWriteMpeg2Pack(ps, at, Math.round(scrAt(at)), 51_200);
    // The pack header's 14 bytes become a padding_stream PES packet of 14 bytes.
    else ps.set([0, 0, 1, 0xbe, 0, PS_MPEG2_PACK_SIZE - 6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], at);
  }
  return ps;
}

/**
 * The aligned TS `ts` in `unit`-byte units (192 by default): packet k at `packetAt` in unit k, and
 * `writeExtra(out, unitAt, k)` writing the unit's other bytes.
 */
function inUnits(ts: Uint8Array, packetAt: number, writeExtra: (out: Uint8Array, unitAt: number, k: number) => void, unit = M2TS_SIZE): Uint8Array {
  const count = Math.floor(ts.length / TS_SIZE);
  const out = new Uint8Array(count * unit);
  for (let k = 0; k < count; k++) {
    writeExtra(out, k * unit, k);
    out.set(ts.subarray(k * TS_SIZE, (k + 1) * TS_SIZE), k * unit + packetAt);
  }
  return out;
}

/**
 * An M2TS of the aligned TS `ts`: each packet behind a 4-byte header whose arrival_time_stamp is
 * `arrivalOf(k)` (27 MHz ticks; written modulo 2^30) for packet k.
 */
export function makeM2ts(ts: Uint8Array, arrivalOf: (k: number) => number): Uint8Array {
  return inUnits(ts, M2TS_HEADER_SIZE, (out, at, k) => m2tsSetArrivalTime(out, at, arrivalOf(k)));
}

/**
 * The aligned TS `ts` as some recorders write it: each packet followed by a 4-byte trailer (a
 * timecode, a CRC), `trailerOf(k)` big-endian after packet k; sync bytes 192 apart from byte 0.
 */
export function makeTrailedTs(ts: Uint8Array, trailerOf: (k: number) => number): Uint8Array {
  return inUnits(ts, 0, (out, at, k) => new DataView(out.buffer, out.byteOffset).setUint32(at + TS_SIZE, trailerOf(k) >>> 0));
}

/** The aligned TS `ts` as DVB's 204-byte packets: each followed by 16 bytes standing for its Reed-Solomon parity (seeded noise). */
export function makeRsTs(ts: Uint8Array): Uint8Array {
  return inUnits(ts, 0, (out, at, k) => out.set(garbageBytes(TS_RS_PARITY_SIZE, k + 1), at + TS_SIZE), TS_SIZE + TS_RS_PARITY_SIZE);
}

/** The TS packets of an M2TS (its 4-byte headers stripped). */
export function stripM2ts(m2ts: Uint8Array): Uint8Array {
  const count = Math.floor(m2ts.length / M2TS_SIZE);
  const out = new Uint8Array(count * TS_SIZE);
  for (let k = 0; k < count; k++) out.set(m2ts.subarray(k * M2TS_SIZE + M2TS_HEADER_SIZE, (k + 1) * M2TS_SIZE), k * TS_SIZE);
  return out;
}

/** `count` TS packets, each a PAT start (PID 0, unit start), so a size rotation may cut at any. */
export function patPackets(count: number, from: number): Buffer {
  const out = Buffer.alloc(count * 188);
  for (let i = 0; i < count; i++) {
    const at = i * 188;
    out.set([0x47, 0x40, 0x00, 0x10 | ((from + i) & 0x0f)], at);
    out.fill((from + i) & 0xff, at + 4, at + 188);
  }
  return out;
}

/** ffmpeg and ffprobe on PATH? Without them, fail in CI and skip elsewhere. */
export function haveFfmpeg(): boolean {
  const ok = Bun.which("ffmpeg") !== null && Bun.which("ffprobe") !== null;
  if (!ok) {
    if (process.env.CI === "true") throw new Error("ffmpeg/ffprobe missing in CI: install ffmpeg (apt-get install ffmpeg)");
    console.warn("skipping ffmpeg-backed MPEG tests: ffmpeg/ffprobe not on PATH");
  }
  return ok;
}

export function makeTempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "pacer-mpeg-"));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

function run(cmd: string[]): string {
  const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${cmd[0]} failed (${r.exitCode}): ${r.stderr.toString()}`);
  return r.stdout.toString();
}

const TESTSRC = ["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25"];

/** A 1.5 Mbit/s CBR transport stream (muxrate-padded) made by ffmpeg. */
export function ffmpegTs(dir: string, seconds = 3, muxrate = 1_500_000): string {
  const path = join(dir, "ffmpeg.ts");
  run(["ffmpeg", "-v", "error", "-y", ...TESTSRC, "-t", String(seconds), "-c:v", "mpeg2video",
    "-b:v", "1200k", "-maxrate", "1200k", "-bufsize", "600k", "-muxrate", String(muxrate), "-f", "mpegts", path]);
  return path;
}

/**
 * An M2TS made by ffmpeg (`-mpegts_m2ts_mode 1`), CBR at `muxrate`: its arrival stamps are
 * written from the mux rate (without -muxrate ffmpeg writes stamps that mean nothing).
 */
export function ffmpegM2ts(dir: string, seconds = 3, muxrate = 1_500_000): string {
  const path = join(dir, "ffmpeg.m2ts");
  run(["ffmpeg", "-v", "error", "-y", ...TESTSRC, "-t", String(seconds), "-c:v", "mpeg2video",
    "-b:v", "1200k", "-maxrate", "1200k", "-bufsize", "600k", "-muxrate", String(muxrate),
    "-f", "mpegts", "-mpegts_m2ts_mode", "1", path]);
  return path;
}

/** An MPEG-1 (`-f mpeg`) or MPEG-2 (`-f vob`) program stream made by ffmpeg, mux rate 1 Mbit/s. */
export function ffmpegPs(dir: string, kind: "mpeg1" | "mpeg2", seconds = 3): string {
  const path = join(dir, kind === "mpeg1" ? "ffmpeg.mpg" : "ffmpeg.vob");
  run(["ffmpeg", "-v", "error", "-y", ...TESTSRC, "-t", String(seconds),
    "-c:v", kind === "mpeg1" ? "mpeg1video" : "mpeg2video", "-b:v", "800k", "-maxrate", "800k",
    "-bufsize", "400k", "-muxrate", "1000000", "-f", kind === "mpeg1" ? "mpeg" : "vob", path]);
  return path;
}

/** ffprobe's container duration, seconds. */
export function ffprobeDuration(path: string): number {
  const out = run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path]);
  return Number(out.trim());
}

/** ffprobe's PCR PID for program 1 (from -show_programs). */
export function ffprobePcrPid(path: string): number {
  const out = run(["ffprobe", "-v", "error", "-show_entries", "program=pcr_pid", "-of", "csv=p=0", path]);
  return Number.parseInt(out.trim(), 10); // csv prints "256," for the nested program section
}

/** Inserts `garbage` bytes at `at`, returning a new buffer. */
export function insertBytes(buf: Uint8Array, at: number, garbage: Uint8Array): Uint8Array {
  const out = new Uint8Array(buf.length + garbage.length);
  out.set(buf.subarray(0, at), 0);
  out.set(garbage, at);
  out.set(buf.subarray(at), at + garbage.length);
  return out;
}

/** `n` bytes that are never 0x47 (so they cannot fake a TS sync). */
export function garbageBytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    const b = (x >>> 16) & 0xff;
    out[i] = b === 0x47 ? 0x48 : b;
  }
  return out;
}

/**
 * Whether `sent` is `file`'s packets (from its start) but for what mending a seam may change
 * (protocol/ts_seams.ts): each packet's continuity_counter and its discontinuity_indicator.
 */
export function sameButSeamMends(sent: Uint8Array, file: Uint8Array): boolean {
  if (sent.length > file.length) return false;
  for (let i = 0; i < sent.length; i++) {
    const inPacket = i % TS_SIZE;
    const mask = inPacket === 3 ? 0xf0 : inPacket === 5 ? 0x7f : 0xff;
    if ((sent[i]! & mask) !== (file[i]! & mask)) return false;
  }
  return true;
}
