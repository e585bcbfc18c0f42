/**
 * The media catalogue behind the `list` op: every playable file under the media root, by its
 * name relative to the root, with its kind and duration as `pacer probe` finds them.
 *
 * The walk is bounded (depth, entries) and its result is kept for a few seconds, so paging
 * through `list` sees one consistent snapshot and a burst of requests costs one walk. Probes are
 * cached by path, size and modification time. Entries that resolve outside the root (symlinks
 * out) are left out, exactly as `play` would refuse them.
 *
 * @example
 * ```ts
 * const catalogue = new Catalogue();
 * const items = await catalogue.entries("./media"); // [{ name: "news/evening.ts", kind: "mpegts", duration: 1800.2 }]
 * ```
 */

import { readdir, stat } from "node:fs/promises";
import { extname, join } from "node:path";
import { clockDurationUs } from "../sources/mpeg_file_timing.ts";
import { openInput } from "../sources/open_input.ts";
import { US_PER_S } from "../scheduler/clock.ts";
import { LruMap } from "./lru_map.ts";
import { isShortage } from "../foundation/fs_error.ts";
import { OpError } from "./op_args.ts";
import { openMediaFile, resolveMediaPath, serverShortage } from "./policy.ts";

export interface CatalogueEntry {
  /** Relative to the media root, with "/" separators: what `play` takes as `source`. */
  readonly name: string;
  /** "pcm", "mpegts", "mpegps", or "unknown" when the probe failed. */
  readonly kind: string;
  /** Seconds, rounded to ms; null when unknown. */
  readonly duration: number | null;
}

/** Extensions pacer plays without further options (open_input.ts). */
const MEDIA_EXTENSIONS = new Set([".wav", ".wave", ".ts", ".m2ts", ".mts", ".mpg", ".mpeg", ".vob"]);
const MAX_DEPTH = 8;
const MAX_ENTRIES = 10_000;
/**
 * How long one walk answers `list` requests once it is done (and it answers all of them while it
 * goes). Counted from its start, a walk longer than this (thousands of files, a busy loop) was
 * begun again for each page `ctl list` asked for, and no page came back.
 */
const SNAPSHOT_MS = 5_000;

/**
 * The server is short of descriptors or memory: `list` is not_available. Before, the files it
 * could not open were left out, or listed as "unknown" (and kept so until they changed).
 */
function shortOf(error: unknown): OpError {
  return new OpError("not_available", `the media list cannot be read now: ${serverShortage(error)}; try again once a stream ends`);
}

interface Probed {
  readonly stamp: string;
  readonly entry: CatalogueEntry;
}

export class Catalogue {
  /** The last walk: `doneMs` null while it goes. */
  #snapshot: { root: string; doneMs: number | null; entries: Promise<CatalogueEntry[]> } | null = null;
  readonly #probes = new LruMap<Probed>(MAX_ENTRIES);

  /** The catalogue of `root`, sorted by name; from the snapshot when it is fresh. */
  entries(root: string, nowMs = Date.now()): Promise<CatalogueEntry[]> {
    const snap = this.#snapshot;
    if (snap && snap.root === root && (snap.doneMs === null || nowMs - snap.doneMs < SNAPSHOT_MS)) return snap.entries;
    const walk = { root, doneMs: null as number | null, entries: this.#walk(root) };
    const done = () => (walk.doneMs = Date.now());
    // A walk the server was short of descriptors for answers the requests it had, not the next.
    const failed = () => void (this.#snapshot === walk && (this.#snapshot = null));
    walk.entries.then(done, failed);
    this.#snapshot = walk;
    return walk.entries;
  }

  async #walk(root: string): Promise<CatalogueEntry[]> {
    const names: string[] = [];
    const visit = async (relative: string, depth: number): Promise<void> => {
      if (depth > MAX_DEPTH || names.length >= MAX_ENTRIES) return;
      let dirents;
      try {
        dirents = await readdir(join(root, relative), { withFileTypes: true });
      } catch (error) {
        if (isShortage(error)) throw shortOf(error);
        return; // unreadable directory: leave it out
      }
      dirents.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const d of dirents) {
        if (names.length >= MAX_ENTRIES) return;
        if (d.name.startsWith(".")) continue;
        const name = relative ? `${relative}/${d.name}` : d.name;
        if (d.isDirectory()) await visit(name, depth + 1);
        else if ((d.isFile() || d.isSymbolicLink()) && MEDIA_EXTENSIONS.has(extname(d.name).toLowerCase())) names.push(name);
      }
    };
    await visit("", 0);
    const entries: CatalogueEntry[] = [];
    for (const name of names) {
      const entry = await this.#probe(root, name);
      if (entry) entries.push(entry);
    }
    return entries;
  }

  async #probe(root: string, name: string): Promise<CatalogueEntry | null> {
    const resolved = await resolveMediaPath(root, name);
    if (!resolved.ok && resolved.code === "not_available") throw new OpError("not_available", resolved.message);
    if (!resolved.ok) return null;
    let stamp: string;
    let size: number;
    try {
      const s = await stat(resolved.path);
      if (!s.isFile()) return null;
      stamp = `${s.size} ${s.mtimeMs}`;
      size = s.size;
    } catch {
      return null;
    }
    const cached = this.#probes.get(resolved.path);
    if (cached && cached.stamp === stamp && cached.entry.name === name) return cached.entry;
    // Probed through a descriptor opened beneath the root and checked to be a file, as play opens
    // it: by its path, a FIFO swapped in after the checks would hold the walk, and every `list`.
    const held = await openMediaFile(root, name);
    if (!held.ok && held.code === "not_available") throw new OpError("not_available", held.message);
    if (!held.ok) return null;
    let entry: CatalogueEntry;
    try {
      const input = await openInput(held.openPath, { name });
      input.source.close();
      // Along the file's clock, as probe gives it: an MPEG file's head rate can be far off.
      const us = await clockDurationUs(input, held.openPath, size);
      entry = { name, kind: input.info.kind, duration: us === undefined ? null : Math.round((us / US_PER_S) * 1000) / 1000 };
    } catch (error) {
      // Not kept as "unknown": that stayed in the cache until the file changed.
      if (isShortage(error)) throw shortOf(error);
      entry = { name, kind: "unknown", duration: null };
    } finally {
      held.close();
    }
    this.#probes.set(resolved.path, { stamp, entry });
    return entry;
  }
}
