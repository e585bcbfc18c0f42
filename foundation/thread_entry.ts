/**
 * Where a thread's module (a Worker's entry) is, named by its path from the project's root. In the
 * compiled binary every entry point lies under /$bunfs/root/ (package.json's build lists each
 * thread's file), and there import.meta.url is the bundle's, not the calling module's, so a URL
 * relative to the caller would miss; from source, the path is taken from this folder's parent.
 *
 * @example
 * ```ts
 * const worker = new Worker(threadEntry("foundation/line_writer_thread.ts"));
 * ```
 */
export function threadEntry(fromRoot: string): string {
  return import.meta.url.includes("/$bunfs/") ? `/$bunfs/root/${fromRoot}` : new URL(`../${fromRoot}`, import.meta.url).href;
}
