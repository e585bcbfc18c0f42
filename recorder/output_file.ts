/**
 * One file being recorded, written so that it is valid at every sync: bytes go out with
 * fs.writeSync, fdatasync makes them durable every --sync-every (Bun's file writer has no fsync),
 * a WAV's header is rewritten first so that it always counts what the sync makes durable, and
 * with --part the file is NAME.part until it is complete. A write that fails (a full disk) leaves
 * the file cut back to its last whole unit (TS packet, PCM frame), with a header that says so; a
 * file that then holds nothing is removed (`removed`), or a schedule on a full disk leaves an
 * empty file at every run.
 *
 * @example
 * ```ts
 * const file = RecordingFile.create("rec/0630.wav", { wav: format, part: true });
 * file.write(samples, 0, samples.length);
 * file.sync();
 * file.close(); // renames rec/0630.wav.part to rec/0630.wav
 * ```
 */
import { closeSync, fdatasyncSync, ftruncateSync, fstatSync, mkdirSync, openSync, readlinkSync, realpathSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { PacerError } from "../foundation/errors.ts";
import { folderProblem } from "../foundation/folder_problem.ts";
import { fsErrorText } from "../foundation/fs_error.ts";
import { BeneathError, liesBeneath, makeFoldersBeneath } from "../foundation/open_beneath.ts";
import { bytesPerFrame, type SampleFormat } from "../protocol/sample_format.ts";
import { wavRecordingHeader } from "../protocol/wav.ts";

export interface RecordingFileOptions {
  /** PCM written as WAV in this (WAV-native) format. */
  wav?: SampleFormat;
  /** Written as NAME.part, renamed when closed. */
  part?: boolean;
  /** The whole unit a file is cut back to after a failed write (188 for TS, a frame for PCM). */
  unitBytes?: number;
  /**
   * A server recording's root: the file must be created beneath it. Folders named by the
   * pattern's fields (`%Y/`) are only known now, and one may be a symlink out, so the created
   * file's own path (its descriptor's, whatever the names did meanwhile) is checked.
   */
  root?: string;
}

/** Closes and removes the file just created at `fd` when it lies outside `root` (and throws). */
function refuseOutside(fd: number, root: string, writing: string): void {
  const where = readlinkSync(`/proc/self/fd/${fd}`);
  if (liesBeneath(realpathSync(root), where)) return;
  closeSync(fd);
  unlinkSync(where); // made by this open (O_EXCL): nothing of anyone else's
  throw outsideRoot(writing, root);
}

function outsideRoot(writing: string, root: string): RecordingWriteError {
  return new RecordingWriteError(`${writing}: resolves outside the recording root ${root} (a symlink?); not written`);
}

/** A write or sync failed; the message names the file and why. */
export class RecordingWriteError extends PacerError {
  override name = "RecordingWriteError";
}

export class RecordingFile {
  /** Media bytes written (the WAV header not counted). */
  bytes = 0;
  /** A failed write left nothing in it, and it was removed. */
  removed = false;
  private syncedBytes = 0;
  private readonly headerBytes: number;
  private closed = false;

  private constructor(
    /** The name the file has when complete. */
    readonly path: string,
    private readonly writingPath: string,
    private readonly fd: number,
    private options: RecordingFileOptions,
  ) {
    this.headerBytes = options.wav ? wavRecordingHeader(options.wav, 0).length : 0;
  }

  /** Creates the file (and its folders) at `path`, a name not taken (FileNames picks one). */
  static create(path: string, options: RecordingFileOptions = {}): RecordingFile {
    const writing = options.part ? `${path}.part` : path;
    let fd: number;
    try {
      // Under a root, a folder named by a field (`%Y/`) may be a symlink out: nothing is made through it.
      if (options.root === undefined) mkdirSync(dirname(writing), { recursive: true });
      else makeFoldersBeneath(options.root, dirname(writing));
      fd = openSync(writing, "wx");
    } catch (error) {
      if (error instanceof BeneathError && error.reason === "escapes") throw outsideRoot(writing, options.root!);
      // A root gone meanwhile (that this user may not make again) was said as "permission denied".
      const rootProblem = options.root === undefined ? null : folderProblem(options.root, "write");
      if (rootProblem) throw new RecordingWriteError(`${writing}: cannot create: the recording root ${options.root} ${rootProblem}`);
      throw new RecordingWriteError(`${writing}: cannot create: ${error instanceof BeneathError ? error.message : fsErrorText(error)}`);
    }
    if (options.root !== undefined) refuseOutside(fd, options.root, writing);
    const file = new RecordingFile(path, writing, fd, options);
    if (options.wav) file.writeAll(wavRecordingHeader(options.wav, 0), 0, file.headerBytes);
    return file;
  }

  /** The unit a failed write cuts back to, once known (a TS found in 204-byte units). */
  setUnit(unitBytes: number): void {
    this.options = { ...this.options, unitBytes };
  }

  /** The name being written (NAME.part with --part). */
  get currentPath(): string {
    return this.writingPath;
  }

  write(bytes: Uint8Array, start: number, end: number): void {
    this.writeAll(bytes, start, end);
    this.bytes += end - start;
  }

  /** Makes what is written durable; a WAV's header counts it first. */
  sync(): void {
    if (this.closed || (this.syncedBytes === this.bytes && this.bytes > 0)) return;
    try {
      if (this.options.wav) writeSync(this.fd, wavRecordingHeader(this.options.wav, this.bytes), 0, this.headerBytes, 0);
      fdatasyncSync(this.fd);
    } catch (error) {
      throw this.failed(error);
    }
    this.syncedBytes = this.bytes;
  }

  /** Syncs, closes and (with --part) renames to the final name. */
  close(): void {
    if (this.closed) return;
    this.sync();
    this.closed = true;
    closeSync(this.fd);
    if (this.writingPath !== this.path) {
      try {
        renameSync(this.writingPath, this.path);
      } catch (error) {
        throw new RecordingWriteError(`${this.writingPath}: cannot rename to ${this.path}: ${fsErrorText(error)}`);
      }
    }
  }

  private writeAll(bytes: Uint8Array, start: number, end: number): void {
    try {
      for (let at = start; at < end; ) at += writeSync(this.fd, bytes, at, end - at);
    } catch (error) {
      throw this.failed(error);
    }
  }

  /**
   * After a failed write: the file is cut back to the last whole unit it holds, its header
   * rewritten to match, and closed; the error to report names it.
   */
  private failed(error: unknown): RecordingWriteError {
    const message = `${this.writingPath}: cannot write: ${fsErrorText(error)}`;
    if (this.closed) return new RecordingWriteError(message);
    this.closed = true;
    let empty = false;
    try {
      const unit = this.options.wav ? bytesPerFrame(this.options.wav) : (this.options.unitBytes ?? 1);
      const onDisk = Math.max(0, fstatSync(this.fd).size - this.headerBytes);
      const whole = onDisk - (onDisk % unit);
      empty = whole === 0;
      ftruncateSync(this.fd, this.headerBytes + whole);
      if (this.options.wav) writeSync(this.fd, wavRecordingHeader(this.options.wav, whole), 0, this.headerBytes, 0);
      this.bytes = whole;
      fdatasyncSync(this.fd);
    } catch {
      // The disk refuses even this: what the last sync made durable stays valid.
    }
    closeSync(this.fd);
    if (empty) return this.removeEmpty(message);
    if (this.writingPath !== this.path) {
      try {
        renameSync(this.writingPath, this.path);
      } catch {
        // Left as NAME.part: still valid up to its last whole unit.
      }
    }
    return new RecordingWriteError(message);
  }

  /** After a failed write left the (closed) file without media: it goes, and the error says so. */
  private removeEmpty(message: string): RecordingWriteError {
    try {
      unlinkSync(this.writingPath); // made by this open (O_EXCL): nothing of anyone else's
    } catch (error) {
      return new RecordingWriteError(`${message} (the empty file could not be removed: ${fsErrorText(error)})`);
    }
    this.removed = true;
    return new RecordingWriteError(`${message}; the empty file was removed`);
  }
}
