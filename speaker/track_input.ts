/**
 * A track opened for decoding: its PCM format and its frames, block by block.
 * WAV files are read natively; any other extension goes through the decoder
 * command the config gives for it (`sh -c`, raw PCM on its stdout, `{path}`
 * replaced by the single-quoted path). Blocks are whole frames in one reused
 * buffer. A decoder that exits non-zero fails the track at the point it died.
 *
 * @example
 * ```ts
 * const input = await openTrackInput("/srv/media/a.flac", "a.flac", decoders);
 * for (let block = await input.read(); block; block = await input.read()) convert(block);
 * input.close();
 * ```
 */
import { type ChildProcess, spawn } from "node:child_process";
import { open, type FileHandle } from "node:fs/promises";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { extname, join } from "node:path";
import type { Readable } from "node:stream";
import { bytesPerFrame, formatToString, type SampleFormat } from "../protocol/sample_format.ts";
import { readWavFileHeader, WavError } from "../protocol/wav.ts";
import { US_PER_S } from "../scheduler/clock.ts";
import { wholeNumberOrNull } from "../foundation/units.ts";
import { describeFsError, describeOpenError, fsErrorText, isShortage } from "../foundation/fs_error.ts";
import { signalGroup } from "../foundation/process_group.ts";
import { describeExit } from "../foundation/child_exit.ts";
import type { DecoderSpec } from "./speaker_options.ts";

/** Frames per block: about 90 ms at 44.1 kHz, so a block converts well within one send interval's slack. */
export const BLOCK_FRAMES = 4096;
/** Where a decoder finds a file held open: its own descriptor 3, which it inherits. */
const HELD_PATH = "/dev/fd/3";

/** The server's private folder of links to HELD_PATH, made on first use, removed at exit. */
let linkDir: string | null = null;
let links = 0;

/**
 * What `{path}` becomes for a file held open: a link named like the track (`N.flac`) to the
 * decoder's descriptor 3, so a decoder that goes by the name's extension (sox) reads the right
 * format, and no name under the media root is looked up again. HELD_PATH itself where no link
 * can be made. The caller removes the link once the decoder has exited.
 */
function heldFileLink(extension: string): string {
  try {
    if (linkDir === null) {
      const dir = mkdtempSync(join(tmpdir(), "pacer-tracks-")); // mode 0700
      process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
      linkDir = dir;
    }
    const link = join(linkDir, `${++links}${extension ? `.${extension}` : ""}`);
    symlinkSync(HELD_PATH, link);
    return link;
  } catch {
    return HELD_PATH;
  }
}
/** Decoded audio held from a decoder's stdout before it is paused (it then blocks on its pipe). */
const DECODED_AHEAD_BYTES = 256 * 1024;
/** A decoder that gives nothing this long while it is read fails its track, so the queue goes on. PACER_DECODER_STALL_MS overrides it, for tests. */
const DECODER_STALL_MS = wholeNumberOrNull(process.env.PACER_DECODER_STALL_MS, 600_000) ?? 10_000;
/** Once a decoder exited or ended its stdout, the rest of its end (the other, its stderr's close) is waited for this long. */
const DECODER_END_WAIT_MS = 1_000;
/**
 * A decoder's last line when its shell could not fork (at the user's process limit, RLIMIT_NPROC):
 * dash's `sh: 1: Cannot fork`, bash's `bash: fork: retry: Resource temporarily unavailable`. Not
 * EAGAIN's text alone: a decoder reading a device or a FIFO that says it for its own reasons held
 * the whole queue, tried again every second for good.
 */
const OUT_OF_PROCESSES = /Cannot fork|fork: (retry: )?Resource temporarily unavailable/;
/** A decoder's last stderr lines kept to explain its failure. */
const STDERR_KEEP_BYTES = 512;

/**
 * A track's file opened for reading (`fd`, which the opener's caller closes), or why it cannot be;
 * `shortage`: the server is short of descriptors or memory, and a try later may pass.
 */
