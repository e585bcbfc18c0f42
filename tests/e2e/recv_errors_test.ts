/**
 * Stories of `pacer recv` when things go wrong.
 *
 * When its output cannot take the stream (issue 10, item 4): a full device, a full disk, a reader
 * that goes away. Each time recv tells the server to stop the job instead of letting it stream to
 * nobody, and exits at once: 1 with one line for a write error, 0 and nothing said when the
 * reader of its stdout closed the pipe (like Ctrl-C, the other end decided it had enough).
 *
 * And what a hostile tester tried: an output file emptied by a request that was refused, or by a
 * server that never answered; datagrams from anyone written into the stream; a --port in use
 * reported as a plain failure. recv leaves FILE as it was until the first payload, writes only the
 * server's stream (its address, its SSRC) and counts the rest in one line, and says which port is
 * in use, exiting 75.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn, spawnSync } from "node:child_process";
import { createInterface } from "node:readline";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { READER_BACKLOG_BYTES } from "../../client/payload_sink.ts";
import { RTP_HEADER_SIZE, rtpSetHeader, rtpSetSsrc } from "../../protocol/rtp.ts";
import { makeCbrTs } from "../helpers/mpeg_fixtures.ts";
import { MAIN, REPO, runPacer, startPacer } from "../helpers/pacer.ts";
import { freeUdpPort, waitUdpBound } from "../helpers/ports.ts";
import { mountSmallDisk } from "../helpers/tmpfs.ts";
import { CLIP, type ServeFixture, startServe } from "../server/serve_fixture.ts";

/** Ten seconds at 1 Mbit/s: a recv that keeps going would take that long; one that stops, well under. */
const LONG_CLIP = makeCbrTs({ bitrate: 1_000_000, duration: 10 });
const PROMPT_MS = 4_000;
/** Long enough for today's recv to stream the whole clip, so a failure shows as a failed assertion. */
const STORY_TIMEOUT_MS = 20_000;

let serve: ServeFixture;
beforeAll(async () => {
  serve = await startServe();
});
afterAll(async () => {
  await serve.stop();
  serve.cleanup();
});

/** A fresh media name per story, so the server's log lines for its job are told apart. */
function media(name: string): string {
  writeFileSync(join(serve.mediaRoot, name), LONG_CLIP, { mode: 0o644 });
  return name;
}

/** How the server ended the job it played for `name`: "stopped", "ended", "expired", "failed", or null if it has not. */
async function jobEnd(name: string): Promise<string | null> {
  const pattern = new RegExp(`job (ended|stopped|expired|failed) job=job-\\d+ source=${name.replace(".", "\\.")}`);
  for (let i = 0; i < 40; i++) {
    const found = pattern.exec(serve.stderr());
    if (found) return found[1]!;
    await Bun.sleep(50);
  }
  return null;
}

const errorLines = (stderr: string) => stderr.split("\n").filter((line) => /error|warn/.test(line));

/**
 * `recv --request NAME` into a real bash pipeline (`rest`, after its `|`): what the pipeline
 * printed, recv's stderr, and recv's own exit status (PIPESTATUS).
 */
