/**
 * Refuses a `play` whose output would overwrite one of its own inputs, or
 * whose `--sdp` would replace one of its `file:` outputs:
 * `file:` truncates its path when it opens, and `--sdp` replaces its file,
 * so `pacer play a.ts --to file:a.ts` would destroy the input before reading
 * it. Paths are compared as the files they name (device and inode), so a
 * symlink, a hard link or another spelling of the path is caught too. A
 * path that does not exist yet cannot be an input, but can be both the SDP
 * and an output: such paths are compared where they lead.
 *
 * @example
 * ```ts
 * refuseOutputsOverInputs(["a.ts", "-"], ["file:copy.ts", "rtp://10.0.0.1:5004"], "a.sdp"); // fine
 * refuseOutputsOverInputs(["a.ts"], ["file:./a.ts"]); // throws UsageError (exit 2)
 * ```
 */
import { fstatSync, lstatSync, readlinkSync, realpathSync, type Stats, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { UsageError } from "../foundation/errors.ts";

const FILE_SCHEME = "file:";
const STDIN_FD = 0;

/** The file an input or output names, or null when there is none (yet). */
function fileAt(path: string): Stats | null {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

/** What an input argument reads: a path's file, or for `-` whatever stdin was redirected from. */
function inputFile(spec: string): Stats | null {
  if (spec !== "-") return fileAt(spec);
  try {
    return fstatSync(STDIN_FD);
  } catch {
    return null;
  }
}

function sameFile(a: Stats, b: Stats): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}

/**
 * Throws a UsageError when a `file:PATH` output or the `--sdp` path is the same file as an input.
 * Call it before anything is opened for writing.
 */
export function refuseOutputsOverInputs(inputs: readonly string[], outputs: readonly string[], sdpPath?: string): void {
  const written = fileOutputs(outputs);
  if (sdpPath !== undefined) written.push({ what: `--sdp ${sdpPath}`, path: sdpPath });
  if (written.length === 0) return;
  const read = inputs.map((spec) => ({ spec, file: inputFile(spec) }));
  for (const { what, path } of written) {
    const target = fileAt(path);
    if (!target || !target.isFile()) continue; // a FIFO or device written to is not overwritten
    const input = read.find((i) => i.file !== null && sameFile(i.file, target));
    if (input) {
      const name = input.spec === "-" ? "stdin" : `input ${input.spec}`;
      throw new UsageError(`${what} is the same file as ${name}: writing it would destroy the input; choose another path`);
    }
  }
}

function fileOutputs(outputs: readonly string[]): { what: string; path: string }[] {
  return outputs
    // Schemes are case-blind where outputs are opened (backends/registry.ts): FILE:a.ts is a file: output.
    .filter((o) => o.slice(0, FILE_SCHEME.length).toLowerCase() === FILE_SCHEME)
    .map((o) => ({ what: `output ${o}`, path: o.slice(FILE_SCHEME.length) }));
}

/** Symlinks followed this many times at most, as the kernel's ELOOP bound. */
const MAX_LINK_HOPS = 40;

/**
 * Where a write to `path` lands: its real path, or for a path not there yet (a dangling
 * symlink included: `file:` creates what it points to) the real folder and the name in it.
 */
function landing(path: string, hops = 0): string {
  try {
    return realpathSync(path);
  } catch {}
  try {
    if (hops < MAX_LINK_HOPS && lstatSync(path).isSymbolicLink()) return landing(resolve(dirname(path), readlinkSync(path)), hops + 1);
  } catch {}
  try {
    return join(realpathSync(dirname(path)), basename(path));
  } catch {
    return resolve(path);
  }
}

/**
 * Throws a UsageError when the `--sdp` path is a `file:` output: the outputs are opened first and
 * the SDP then renamed over its path, so the stream would be lost and the exit 0. A FIFO or a
 * device is written into, not replaced, and passes. Call it before anything is opened for writing.
 */
export function refuseSdpOverOutputs(outputs: readonly string[], sdpPath: string): void {
  const sdpFile = fileAt(sdpPath);
  if (sdpFile && !sdpFile.isFile()) return;
  const sdpLanding = landing(sdpPath);
  for (const { what, path } of fileOutputs(outputs)) {
    const target = fileAt(path);
    const same = sdpFile && target ? sameFile(sdpFile, target) : landing(path) === sdpLanding;
    if (same) throw new UsageError(`--sdp ${sdpPath} is the same file as ${what}: the SDP would replace the stream; choose another path`);
  }
}
