/**
 * Cuts a name, URL or message that goes on a status page or a log line: a client chooses its
 * length (up to a whole request), and a page or a log line should not carry all of it.
 *
 * @example
 * ```ts
 * cutText("albums/2024/a-very-long-name.flac", 12); // "albums/2024…"
 * cutText("short.wav", 12); // "short.wav"
 * ```
 */

/** `text` if it has at most `maxChars` UTF-16 units, else its start and "…" in that many; a surrogate pair is never split. */
export function cutText(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  let keep = maxChars - 1;
  const last = text.charCodeAt(keep - 1);
  if (last >= 0xd800 && last <= 0xdbff) keep--; // a high surrogate without its low half
  return `${text.slice(0, keep)}…`;
}