async function recvInPipeline(rest: string, name: string, errFile: string): Promise<{ code: number | null; printed: string; stderr: string }> {
  const errPath = join(serve.dir, errFile);
  const script = `"$BUN" "$MAIN" recv --from "$FROM" --request "$NAME" 2>"$ERR" ${rest}; exit "\${PIPESTATUS[0]}"`;
  const child = spawn("bash", ["-c", script], {
    cwd: REPO,
    env: { ...process.env, BUN: process.execPath, MAIN, FROM: serve.address, NAME: name, ERR: errPath },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let printed = "";
  child.stdout.on("data", (d) => (printed += d));
  const killer = setTimeout(() => child.kill("SIGKILL"), 15_000);
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  clearTimeout(killer);
  return { code, printed, stderr: readFileSync(errPath, "utf8") };
}

describe("pacer recv, when its output cannot take the stream", () => {
  test("--out /dev/full says once that the device is full, stops the job at the server and exits 1", async () => {
    const name = media("to-dev-full.ts");
    const started = Date.now();
    const run = await runPacer(["recv", "--from", serve.address, "--request", name, "--out", "/dev/full"], { timeoutMs: 15_000 });
    expect(run.code).toBe(1);
    expect(errorLines(run.stderr)).toEqual(["pacer: error: /dev/full: cannot write: no space left on device (ENOSPC)"]);
    expect(run.stderr).not.toContain("receive socket");
    expect(Date.now() - started).toBeLessThan(PROMPT_MS);
    expect(await jobEnd(name)).toBe("stopped");
  }, STORY_TIMEOUT_MS);

  test("a disk that fills up (a 64 KiB tmpfs) keeps what fit, says so in one line, stops the job and exits 1", async () => {
    const disk = mountSmallDisk(64 * 1024);
    if ("skip" in disk) {
      console.warn(disk.skip);
      return;
    }
    try {
      const name = media("to-small-disk.ts");
      const out = join(disk.dir, "received.ts");
      const started = Date.now();
      const run = await runPacer(["recv", "--from", serve.address, "--request", name, "--out", out], { timeoutMs: 15_000 });
      expect(run.code).toBe(1);
      expect(errorLines(run.stderr)).toEqual([`pacer: error: ${out}: cannot write: no space left on device (ENOSPC)`]);
      expect(Date.now() - started).toBeLessThan(PROMPT_MS);
      expect(await jobEnd(name)).toBe("stopped");
      // What fit is the start of the stream, byte for byte.
      const kept = readFileSync(out);
      expect(kept.length).toBeGreaterThan(0);
      expect(kept.length).toBeLessThanOrEqual(64 * 1024);
      expect(kept.equals(Buffer.from(LONG_CLIP.subarray(0, kept.length)))).toBe(true);
      expect(statSync(out).size).toBeLessThan(LONG_CLIP.length);
    } finally {
      disk.unmount();
    }
  }, STORY_TIMEOUT_MS);

  test("recv | head -c 10 exits quietly as soon as head is done, and the job stops at the server", async () => {
    const name = media("to-head.ts");
    const started = Date.now();
    const { code, printed: counted, stderr } = await recvInPipeline(`| head -c 10 | wc -c`, name, "head.err");
    expect(counted.trim()).toBe("10");
    expect(stderr).not.toContain("EPIPE");
    expect(stderr).not.toMatch(/^\s+at /m); // no stack trace
    expect(errorLines(stderr)).toEqual([]);
    expect(code).toBe(0);
    expect(Date.now() - started).toBeLessThan(PROMPT_MS);
    expect(await jobEnd(name)).toBe("stopped");
  }, STORY_TIMEOUT_MS);

  test("a reader that stalls (recv | (sleep 5; wc -c)): recv holds 8 MiB for it and drops the rest, counted in one line, rather than the stream in memory", async () => {
    // 15 MB in 3 s: before, all of it waited in recv's memory for the reader (4 MB/s, for as long as it stalled).
    const clip = makeCbrTs({ bitrate: 40_000_000, duration: 3 });
    writeFileSync(join(serve.mediaRoot, "fast.ts"), clip, { mode: 0o644 });
    const { code, printed: counted, stderr } = await recvInPipeline(`| (sleep 5; wc -c)`, "fast.ts", "stall.err");
    const dropped = Number(/^pacer: warn: (\d+) bytes dropped: the reader of stdout fell behind, with 8 MiB waiting for it$/m.exec(stderr)?.[1]);
    expect(dropped, stderr).toBeGreaterThan(0);
    // Every byte received is either printed or counted (a loaded host may lose a few on the way in).
    const received = Number(/^pacer: stream ended bytes=(\d+) /m.exec(stderr)?.[1]);
    expect(received).toBeGreaterThan(clip.length * 0.9);
    expect(Number(counted) + dropped).toBe(received);
    // What stdout held, and the pipe's own buffer (64 KiB by default, at most 1 MiB).
    expect(Number(counted)).toBeLessThanOrEqual(READER_BACKLOG_BYTES + (1 << 20));
    expect(code).toBe(0);
  }, STORY_TIMEOUT_MS);
});

describe("pacer recv --out FIFO", () => {
  test("a reader that pauses past the interest timeout: recv keeps the stream alive, and the FIFO gets the stream once, whole", async () => {
    // interest_timeout 2 s, and a reader that reads nothing for 4 s of a 6 s stream.
    const quick = await startServe({ config: "interest_timeout = 2" });
    try {
      const clip = makeCbrTs({ bitrate: 1_000_000, duration: 6 });
      writeFileSync(join(quick.mediaRoot, "six.ts"), clip, { mode: 0o644 });
      const fifo = join(quick.dir, "out.fifo");
      expect(spawnSync("mkfifo", [fifo]).status).toBe(0);
      const copy = join(quick.dir, "copy.ts");
      const reader = spawn("bash", ["-c", `exec 3<"$FIFO"; sleep 4; cat <&3 >"$COPY"`], { env: { ...process.env, FIFO: fifo, COPY: copy }, stdio: "ignore" });
      const readerDone = new Promise((resolve) => reader.on("close", resolve));
      const run = await runPacer(["recv", "--from", quick.address, "--request", "six.ts", "--out", fifo], { timeoutMs: 20_000 });
      await readerDone;
      // Before: blocked in its write, recv sent no interest; the server let the stream expire, and
      // recv asked again and wrote the stream's start a second time.
      expect(run.stderr).not.toContain("requesting again");
      expect(run.code).toBe(0);
      const got = readFileSync(copy);
      expect(got.length, run.stderr).toBe(clip.length);
      expect(got.equals(Buffer.from(clip))).toBe(true);
    } finally {
      await quick.stop();
      quick.cleanup();
    }
  }, STORY_TIMEOUT_MS);
});

const PRECIOUS = "precious\n";

/** A file that holds something the user wants kept. */
function precious(name: string): string {
  const path = join(serve.dir, name);
  writeFileSync(path, PRECIOUS);
  return path;
}

describe("pacer recv leaves --out FILE as it was until the first payload", () => {
  test("a request the server refuses (not_found): exit 1, the file untouched", async () => {
    const out = precious("refused.ts");
    const run = await runPacer(["recv", "--from", serve.address, "--request", "nonexist.ts", "--out", out], { timeoutMs: 15_000 });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("not_found");
    expect(readFileSync(out, "utf8")).toBe(PRECIOUS);
  }, STORY_TIMEOUT_MS);

  test("no server there (--wait 2): exit 1, the file untouched", async () => {
    const out = precious("no-server.ts");
    const nobody = await freeUdpPort();
    const run = await runPacer(["recv", "--from", `127.0.0.1:${nobody}`, "--request", "clip.ts", "--wait", "2", "--out", out], { timeoutMs: 15_000 });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("no reply and no packets");
    expect(readFileSync(out, "utf8")).toBe(PRECIOUS);
  }, STORY_TIMEOUT_MS);

  test("a refused request to a new path leaves no file behind", async () => {
    const out = join(serve.dir, "never-made.ts");
    const run = await runPacer(["recv", "--from", serve.address, "--request", "nonexist.ts", "--out", out], { timeoutMs: 15_000 });
    expect(run.code).toBe(1);
    expect(existsSync(out)).toBe(false);
  }, STORY_TIMEOUT_MS);

  test("a path that cannot be written still fails before anything is requested", async () => {
    const out = join(serve.dir, "no-such-dir", "x.ts");
    const jobsStarted = () => serve.stderr().split("job started").length;
    const before = jobsStarted();
    const run = await runPacer(["recv", "--from", serve.address, "--request", "clip.ts", "--out", out], { timeoutMs: 15_000 });
    expect(run.code).toBe(1);
    expect(errorLines(run.stderr)).toEqual([`pacer: error: ${out}: cannot open for writing: no such file or directory (ENOENT)`]);
    expect(jobsStarted()).toBe(before);
  }, STORY_TIMEOUT_MS);

  test("once the stream arrives, what was there is replaced by exactly the stream", async () => {
    const out = join(serve.dir, "replaced.ts");
    writeFileSync(out, Buffer.alloc(CLIP.length * 2, 0x55)); // longer than the stream: truncated, not overwritten
    const run = await runPacer(["recv", "--from", serve.address, "--request", "clip.ts", "--out", out], { timeoutMs: 15_000 });
    expect(run.code).toBe(0);
    expect(readFileSync(out).equals(Buffer.from(CLIP))).toBe(true);
  }, STORY_TIMEOUT_MS);
});

describe("pacer recv asks for no RTCP", () => {
  test("nothing comes to its port + 1, which it never opened and another program may hold", async () => {
    // An even port whose next is free too, the next held here as another program would.
    let port = 0;
    let neighbour: import("bun").udp.Socket<"buffer"> | null = null;
    const arrived: number[] = [];
    for (let i = 0; i < 20 && neighbour === null; i++) {
      port = await freeUdpPort();
      try {
        neighbour = await Bun.udpSocket({ hostname: "127.0.0.1", port: port + 1, socket: { data: (_s, data) => void arrived.push(data.length) } });
      } catch {}
    }
    expect(neighbour, "no free port whose next was free too, in 20 tries").not.toBeNull();
    try {
      const out = join(serve.dir, "no-rtcp.ts");
      const run = await runPacer(["recv", "--from", serve.address, "--request", "clip.ts", "--port", String(port), "--out", out], { timeoutMs: 15_000 });
      expect(run.code, run.stderr).toBe(0);
      expect(readFileSync(out).equals(Buffer.from(CLIP))).toBe(true);
      await Bun.sleep(200); // past the BYE the server sent at the end, before
      // Before: its sender reports, and at the end a BYE, went there.
      expect(arrived).toEqual([]);
    } finally {
      neighbour?.close();
    }
  }, STORY_TIMEOUT_MS);
});

/** An RTP MP2T datagram as the tester sent it: payload "INJECTED" * 100, SSRC of its own. */
function injected(ssrc: number): Uint8Array {
  const payload = Buffer.from("INJECTED".repeat(100));
  const packet = new Uint8Array(RTP_HEADER_SIZE + payload.length);
  rtpSetHeader(packet, 33);
  rtpSetSsrc(packet, ssrc);
  packet.set(payload, RTP_HEADER_SIZE);
  return packet;
}

describe("pacer recv writes only the server's stream", () => {
  test("datagrams from another address, or from the server's with another SSRC, are refused and counted in one line", async () => {
    const port = await freeUdpPort();
    const out = join(serve.dir, "injected.ts");
    const recv = startPacer(["recv", "--from", serve.address, "--request", "clip.ts", "--port", String(port), "--out", out]);
    let stderr = "";
    recv.stderr.on("data", (d) => (stderr += d));
    recv.stdin.end();
    const exit = new Promise<number | null>((resolve) => recv.on("close", (code) => resolve(code)));
    // Another host (127.0.0.2 is this one's loopback, but not the server's address).
    const stranger = await Bun.udpSocket({ hostname: "127.0.0.2", port: 0 });
    // Another sender on the server's own host: the right address, but not the stream.
    const neighbour = await Bun.udpSocket({ hostname: "127.0.0.1", port: 0 });
    const neighbourPort = neighbour.port;
    try {
      await waitUdpBound(port);
      // Not RTP at all, from the server's host before the stream: malformed, and no SSRC of the stream's.
      for (let i = 0; i < 5; i++) neighbour.send(new Uint8Array([1, 2, 3, 4]), port, "127.0.0.1");
      for (let i = 0; i < 10; i++) stranger.send(injected(0x57_52_41_4e), port, "127.0.0.1");
      // The neighbour sends once the stream has begun (its first packet fixed the SSRC).
      for (let i = 0; i < 200 && !(existsSync(out) && statSync(out).size > 0); i++) await Bun.sleep(10);
      for (let i = 0; i < 20; i++) neighbour.send(injected(0x4e_45_49_47), port, "127.0.0.1");
      expect(await exit).toBe(0);
    } finally {
      stranger.close();
      neighbour.close();
      recv.kill("SIGKILL");
    }
    expect(readFileSync(out).equals(Buffer.from(CLIP))).toBe(true);
    const warnings = errorLines(stderr);
    expect(warnings).toHaveLength(1);
    // The five that are not RTP are counted too (they went unsaid), in the same line.
    expect(warnings[0]).toStartWith("pacer: warn: refused 35 datagrams not of the stream: 5 not RTP, 10 not from the server's address 127.0.0.1, 20 from it with another SSRC");
    expect(warnings[0]).toContain(`the first from 127.0.0.1:${neighbourPort}`);
  }, STORY_TIMEOUT_MS);
});

describe("pacer recv takes the SSRC its play reply names, not the first packet's", () => {
  test("a sender on the server's host that gets in before the stream is refused, and the file is exactly the stream", async () => {
    const port = await freeUdpPort();
    const out = join(serve.dir, "raced.ts");
    const intruder = await Bun.udpSocket({ hostname: "127.0.0.1", port: 0 });
    const intruderPort = intruder.address.port;
    // The server held still: recv's request waits, so the intruder surely comes before the stream (and its reply).
    serve.child.kill("SIGSTOP");
    const recv = startPacer(["recv", "--from", serve.address, "--request", "clip.ts", "--port", String(port), "--out", out]);
    let stderr = "";
    recv.stderr.on("data", (d) => (stderr += d));
    recv.stdin.end();
    const exit = new Promise<number | null>((resolve) => recv.on("close", (code) => resolve(code)));
    let sent = 0;
    try {
      await waitUdpBound(port);
      for (; sent < 10; sent++) intruder.send(injected(0x49_4e_54_52), port, "127.0.0.1");
      await Bun.sleep(100);
      serve.child.kill("SIGCONT");
      // And on through the stream, after the reply.
      for (let i = 0; i < 100 && recv.exitCode === null; i++, sent++) {
        intruder.send(injected(0x49_4e_54_52), port, "127.0.0.1");
        await Bun.sleep(10);
      }
      expect(await exit).toBe(0);
    } finally {
      serve.child.kill("SIGCONT");
      intruder.close();
      recv.kill("SIGKILL");
    }
    expect(readFileSync(out).equals(Buffer.from(CLIP))).toBe(true);
    const warnings = errorLines(stderr);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toStartWith(`pacer: warn: refused ${sent} datagrams not of the stream: ${sent} from it with another SSRC than the stream's; the first from 127.0.0.1:${intruderPort}`);
  }, STORY_TIMEOUT_MS);
});

describe("pacer recv --port in use", () => {
  test("exits 75 with one line that names the port, and leaves --out as it was", async () => {
    const holder = await Bun.udpSocket({ hostname: "127.0.0.1", port: 0 });
    try {
      const out = precious("port-in-use.ts");
      const run = await runPacer(["recv", "--from", serve.address, "--request", "clip.ts", "--port", String(holder.port), "--out", out], { timeoutMs: 15_000 });
      expect(run.code).toBe(75);
      const lines = errorLines(run.stderr);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toStartWith(`pacer: error: cannot bind the receive socket on 127.0.0.1:${holder.port}: UDP port ${holder.port} is in use`);
      expect(lines[0]).toContain("set --port to another port");
      expect(readFileSync(out, "utf8")).toBe(PRECIOUS);
    } finally {
      holder.close();
    }
  }, STORY_TIMEOUT_MS);

  test("a holder whose command line spans lines is named in one whole line, the advice kept", async () => {
    // `bun -e` with a script of several lines: its argv holds newlines, as `python3 -c` does.
    const script = "// holds a port\nconst s = await Bun.udpSocket({ hostname: '127.0.0.1', port: 0 });\nconsole.log(s.port);\nawait Bun.sleep(60_000);";
    const holder = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    try {
      const port = await new Promise<string>((resolve) => createInterface({ input: holder.stdout! }).once("line", resolve));
      const run = await runPacer(["recv", "--from", serve.address, "--request", "clip.ts", "--port", port], { timeoutMs: 15_000 });
      expect(run.code).toBe(75);
      const lines = run.stderr.trimEnd().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(`UDP port ${port} is in use by pid ${holder.pid} (bun`);
      expect(lines[0]).toEndWith("; stop that process, or set --port to another port");
    } finally {
      holder.kill("SIGKILL");
    }
  }, STORY_TIMEOUT_MS);
});
