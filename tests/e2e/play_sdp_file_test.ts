/**
 * `--sdp FILE` where FILE is not a plain file (a hostile try): it is written
 * into, not replaced, and a failed write leaves no temporary file behind.
 *
 * Before, the SDP went to `FILE.PID.tmp` and was renamed over FILE whatever
 * it was: a FIFO became a regular file (its reader never got the SDP), a
 * symlink became a file of its own, `--sdp /dev/stdout` run as root put a
 * plain file in place of /dev/stdout for every later process, and a rename
 * that failed (FILE a folder) left the temporary file behind, with Node's
 * raw error as the message.
 *
 * Real subprocesses, a real FIFO and real files.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { rampS16, writeWav } from "../helpers/audio.ts";
import { REPO, runPacer, startPacer } from "../helpers/pacer.ts";
import { freeUdpPort } from "../helpers/ports.ts";
import { udpReceiver } from "../helpers/udp_receiver.ts";

const dir = mkdtempSync(join(tmpdir(), "pacer-sdp-file-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A pacer run whose stderr is read as it comes. */
function startPacerRun(args: string[]) {
  const child = startPacer(args);
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  child.stdin.end();
  const done = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  return { child, done, stderr: () => stderr };
}

/** Resolves once the run's stderr holds `text`. */
async function saidSo(run: { stderr(): string }, text: string): Promise<void> {
  for (const until = Date.now() + 15_000; !run.stderr().includes(text); await Bun.sleep(20)) {
    if (Date.now() > until) throw new Error(`pacer never said ${JSON.stringify(text)}; its stderr: ${run.stderr()}`);
  }
}

const wav = join(dir, "short.wav");
writeWav(wav, { encoding: "s16le", rate: 44_100, channels: 2 }, rampS16(4410));

async function playWithSdp(sdp: string) {
  const receiver = await udpReceiver();
  try {
    return await runPacer(["play", wav, "--to", `rtp://127.0.0.1:${receiver.port}?rtcp=off`, "--sdp", sdp]);
  } finally {
    receiver.close();
  }
}

