/** Runs the real pacer CLI (`bun main.ts ...`) as a subprocess, the way a user would. */
import { spawn } from "node:child_process";
import { join } from "node:path";

export const REPO = join(import.meta.dir, "..", "..");
export const MAIN = join(REPO, "main.ts");

export interface PacerRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  stdin?: Uint8Array;
  env?: Record<string, string>;
  cwd?: string;
  timeoutMs?: number;
  /** A command that runs `bun main.ts …` for the test (tests/helpers/eio_after.ts, for one). */
  launcher?: string[];
}

/** Starts pacer and returns the child, for tests that talk to it while it runs. */
export function startPacer(args: string[], options: RunOptions = {}) {
  const [command, ...prefix] = [...(options.launcher ?? []), process.execPath];
  return spawn(command!, [...prefix, MAIN, ...args], {
    cwd: options.cwd ?? REPO,
    env: { ...process.env, ...options.env },
    stdio: ["pipe", "pipe", "pipe"],
  });
}

export function runPacer(args: string[], options: RunOptions = {}): Promise<PacerRun> {
  const child = startPacer(args, options);
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  child.stdin.on("error", () => {});
  if (options.stdin) child.stdin.end(options.stdin);
  else child.stdin.end();
  const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 30_000);
  return new Promise((resolve) => {
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Whether a test peer (ffmpeg, tshark...) is on PATH. Under CI a missing peer is a failure. */
export function havePeer(name: string): boolean {
  const found = Bun.which(name) !== null;
  if (!found) {
    if (process.env.CI === "true") throw new Error(`${name} is required under CI but is not installed`);
    console.warn(`skipping: ${name} is not installed`);
  }
  return found;
}