export type HeldFile = { readonly ok: true; readonly fd: number } | { readonly ok: false; readonly message: string; readonly shortage?: boolean };

/** A one-line reason a track cannot be played, naming the track as the client did. */
export class TrackError extends Error {
  override name = "TrackError";
  constructor(
    message: string,
    /** The host is short of descriptors, memory or processes (isShortage): the track may open once some is freed. */
    readonly shortage = false,
  ) {
    super(message);
  }
}

export interface TrackInput {
  readonly format: SampleFormat;
  /** Known for WAV; undefined for decoded tracks. */
  readonly durationUs?: number;
  /** The next block of whole frames (valid until the next call), or null at the end. Rejects with TrackError. */
  read(): Promise<Uint8Array | null>;
  close(): void;
}

/**
 * Opens `path` (shown as `label`) with the decoder its extension calls for. Rejects with
 * TrackError. With `fd`, the file is the one that descriptor holds (opened beneath the media
 * root; the caller closes it once this returns): a WAV file is read through it, and a decoder
 * gets it as its descriptor 3, `{path}` being a link to that (heldFileLink), so no name under the
 * media root is looked up again.
 */
export async function openTrackInput(path: string, label: string, decoders: ReadonlyMap<string, DecoderSpec>, fd?: number): Promise<TrackInput> {
  const extension = extname(path).slice(1).toLowerCase();
  const decoder = decoderOf(extension, label, decoders);
  if (decoder) return await openDecoded(path, extension, label, decoder, fd);
  return openWav(fd === undefined ? path : `/proc/self/fd/${fd}`, label);
}

/**
 * Refuses, when it is queued, a track that could never play, as far as can be told without
 * decoding it: an extension with no decoder, or a `.wav` whose header does not parse (a read of
 * its head through `fd`, the file held open). A decoded format is its decoder's to judge, when
 * the track loads. Rejects with TrackError.
 */
export async function checkTrack(path: string, label: string, decoders: ReadonlyMap<string, DecoderSpec>, fd: number): Promise<void> {
  if (decoderOf(extname(path).slice(1).toLowerCase(), label, decoders)) return;
  let file: FileHandle;
  try {
    file = await open(`/proc/self/fd/${fd}`, "r");
  } catch (error) {
    throw new TrackError(describeOpenError(label, error), isShortage(error));
  }
  try {
    await readWavHeader(file, label);
  } finally {
    await file.close().catch(() => {});
  }
}

/** The decoder for `extension`, or null for a WAV, which is read natively; a TrackError for any other. */
function decoderOf(extension: string, label: string, decoders: ReadonlyMap<string, DecoderSpec>): DecoderSpec | null {
  const decoder = decoders.get(extension);
  if (decoder) return decoder;
  if (extension === "wav") return null;
  const known = ["wav", ...decoders.keys()].join(", ");
  throw new TrackError(`${label}: no decoder for ".${extension}" files (configured: ${known}); add one under [speaker.decoders]`);
}

/** A WAV file's size and header, from its head; a TrackError when it is no WAV. */
async function readWavHeader(file: FileHandle, label: string) {
  try {
    const size = (await file.stat()).size;
    const header = await readWavFileHeader(async (bytes) => {
      const head = Buffer.alloc(bytes);
      const { bytesRead } = await file.read(head, 0, bytes, 0);
      return head.subarray(0, bytesRead);
    }, size, label);
    return { size, header };
  } catch (error) {
    if (error instanceof TrackError) throw error;
    // A WavError names the track already; a file error does not.
    throw new TrackError(error instanceof WavError ? error.message : describeOpenError(label, error));
  }
}