describe("play --sdp onto what is not a plain file", () => {
  test("a FIFO is written into and stays a FIFO", async () => {
    const fifo = join(dir, "stream.sdp.fifo");
    const made = spawn("mkfifo", [fifo]);
    await new Promise((resolve) => made.on("close", resolve));
    const reader = spawn("cat", [fifo]);
    let read = "";
    reader.stdout.on("data", (d) => (read += d));
    const readerDone = new Promise((resolve) => reader.on("close", resolve));
    const run = await playWithSdp(fifo);
    // Before the fix the FIFO was renamed over and its reader waited for good.
    await Promise.race([readerDone, Bun.sleep(2000)]);
    reader.kill();
    // cat may open it a moment after pacer looks: then pacer waits for it, and says so.
    expect(run.stderr).toMatch(/^(pacer: --sdp \S+: waiting for a reader to open the FIFO\n)?$/);
    expect(run.code).toBe(0);
    expect(read).toContain("m=audio ");
    expect(lstatSync(fifo).isFIFO()).toBe(true);
  });

  test("a FIFO with no reader yet: play waits for one, says so once, and the reader gets the SDP; a signal while it waits discards the job", async () => {
    const fifo = join(dir, "late.sdp.fifo");
    const made = spawn("mkfifo", [fifo]);
    await new Promise((resolve) => made.on("close", resolve));
    const receiver = await udpReceiver();
    const said = `pacer: --sdp ${fifo}: waiting for a reader to open the FIFO\n`;
    try {
      const play = startPacerRun(["play", wav, "--to", `rtp://127.0.0.1:${receiver.port}?rtcp=off`, "--sdp", fifo]);
      // No reader until play says it waits (a guessed sleep let a slow start find the reader there).
      await saidSo(play, said);
      const reader = spawn("cat", [fifo]);
      let read = "";
      reader.stdout.on("data", (d) => (read += d));
      const readerDone = new Promise((resolve) => reader.on("close", resolve));
      expect(await play.done).toBe(0);
      await readerDone;
      expect(read).toContain("m=audio ");
      expect(play.stderr()).toBe(said);

      // A signal while it waits ends the wait, and the job is discarded as after a failed write:
      // 130, and the file: output it had created is gone. Before, no handler was set yet: pacer
      // died of the signal and left the file.
      const out = join(dir, "never.raw");
      const stopped = startPacerRun(["play", wav, "--to", `rtp://127.0.0.1:${receiver.port}?rtcp=off`, "--to", `file:${out}`, "--sdp", fifo]);
      await saidSo(stopped, said);
      expect(existsSync(out)).toBe(true);
      stopped.child.kill("SIGINT");
      expect(await stopped.done).toBe(130);
      expect(stopped.stderr()).toBe(said);
      expect(existsSync(out)).toBe(false);
    } finally {
      receiver.close();
    }
  }, 30_000);

  test("a socket is one line and exit 1 at once, not a wait for a FIFO reader that never comes", async () => {
    // A socket cannot be opened (ENXIO, as a FIFO without a reader): /dev/stdout of a systemd
    // service is one. Taken for a FIFO, play said it waited for a reader, and waited for good.
    const path = join(dir, "sdp.sock");
    const listener = Bun.listen({ unix: path, socket: { data() {} } });
    try {
      const receiver = await udpReceiver();
      const run = await runPacer(["play", wav, "--to", `rtp://127.0.0.1:${receiver.port}?rtcp=off`, "--sdp", path], { timeoutMs: 10_000 });
      receiver.close();
      expect(run.stderr).toBe(`pacer: error: --sdp ${path}: cannot write: is a socket (a file, a FIFO or a device can take the SDP)\n`);
      expect(run.code).toBe(1);
    } finally {
      listener.stop(true);
    }
  });

  test("a symlink keeps pointing at the file it names, which gets the SDP", async () => {
    const real = join(dir, "real.sdp");
    const link = join(dir, "link.sdp");
    writeFileSync(real, "old\n");
    symlinkSync(real, link);
    const run = await playWithSdp(link);
    expect(run.code).toBe(0);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readFileSync(real, "utf8")).toContain("m=audio ");
  });

  test("a folder is one plain line, exit 1, and no temporary file is left", async () => {
    const parent = join(dir, "parent");
    const folder = join(parent, "a-folder");
    mkdirSync(folder, { recursive: true });
    const run = await playWithSdp(folder);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`pacer: error: --sdp ${folder}: cannot write: is a directory\n`);
    expect(readdirSync(parent)).toEqual(["a-folder"]);
  });

  test("an empty name is a usage error, not --sdp left out", async () => {
    const run = await playWithSdp("");
    expect(run.code).toBe(2);
    expect(run.stderr).toBe("pacer: error: --sdp needs a file name\n");
  });

  test("the path of a file: output, however spelled, is a usage error naming both, and nothing is written", async () => {
    // Before, the outputs were opened and then the SDP renamed over the output's path: the stream
    // went to a file no longer there, and play exited 0.
    const out = join(dir, "stream.raw");
    const dangling = join(dir, "to-stream.raw"); // a symlink to the output, not there yet
    symlinkSync(out, dangling);
    const rtp = `rtp://127.0.0.1:${await freeUdpPort()}?rtcp=off`; // refused before anything is sent
    const spellings: [string, string][] = [
      [`file:${out}`, out],
      [`file:${relative(REPO, out)}`, join(dir, ".", "stream.raw")],
      [`file:${dangling}`, out],
      [`file:${out}`, dangling],
    ];
    for (const [output, sdp] of spellings) {
      const run = await runPacer(["play", wav, "--to", rtp, "--to", output, "--sdp", sdp]);
      expect(run.stderr).toBe(`pacer: error: --sdp ${sdp} is the same file as output ${output}: the SDP would replace the stream; choose another path\n`);
      expect(run.code).toBe(2);
      expect(existsSync(out)).toBe(false);
    }
    // An existing file: the same inode under another name (a hard link) too.
    writeFileSync(out, "old take");
    const hard = join(dir, "hard.raw");
    linkSync(out, hard);
    const run = await runPacer(["play", wav, "--to", rtp, "--to", `file:${hard}`, "--sdp", out]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`is the same file as output file:${hard}`);
    expect(readFileSync(out, "utf8")).toBe("old take");
  });
});
