/**
 * Plain text to man(7) roff: escaping, and the bold/italic conventions of a synopsis
 * (literal words and options bold, NAMES to replace italic).
 *
 * @example
 * ```ts
 * roffText("--config FILE");      // "\\-\\-config FILE"
 * roffSynopsis("serve [--config FILE]"); // "\\fBserve\\fR [\\fB\\-\\-config\\fR\\~\\fIFILE\\fR]"
 * ```
 */

/**
 * Text as roff reads it literally. "-" becomes "\-", so options render as ASCII hyphen-minus
 * and can be copied, searched and pasted.
 */
export function roffText(text: string): string {
  return text.replace(/\\/g, "\\e").replace(/-/g, "\\-");
}

/** A line of text for the page: one starting with "." or "'" would be read as a request. */
export function roffLine(roff: string): string {
  return /^[.']/.test(roff) ? `\\&${roff}` : roff;
}

const bold = (s: string) => `\\fB${roffText(s)}\\fR`;
const italic = (s: string) => `\\fI${roffText(s)}\\fR`;

/** One word of a synopsis: options and literal words bold, upper-case names italic. */
function styleWord(word: string, inBrackets: boolean): string {
  const [, open, core, close] = /^([[(]*)(.*?)((?:\.\.\.)?[\])]*)$/.exec(word)!;
  let styled: string;
  if (/^--?[a-z]/.test(core!)) {
    styled = bold(core!);
  } else if (/^[a-z]+$/.test(core!)) {
    // "[options]" is a placeholder, "play" or "status" a word to type.
    styled = inBrackets ? italic(core!) : bold(core!);
  } else {
    styled = core!
      .split(/([A-Z][A-Z0-9_]*)/)
      .map((part, i) => (part === "" ? "" : i % 2 === 1 ? italic(part) : roffText(part)))
      .join("");
  }
  return roffText(open!) + styled + roffText(close!);
}

/**
 * A usage line or a list term, styled; the spaces inside [...] do not break, so an option stays
 * on one line with its argument.
 */
export function roffSynopsis(text: string): string {
  let depth = 0;
  const out: string[] = [];
  for (const word of text.split(" ")) {
    if (word === "") continue;
    const startDepth = depth;
    for (const ch of word) depth += ch === "[" ? 1 : ch === "]" ? -1 : 0;
    const styled = styleWord(word, startDepth > 0 || word.startsWith("["));
    out.push(out.length === 0 ? styled : (startDepth > 0 ? "\\~" : " ") + styled);
  }
  return out.join("");
}
