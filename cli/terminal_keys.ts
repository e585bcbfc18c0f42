/**
 * Keys for `pacer play` on a terminal, as a player takes them: space pauses and resumes, `n`
 * skips to the next input, `q` stops cleanly, Ctrl-C is SIGINT's stop. Only when stdin is a
 * TTY and no input is `-` (stdin may be the input); otherwise nothing reads stdin. The terminal
 * is in raw mode while it plays and restored on stop (and at exit, if pacer ends otherwise).
 *
 * @example
 * ```ts
 * const keys = startTerminalKeys({ pause: () => …, next: () => …, quit: () => …, interrupt: () => … });
 * …
 * keys.stop();
 * ```
 */

export interface KeyActions {
  /** Space: pause or resume; returns whether it is paused now. */
  pause(): boolean;
  /** `n`: the next input; false when this was the last. */
  next(): boolean;
  /** `q`: stop cleanly. */
  quit(): void;
  /** Ctrl-C (raw mode takes it from the terminal): as SIGINT. */
  interrupt(): void;
}

const CTRL_C = 0x03;

/** Keys are read only from a terminal, and never when stdin is an input. */
export function keysWanted(inputs: readonly string[], stdin: NodeJS.ReadStream = process.stdin): boolean {
  return stdin.isTTY === true && !inputs.includes("-");
}

export function startTerminalKeys(
  actions: KeyActions,
  stdin: NodeJS.ReadStream = process.stdin,
  notice: (line: string) => void = (line) => process.stderr.write(`\r${line}\x1b[K\n`),
): { stop(): void } {
  const restore = () => stdin.setRawMode(false);
  stdin.setRawMode(true);
  process.once("exit", restore);
  const onData = (chunk: Buffer) => {
    for (const key of chunk) {
      if (key === 0x20) notice(actions.pause() ? "paused (space resumes)" : "resumed");
      else if (key === 0x6e /* n */) notice(actions.next() ? "next input" : "last input: stopping");
      else if (key === 0x71 /* q */) actions.quit();
      else if (key === CTRL_C) actions.interrupt();
    }
  };
  stdin.on("data", onData);
  stdin.resume();
  return {
    stop() {
      stdin.off("data", onData);
      stdin.pause();
      restore();
      process.off("exit", restore);
    },
  };
}
