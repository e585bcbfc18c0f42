/**
 * A SIGHUP while `pacer serve` starts (its config still loading) is a reload once it is up, not
 * its end: with no handler until after the "serving" line, one sent then (a logrotate hook, a
 * reload as the log said "serving") killed it with status 129. The config is a FIFO here, so the
 * server waits in its start for as long as the test likes.
 */
import { expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { closeSync, constants, openSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { startPacer } from "../helpers/pacer.ts";
import { freeUdpPort, makeSharedDir } from "./serve_fixture.ts";

/** Whether `pid` has a handler for SIGHUP (bit 0 of SigCgt in /proc). */
function catchesHangup(pid: number): boolean {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return (BigInt(`0x${/^SigCgt:\s+([0-9a-f]+)$/m.exec(status)![1]}`) & 1n) === 1n;
}

/** Waits up to 10 s for `done`. */
async function until(done: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!done() && Date.now() < deadline) await Bun.sleep(10);
}

/**
 * Writes `text` to the FIFO once its reader has it open (up to 10 s): without a reader a plain
 * write blocks the whole test process, where no timeout can end it.
 */
async function writeFifo(path: string, text: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const fd = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
      try {
        writeSync(fd, text);
      } finally {
        closeSync(fd);
      }
      return;
    } catch (error) {
      if ((error as { code?: string }).code !== "ENXIO" || Date.now() > deadline) throw error;
      await Bun.sleep(10);
    }
  }
}

test("a SIGHUP while the server starts is a reload once it is up, not its end", async () => {
  const dir = makeSharedDir("pacer-hup-");
  const fifo = join(dir, "pacer.toml");
  execFileSync("mkfifo", ["-m", "644", fifo]);
  const config = `control = "127.0.0.1:${await freeUdpPort()}"\nmedia_root = "${dir}"\n`;
  const child = startPacer(["serve", "--config", fifo]);
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  let exitCode: number | null | undefined;
  let exitSignal: string | null = null;
  const exited = new Promise<void>((resolve) => child.on("exit", (code, signal) => ((exitCode = code), (exitSignal = signal), resolve())));
  try {
    // Waiting on the FIFO for its config, the handler there (or, before, never: then the signal ends it).
    await until(() => exitCode !== undefined || catchesHangup(child.pid!));
    child.kill("SIGHUP");
    await Bun.sleep(100);
    expect({ exitCode, exitSignal }).toEqual({ exitCode: undefined, exitSignal: null });
    await writeFifo(fifo, config); // the start reads it
    await until(() => stderr.includes("pacer: serving"));
    expect(stderr).toContain("pacer: serving");
    await writeFifo(fifo, config); // and the reload the SIGHUP asked for, once it was up
    await until(() => stderr.includes("config reloaded"));
    expect(stderr).toContain(`config reloaded config=${fifo} by=SIGHUP`);
  } finally {
    if (exitCode === undefined) child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
    await exited;
    clearTimeout(timer);
    execFileSync("rm", ["-rf", dir]);
  }
  expect(exitSignal).toBeNull();
  expect(exitCode).toBe(0);
});