async function openWav(path: string, label: string): Promise<TrackInput> {
  let file: FileHandle;
  try {
    file = await open(path, "r");
  } catch (error) {
    throw new TrackError(describeOpenError(label, error), isShortage(error));
  }
  try {
    const { size, header } = await readWavHeader(file, label);
    const { format, dataOffset } = header;
    const frameBytes = bytesPerFrame(format);
    const dataEnd = header.dataBytes === null ? size : Math.min(size, dataOffset + header.dataBytes);
    const usable = dataEnd - dataOffset - ((dataEnd - dataOffset) % frameBytes);
    const block = Buffer.alloc(BLOCK_FRAMES * frameBytes);
    let position = dataOffset;
    const end = dataOffset + usable;
    return {
      format,
      durationUs: Math.round(((usable / frameBytes) * US_PER_S) / format.rate),
      async read() {
        const wanted = Math.min(block.length, end - position);
        if (wanted <= 0) return null;
        let got: number;
        try {
          ({ bytesRead: got } = await file.read(block, 0, wanted, position));
        } catch (error) {
          throw new TrackError(`${label}: read error: ${fsErrorText(error)}`);
        }
        got -= got % frameBytes;
        if (got === 0) return null; // the file shrank under us: end here
        position += got;
        return got === block.length ? block : block.subarray(0, got);
      },
      close() {
        void file.close().catch(() => {});
      },
    };
  } catch (error) {
    void file.close().catch(() => {});
    // A WavError names the track already (parseWavHeader was given its label).
    if (error instanceof TrackError) throw error;
    throw new TrackError(error instanceof WavError ? error.message : describeOpenError(label, error));
  }
}

/** The shell's single-quoted form of `text`. */
export function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

