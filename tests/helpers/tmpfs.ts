/**
 * A small real file system that fills up: a tmpfs mounted on a temp directory, for full-disk
 * stories. Mounting needs root (or CAP_SYS_ADMIN); where it is not permitted the caller skips,
 * except under CI (`CI=true`), which can mount and where a skip would pass unchecked.
 *
 * @example
 * ```ts
 * const disk = mountSmallDisk(64 * 1024);
 * if ("skip" in disk) return console.warn(disk.skip);
 * try { ... write into disk.dir ... } finally { disk.unmount(); }
 * ```
 */
import { spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface SmallDisk {
  /** The mount point, writable by root. */
  readonly dir: string;
  /** Unmounts and removes the mount point. */
  unmount(): void;
}

/**
 * Mounts a tmpfs of `sizeBytes` (rounded to pages by the kernel); `{skip}` says why it cannot.
 * `readOnly`: mounted read-only, a place even root cannot write (file modes do not stop root).
 */
export function mountSmallDisk(sizeBytes: number, options: { readOnly?: boolean } = {}): SmallDisk | { skip: string } {
  const dir = mkdtempSync(join(tmpdir(), "pacer-small-disk-"));
  const flags = `size=${sizeBytes}${options.readOnly ? ",ro" : ""}`;
  const mount = spawnSync("mount", ["-t", "tmpfs", "-o", flags, "tmpfs", dir], { encoding: "utf8" });
  if (mount.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    const why = (mount.stderr || mount.error?.message || `exit ${mount.status}`).trim();
    // As for a missing peer or netns: under CI a skip would pass a test that checked nothing.
    if (process.env.CI === "true") throw new Error(`cannot mount a ${sizeBytes}-byte tmpfs (${why}); CI must be able to`);
    return { skip: `skipping: cannot mount a ${sizeBytes}-byte tmpfs to fill up (${why})` };
  }
  return {
    dir,
    unmount: () => {
      spawnSync("umount", [dir]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Writes zeros into a new file at `path` until its disk says it is full (ENOSPC). */
export function fillUp(path: string): void {
  const fd = openSync(path, "w");
  const block = new Uint8Array(4096);
  try {
    for (;;) writeSync(fd, block);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOSPC") throw error;
  } finally {
    closeSync(fd);
  }
}
