/**
 * The files a recording wrote, as its summary tells them: how many, the first name and the last
 * few. Not every name: a run until stopped with `rotate = 1` makes 86,400 files a day, and every
 * name was kept in memory and put in its end line. (--keep needs no list: it looks on disk.)
 *
 * @example
 * ```ts
 * const files = new RecordedFiles();
 * files.add("rec/0600.ts");
 * files.describe(); // "1 file"
 * ```
 */

/** Names kept after the first: the newest, for `status` and the end line. */
export const LAST_NAMES_KEPT = 4;

export class RecordedFiles {
  count = 0;
  #first: string | null = null;
  readonly #last: string[] = [];

  add(path: string): void {
    this.count++;
    if (this.#first === null) {
      this.#first = path;
      return;
    }
    this.#last.push(path);
    if (this.#last.length > LAST_NAMES_KEPT) this.#last.shift();
  }

  /** The newest file is gone (a full disk let nothing into it). */
  dropNewest(): void {
    if (this.count === 0) return;
    this.count--;
    if (this.#last.length > 0) this.#last.pop();
    else this.#first = null;
  }

  /** The names kept, oldest first: every name while there are few, else the first and the last few. */
  get names(): string[] {
    return this.#first === null ? [] : [this.#first, ...this.#last];
  }

  /** `0 files`, `1 file`, `3 files`; with names left out, `86400 files (first A, last B)`. */
  describe(): string {
    const counted = `${this.count} file${this.count === 1 ? "" : "s"}`;
    if (this.count <= 1 + this.#last.length) return counted;
    return `${counted} (first ${this.#first}, last ${this.#last.at(-1)})`;
  }
}