async function openDecoded(path: string, extension: string, label: string, decoder: DecoderSpec, fd?: number): Promise<TrackInput> {
  const link = fd === undefined ? null : heldFileLink(extension);
  const command = decoder.command.replaceAll("{path}", shellQuote(link ?? path));
  const stdio: ("ignore" | "pipe" | number)[] = ["ignore", "pipe", "pipe"];
  if (fd !== undefined) stdio.push(fd);
  // Its own process group, so close() ends the decoder the shell started too, not the shell alone.
  const child: ChildProcess = spawn("sh", ["-c", command], { stdio, detached: true });
  // Short of descriptors or processes (EMFILE, EAGAIN), Bun's spawn does not throw: the child has
  // no pid (nor pipes, short of descriptors), and the reason follows as an "error" event. Its
  // pipes taken as there, the track failed as "undefined is not an object", and the event, with
  // no listener yet, put a stack trace in the log.
  if (child.pid === undefined) {
    const error = await new Promise<Error>((resolve) => child.once("error", resolve));
    if (link !== null && link !== HELD_PATH) rmSync(link, { force: true });
    throw new TrackError(`${label}: decoder could not start: ${describeFsError(error)}`, isShortage(error));
  }
  const stdout = child.stdout as Readable;
  let stderrTail = "";
  child.stderr!.on("data", (d: Buffer) => (stderrTail = (stderrTail + d.toString()).slice(-STDERR_KEEP_BYTES)));
  let spawnError: Error | null = null;
  child.on("error", (error) => (spawnError = error));
  /** Everything of it is over: it exited and its stdout and stderr closed (nothing it started holds them). */
  let closedFully = false;
  /** How it ended; `lingering`: it closed its stdout but had not exited DECODER_END_WAIT_MS later (it was ended). */
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; lingering?: true }>((resolve) => {
    let settled = false;
    const settle = (end: { code: number | null; signal: NodeJS.Signals | null; lingering?: true }) => {
      if (settled) return;
      settled = true;
      clearTimeout(endWait);
      if (link !== null && link !== HELD_PATH) rmSync(link, { force: true });
      resolve(end);
    };
    child.on("close", (code, signal) => {
      closedFully = true;
      settle({ code, signal });
    });
    // "close" waits for all of it: a decoder that closed its stdout and lingers (`exec >&-; sleep
    // 30`), or what it started holding its stderr, held the next track's load (and the queue) that
    // long. Once it exited, or its stdout ended, the rest is waited for this long only.
    let endWait: ReturnType<typeof setTimeout> | undefined;
    const waitForEnd = () => {
      endWait ??= setTimeout(() => {
        if (child.exitCode !== null || child.signalCode !== null) return settle({ code: child.exitCode, signal: child.signalCode });
        signalGroup(child, "SIGKILL");
        settle({ code: null, signal: null, lingering: true });
      }, DECODER_END_WAIT_MS);
    };
    child.on("exit", waitForEnd);
    stdout.on("end", waitForEnd);
  });
  // Chunks of stdout as they come, paused while DECODED_AHEAD_BYTES wait (so the decoder blocks on
  // its pipe). Read in paused mode instead, Bun ended the stream once the decoder had exited and
  // dropped what was still buffered: a track queued behind others lost its end (measured: 240,704
  // of 352,800 bytes).
  const chunks: Buffer[] = [];
  let queued = 0;
  let ended = false;
  let wake: (() => void) | null = null;
  const woken = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  stdout.on("data", (chunk: Buffer) => {
    chunks.push(chunk);
    queued += chunk.length;
    if (queued >= DECODED_AHEAD_BYTES) stdout.pause();
    woken();
  });
  const end = () => {
    ended = true;
    woken();
  };
  stdout.on("end", end);
  stdout.on("close", end);
  const frameBytes = bytesPerFrame(decoder.format);
  const block = Buffer.alloc(BLOCK_FRAMES * frameBytes);
  /** Part of a chunk not yet copied into a block. */
  let pending: Buffer | null = null;
  let pendingAt = 0;
  let closed = false;

  /** The next chunk of stdout, or null at its end; a decoder silent for DECODER_STALL_MS fails the track. */
  const nextChunk = async (): Promise<Buffer | null> => {
    for (;;) {
      const chunk = chunks.shift();
      if (chunk) {
        queued -= chunk.length;
        if (queued < DECODED_AHEAD_BYTES) stdout.resume();
        return chunk;
      }
      if (ended || closed) return null;
      const heard = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), DECODER_STALL_MS);
        wake = () => {
          clearTimeout(timer);
          resolve(true);
        };
      });
      if (!heard) throw new TrackError(`${label}: the decoder gave nothing for ${DECODER_STALL_MS / 1000} s; skipping it`);
    }
  };

  const failure = async (): Promise<TrackError | null> => {
    const { code, signal, lingering } = await exited;
    if (spawnError) return new TrackError(`${label}: decoder could not start: ${describeFsError(spawnError)}`, isShortage(spawnError));
    if (lingering) return new TrackError(`${label}: the decoder closed its output but had not exited ${DECODER_END_WAIT_MS / 1000} s later; ended it`);
    if (code === 0) return null;
    const why = stderrTail.trim().split("\n").pop()?.trim();
    return new TrackError(`${label}: decoder ${describeExit(code, signal)}${why ? `: ${why}` : ""}`, why !== undefined && OUT_OF_PROCESSES.test(why));
  };

  return {
    format: decoder.format,
    async read() {
      let filled = 0;
      while (filled < block.length) {
        if (!pending) {
          pending = await nextChunk();
          pendingAt = 0;
          if (!pending) break;
        }
        const n = Math.min(block.length - filled, pending.length - pendingAt);
        pending.copy(block, filled, pendingAt, pendingAt + n);
        filled += n;
        pendingAt += n;
        if (pendingAt === pending.length) pending = null;
      }
      if (filled < block.length) {
        // The end of stdout: whatever the decoder did, its exit status says whether that was the end of the track.
        const error = await failure();
        if (error) throw error;
        filled -= filled % frameBytes;
        if (filled === 0) return null;
      }
      return filled === block.length ? block : block.subarray(0, filled);
    },
    close() {
      closed = true;
      woken();
      // The shell and whatever it started (its process group: spawned detached), unless all of it
      // is over. A shell that has exited may have left a child behind that holds stdout or stderr
      // open (`(sleep 300 &)`): the group still has a member then, so its id is still its own.
      if (!closedFully && child.pid !== undefined) signalGroup(child, "SIGKILL");
      stdout.destroy();
    },
  };
}

/** "flac (s16le:44100:2)" for logs. */
export function describeDecoder(extension: string, decoder: DecoderSpec): string {
  return `${extension} (${formatToString(decoder.format)})`;
}
