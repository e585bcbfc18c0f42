/**
 * `--sdp FILE`: written before the first packet, atomically (a temporary
 * file in the same directory, then rename), so a receiver polling for the
 * file never reads half of it.
 *
 * Only a regular file (or none yet) is replaced that way. A pipe or a device
 * (`--sdp /dev/stdout`, a FIFO, `>(…)`) is written into as it is: renaming
 * over it would put a plain file in its place (as root, over /dev/stdout for
 * every process after). A symlink to a file keeps its link: the file it
 * points to is the one replaced. A temporary file is never left behind. A
 * socket cannot be opened: one line, not a wait for a reader.
 */
import { closeSync, constants, openSync, realpathSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { PacerError } from "../foundation/errors.ts";
import { fsErrorText } from "../foundation/fs_error.ts";
import { buildSdp, sdpOrigin, type SdpMedia } from "../protocol/sdp.ts";

/** What waits on a FIFO's reader may be told: once that it waits, and to give up (a signal). */
export interface ReaderWait {
  onWait?: () => void;
  abandon?: AbortSignal;
}

/**
 * `media`: one m= section per rtp:// output (play refuses --sdp without one before opening any).
 * A wait for a FIFO's reader that `wait.abandon` ends writes nothing.
 */
export async function writeSdpFile(path: string, media: SdpMedia[], wait: ReaderWait = {}): Promise<void> {
  const text = buildSdp({ sessionId: Math.floor(Date.now() / 1000), origin: sdpOrigin(media), media });
  try {
    const target = existingTarget(path);
    // A socket cannot be opened (ENXIO, as a FIFO without its reader): a systemd service's /dev/stdout.
    if (target?.socket) throw new Error("is a socket (a file, a FIFO or a device can take the SDP)");
    if (target && !target.regular) await writeInto(path, text, target.fifo, wait);
    else replaceAtomically(target?.path ?? path, text);
  } catch (error) {
    throw new PacerError(`--sdp ${path}: cannot write: ${fsErrorText(error)}`);
  }
}

interface Target {
  path: string;
  regular: boolean;
  fifo: boolean;
  socket: boolean;
}

/** What `path` names once symlinks are followed, or null when nothing is there (a dangling link included). */
function existingTarget(path: string): Target | null {
  try {
    const stat = statSync(path);
    return { path: realpathSync(path), regular: stat.isFile(), fifo: stat.isFIFO(), socket: stat.isSocket() };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
}

/** A FIFO with no reader yet is opened again this often. */
const READER_RETRY_MS = 50;

/**
 * Into a pipe or a device as it is. A FIFO's blocking open would wait for its reader with the
 * event loop held: it is opened without blocking, again until a reader has it (`onWait` once) or
 * the wait is abandoned, and the SDP, far smaller than a pipe holds, then goes in one write.
 */
async function writeInto(path: string, text: string, fifo: boolean, { onWait, abandon }: ReaderWait): Promise<void> {
  let fd: number;
  for (let waited = false; ; ) {
    if (abandon?.aborted) return;
    try {
      fd = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
      break;
    } catch (error) {
      // ENXIO from a device is a device missing: no reader will come for it.
      if ((error as NodeJS.ErrnoException).code !== "ENXIO" || !fifo) throw error;
      if (!waited) onWait?.();
      waited = true;
      await Bun.sleep(READER_RETRY_MS);
    }
  }
  try {
    const bytes = Buffer.from(text);
    for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at);
  } finally {
    closeSync(fd);
  }
}

function replaceAtomically(path: string, text: string): void {
  const temporary = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(temporary, text);
    renameSync(temporary, path);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
}
