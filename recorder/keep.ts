/**
 * --keep N: the oldest files of a pattern beyond N are deleted, the one being written counted.
 * A name with `-N` counts only when a recorder of this pattern made it (taken_again.ts lists
 * those): another recorder's `20261207-1230.ts` beside `rec/%Y%m%d.ts` is not this pattern's
 * `20261207.ts` taken again, and had been deleted as one.
 * Only regular files count: a symlink or folder with a matching name is not a recording, and a
 * name that vanishes meanwhile (cron's `find … -delete`) or cannot be looked at is passed over,
 * never the end of the recording.
 *
 * @example
 * ```ts
 * const keep = new KeepNewest("rec/x-%Y%m%d.ts", 7, log);
 * keep.prune("rec/x-20240501.ts"); // deletes all but the six newest others
 * ```
 */
import { lstatSync, readdirSync, type Stats, unlinkSync } from "node:fs";
import { basename, join } from "node:path";
import { fsErrorText } from "../foundation/fs_error.ts";
import type { Logger } from "../foundation/log.ts";
import { patternMatcher, staticFolder } from "./pattern.ts";
import type { TakenAgain } from "./taken_again.ts";

export class KeepNewest {
  private readonly folder: string;
  private readonly matcher: RegExp;
  /** One warning per recording for names passed over, not one per rotation. */
  private warned = false;

  constructor(
    pattern: string,
    private readonly keep: number,
    private readonly takenAgain: TakenAgain,
    private readonly log: Logger,
  ) {
    this.folder = staticFolder(pattern);
    this.matcher = patternMatcher(pattern);
  }

  /** Deletes the oldest files beyond `keep`, `current` (being written) counted and kept. */
  prune(current: string): void {
    const found: { path: string; mtime: number }[] = [];
    const ours = this.takenAgain.names();
    for (const name of this.namesInFolder()) {
      const matched = this.matcher.exec(name);
      if (!matched || name === basename(current)) continue;
      if (matched[1] !== undefined && !ours.has(name)) continue; // another recorder's name that looks like a repeat
      const path = join(this.folder, name);
      // lstat, not stat: a link is judged as itself and never followed.
      const info = this.look(path);
      if (info?.isFile()) found.push({ path, mtime: info.mtimeMs });
    }
    found.sort((a, b) => a.mtime - b.mtime || a.path.localeCompare(b.path));
    for (const old of found.slice(0, Math.max(0, found.length - (this.keep - 1)))) {
      try {
        unlinkSync(old.path); // removes the name itself; a symlink put there meanwhile is not followed
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ENOENT") this.passOver(`cannot delete ${old.path}: ${fsErrorText(error)}`);
      }
    }
    try {
      this.takenAgain.prune(this.folder, ours);
    } catch (error) {
      this.passOver((error as Error).message);
    }
  }

  private namesInFolder(): string[] {
    try {
      return readdirSync(this.folder);
    } catch (error) {
      this.passOver(`cannot list ${this.folder}: ${fsErrorText(error)}`);
      return [];
    }
  }

  private look(path: string): Stats | null {
    try {
      return lstatSync(path);
    } catch (error) {
      // Gone since the listing: nothing to delete, nothing to say.
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") this.passOver(`cannot look at ${path}: ${fsErrorText(error)}`);
      return null;
    }
  }

  private passOver(why: string): void {
    if (this.warned) return;
    this.warned = true;
    this.log.warn(`--keep: ${why}; passed over (no more such warnings in this recording)`);
  }
}
