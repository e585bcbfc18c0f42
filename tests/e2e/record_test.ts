/**
 * `pacer record` as a cron user meets it: real `pacer play` senders, real sockets on loopback
 * (and multicast in a network namespace the test makes), real files checked with ffprobe, a
 * tmpfs that fills up, kill -9.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { ffmpegTs, haveFfmpeg, makeTempDir } from "../helpers/mpeg_fixtures.ts";
import { rampS16, writeWav } from "../helpers/audio.ts";
import { MAIN, REPO, startPacer } from "../helpers/pacer.ts";
import { freeUdpPort } from "../helpers/ports.ts";
import { mountSmallDisk } from "../helpers/tmpfs.ts";

const TS_DATAGRAM = 1316;
const CD_BYTES_PER_S = 44_100 * 4;

interface Run {
  child: ChildProcess;
  stderr: () => string;
  exit: Promise<number | null>;
}

function track(child: ChildProcess): Run {
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  child.stdout!.on("data", () => {});
  const exit = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  return { child, stderr: () => stderr, exit };
}

function record(args: string[]): Run {
  return track(startPacer(["record", ...args]));
}

/** Waits until process `pid` (in whatever network namespace) has UDP `port` bound. */
async function waitForUdpPort(pid: number, port: number, ms = 15_000): Promise<void> {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, "0")} `;
  const until = Date.now() + ms;
  while (Date.now() < until) {
    try {
      if (readFileSync(`/proc/${pid}/net/udp`, "utf8").includes(hex)) return;
    } catch {
      // not started yet
    }
    await Bun.sleep(25);
  }
  throw new Error(`port ${port} was never bound`);
}

/** The pid of the recorder inside `ip netns exec` (its child). */
function play(args: string[]) {
  return track(startPacer(["play", ...args]));
}

function filesIn(dir: string, pattern: RegExp): string[] {
  return readdirSync(dir).filter((n) => pattern.test(n)).sort().map((n) => join(dir, n));
}

function ffprobeDurationOf(path: string): number {
  const r = spawnSync("ffprobe", ["-v", "error", "-show_entries", "stream=duration", "-of", "csv=p=0", path], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`ffprobe failed on ${path}: ${r.stderr}`);
  return Number(r.stdout.trim().split("\n")[0]);
}

/** The data size a recording WAV's header claims (RIFF with a JUNK chunk: the data size is its last field). */
function wavDataSize(path: string): { header: number; data: number; size: number } {
  const b = readFileSync(path);
  let at = 12;
  while (at + 8 <= b.length) {
    const id = b.toString("latin1", at, at + 4);
    const size = b.readUInt32LE(at + 4);
    if (id === "data") return { header: at + 8, data: size, size: b.length };
    at += 8 + size + (size & 1);
  }
  throw new Error("no data chunk");
}

const ok = haveFfmpeg();
let temp: ReturnType<typeof makeTempDir>;
let source: Buffer;
let sourcePath: string;

beforeAll(() => {
  temp = makeTempDir();
  if (ok) {
    sourcePath = ffmpegTs(temp.dir, 4);
    source = readFileSync(sourcePath);
  }
});
afterAll(() => temp?.cleanup());

describe.if(ok)("pacer record", () => {
  test("round trip over UDP: the file equals the bytes sent", async () => {
    const port = await freeUdpPort();
    const rec = record([`udp://@127.0.0.1:${port}`, "--out", join(temp.dir, "rt-%H%M%S.ts"), "--duration", "7"]);
    await waitForUdpPort(rec.child.pid!, port);
    const sender = play([sourcePath, "--to", `udp://127.0.0.1:${port}`]);
    expect(await sender.exit).toBe(0);
    expect(await rec.exit).toBe(0);
    const [file] = filesIn(temp.dir, /^rt-\d{6}\.ts$/);
    expect(readFileSync(file!).equals(source)).toBe(true);
    expect(rec.stderr()).toMatch(/^pacer: recorded 1 file, \d+ bytes, [\d.]+ s, gaps 0 .*kernel drops 0(, input silent for the last [\d.]+ s)?\n$/);
  }, 30_000);

  test("RTP with loss: a swap is repaired, a drop is one gap, the file is the source minus that datagram", async () => {
    const port = await freeUdpPort();
    const gapLog = join(temp.dir, "gaps.log");
    const rec = record([`rtp://@127.0.0.1:${port}`, "--out", join(temp.dir, "rtp.ts"), "--gap-log", gapLog]);
    await waitForUdpPort(rec.child.pid!, port);
    const DROP = 40;
    const SWAP = 60;
    let index = 0;
    let held: Buffer | null = null;
    const out = await Bun.udpSocket({ connect: { hostname: "127.0.0.1", port } });
    const relay = await Bun.udpSocket({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        data(_s, datagram) {
          const k = index++;
          if (k === DROP) return;
          if (k === SWAP) {
            held = Buffer.from(datagram);
            return;
          }
          out.send(datagram);
          if (k === SWAP + 1 && held) out.send(held);
        },
      },
    });
    const sender = play([sourcePath, "--to", `rtp://127.0.0.1:${relay.port}`]);
    expect(await sender.exit).toBe(0);
    await Bun.sleep(300);
    rec.child.kill("SIGTERM");
    expect(await rec.exit).toBe(0);
    relay.close();
    out.close();
    const expected = Buffer.concat([source.subarray(0, DROP * TS_DATAGRAM), source.subarray((DROP + 1) * TS_DATAGRAM)]);
    expect(readFileSync(join(temp.dir, "rtp.ts")).equals(expected)).toBe(true);
    expect(rec.stderr()).toContain("gaps 1 (lost packets 1, stalls 0)");
    const lines = readFileSync(gapLog, "utf8").trim().split("\n");
    expect(lines.filter((l) => l.includes("RTP packet lost")).length).toBe(1);
    expect(lines[0]).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\S+ \\S+rtp\\.ts ${DROP * TS_DATAGRAM} 1 RTP packet lost \\(seq \\d+\\)$`));
  }, 30_000);

  test("rotation on the clock: files named by the pattern, each opening with a PAT, concatenating to the source; --keep 2 leaves the two newest", async () => {
    for (const keep of [undefined, 2]) {
      const dir = join(temp.dir, `rot${keep ?? ""}`);
      const port = await freeUdpPort();
      const rec = record([`udp://@127.0.0.1:${port}`, "--out", join(dir, "seg-%H%M%S.ts"), "--rotate", "1s", ...(keep ? ["--keep", String(keep)] : [])]);
      await waitForUdpPort(rec.child.pid!, port);
      const sender = play([sourcePath, "--to", `udp://127.0.0.1:${port}`]);
      expect(await sender.exit).toBe(0);
      await Bun.sleep(300);
      rec.child.kill("SIGTERM");
      expect(await rec.exit).toBe(0);
      const files = filesIn(dir, /^seg-\d{6}(-\d+)?\.ts$/);
      // Every cut file opens with a PAT; the first opens wherever the stream began (ffmpeg: its SDT).
      for (const f of keep ? files : files.slice(1)) {
        const head = readFileSync(f).subarray(0, 188);
        expect(head[0]).toBe(0x47);
        expect(((head[1]! & 0x1f) << 8) | head[2]!).toBe(0); // PID 0: the PAT
        expect(head[1]! & 0x40).toBe(0x40); // its section starts here
        expect(statSync(f).size % 188).toBe(0);
      }
      if (keep) {
        expect(files.length).toBe(2);
        const tail = Buffer.concat(files.map((f) => readFileSync(f)));
        expect(source.subarray(source.length - tail.length).equals(tail)).toBe(true);
      } else {
        expect(files.length).toBeGreaterThanOrEqual(3);
        expect(Buffer.concat(files.map((f) => readFileSync(f))).equals(source)).toBe(true);
      }
    }
  }, 60_000);

  test("a second recorder on the same output exits 75 at once; nothing arriving is exit 1", async () => {
    const port = await freeUdpPort();
    const pattern = join(temp.dir, "locked-%H%M.ts");
    const first = record([`udp://@127.0.0.1:${port}`, "--out", pattern, "--duration", "20"]);
    await waitForUdpPort(first.child.pid!, port);
    const started = Date.now();
    const second = record([`udp://@127.0.0.1:${await freeUdpPort()}`, "--out", pattern, "--duration", "20"]);
    expect(await second.exit).toBe(75);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(second.stderr()).toMatch(/^pacer: error: another recorder is writing .*locked-%H%M\.ts \(lock .*\)\n$/);
    first.child.kill("SIGTERM");
    expect(await first.exit).toBe(1);
    expect(first.stderr()).toBe(`pacer: error: nothing arrived from udp://@127.0.0.1:${port}\n`);
  }, 30_000);

  describe("WAV from RTP L16", () => {
    let wavPath: string;
    beforeAll(() => {
      wavPath = join(temp.dir, "tone.wav");
      writeWav(wavPath, { encoding: "s16le", rate: 44_100, channels: 2 }, rampS16(44_100 * 8));
    });

    test("SIGTERM in the middle: ffprobe reads the file, and its duration is what was received", async () => {
      const port = await freeUdpPort();
      const out = join(temp.dir, "term.wav");
      const rec = record([`rtp://@127.0.0.1:${port}`, "--out", out]);
      await waitForUdpPort(rec.child.pid!, port);
      const sender = play([wavPath, "--to", `rtp://127.0.0.1:${port}`]);
      while (!statSync(out, { throwIfNoEntry: false })) await Bun.sleep(50);
      await Bun.sleep(2000);
      rec.child.kill("SIGTERM");
      expect(await rec.exit).toBe(0);
      sender.child.kill("SIGTERM");
      await sender.exit;
      const { header, data, size } = wavDataSize(out);
      expect(size).toBe(header + data);
      const bytes = Number(/recorded 1 file, (\d+) bytes/.exec(rec.stderr())![1]);
      expect(data).toBe(bytes);
      expect(ffprobeDurationOf(out)).toBeCloseTo(data / CD_BYTES_PER_S, 2);
      // The samples are the sender's, byte-swapped back from L16 to little-endian.
      const sent = rampS16(44_100 * 8);
      const got = readFileSync(out).subarray(header);
      expect(sent.indexOf(got.subarray(0, 4096))).toBeGreaterThanOrEqual(0);
    }, 30_000);

    test("kill -9 in the middle: the file is valid up to at least its last sync", async () => {
      const port = await freeUdpPort();
      const out = join(temp.dir, "nine.wav");
      const rec = record([`rtp://@127.0.0.1:${port}`, "--out", out, "--sync-every", "0.5"]);
      await waitForUdpPort(rec.child.pid!, port);
      const sender = play([wavPath, "--to", `rtp://127.0.0.1:${port}`]);
      while (!statSync(out, { throwIfNoEntry: false })) await Bun.sleep(50);
      await Bun.sleep(2500);
      rec.child.kill("SIGKILL");
      await rec.exit;
      sender.child.kill("SIGTERM");
      await sender.exit;
      const { header, data, size } = wavDataSize(out);
      expect(data % 4).toBe(0);
      expect(data).toBeLessThanOrEqual(size - header);
      // Synced every 0.5 s for about 2.5 s: at least 1.5 s of audio is counted in the header.
      expect(data).toBeGreaterThan(1.5 * CD_BYTES_PER_S);
      expect(ffprobeDurationOf(out)).toBeCloseTo(data / CD_BYTES_PER_S, 2);
    }, 30_000);
  });

  test("WAV from RTP L24 (AES67's 24-bit): --format s24be:48000:2 records 24-bit WAV with the sender's samples", async () => {
    const studio = join(temp.dir, "studio24.wav");
    const frames = 48_000;
    const samples = Buffer.alloc(frames * 6);
    for (let i = 0; i < frames * 2; i++) samples.writeIntLE(((i * 40_503) % 0x1000000) - 0x800000, i * 3, 3);
    writeWav(studio, { encoding: "s24le", rate: 48_000, channels: 2 }, samples);
    const port = await freeUdpPort();
    const out = join(temp.dir, "l24.wav");
    const rec = record([`rtp://@127.0.0.1:${port}`, "--format", "s24be:48000:2", "--out", out, "--duration", "3"]);
    await waitForUdpPort(rec.child.pid!, port);
    const sender = play([studio, "--to", `rtp://127.0.0.1:${port}?pt=96&ptime=1`]);
    expect(await sender.exit).toBe(0);
    expect(await rec.exit).toBe(0);
    const codec = spawnSync("ffprobe", ["-v", "error", "-show_entries", "stream=codec_name,sample_rate,channels", "-of", "csv=p=0", out]).stdout.toString().trim();
    expect(codec).toBe("pcm_s24le,48000,2");
    const { header, data } = wavDataSize(out);
    expect(data).toBe(samples.length);
    expect(readFileSync(out).subarray(header, header + data).equals(samples)).toBe(true);
  }, 30_000);

  test("a full disk: one line naming the file, exit 1, and a file of whole packets", async () => {
    const disk = mountSmallDisk(256 * 1024);
    if ("skip" in disk) {
      console.warn(disk.skip);
      return;
    }
    try {
      const port = await freeUdpPort();
      const rec = record([`udp://@127.0.0.1:${port}`, "--out", join(disk.dir, "full.ts")]);
      await waitForUdpPort(rec.child.pid!, port);
      const sender = play([sourcePath, "--to", `udp://127.0.0.1:${port}`]);
      expect(await rec.exit).toBe(1);
      sender.child.kill("SIGTERM");
      await sender.exit;
      const file = join(disk.dir, "full.ts");
      expect(rec.stderr()).toBe(`pacer: error: ${file}: cannot write: no space left on device\n`);
      const written = readFileSync(file);
      expect(written.length % 188).toBe(0);
      expect(written.length).toBeGreaterThan(100_000);
      expect(source.subarray(0, written.length).equals(written)).toBe(true);
    } finally {
      disk.unmount();
    }
  }, 30_000);

  test("multicast in a network namespace: udp://@239.x.y.z records the bytes sent to the group", async () => {
    const ns = `pacer-rec-${process.pid}`;
    const made = spawnSync("ip", ["netns", "add", ns], { encoding: "utf8" });
    if (made.status !== 0) {
      if (process.env.CI === "true") throw new Error(`cannot make a network namespace: ${made.stderr}`);
      console.warn(`skipping multicast: cannot make a network namespace (${made.stderr.trim()})`);
      return;
    }
    try {
      const inNs = (cmd: string[]) => spawnSync("ip", ["netns", "exec", ns, ...cmd], { encoding: "utf8" });
      expect(inNs(["ip", "link", "set", "lo", "up", "multicast", "on"]).status).toBe(0);
      expect(inNs(["ip", "route", "add", "224.0.0.0/4", "dev", "lo"]).status).toBe(0);
      const port = 5000 + (process.pid % 1000);
      const out = join(temp.dir, "mcast.ts");
      const rec = track(spawn("ip", ["netns", "exec", ns, process.execPath, MAIN, "record", `udp://@239.255.12.34:${port}`, "--out", out, "--duration", "20"], { cwd: REPO }));
      // The recorder is the child of `ip netns exec`, which execs: the same pid.
      await waitForUdpPort(rec.child.pid!, port);
      const sender = track(spawn("ip", ["netns", "exec", ns, process.execPath, MAIN, "play", sourcePath, "--to", `udp://239.255.12.34:${port}?ttl=1`], { cwd: REPO }));
      expect(await sender.exit).toBe(0);
      await Bun.sleep(300);
      rec.child.kill("SIGTERM");
      expect(await rec.exit).toBe(0);
      expect(readFileSync(out).equals(source)).toBe(true);
    } finally {
      spawnSync("ip", ["netns", "del", ns]);
    }
  }, 40_000);
});

test("record's (and devices') usage errors are one line and exit 2", async () => {
  const { runPacer } = await import("../helpers/pacer.ts");
  const cases: [string[], RegExp][] = [
    [["record", "udp://@:5000"], /--out PATTERN is required/],
    [["record", "udp://@:5000", "--out", "x-%Q.ts"], /unknown field %Q/],
    [["record", "udp://@:5000", "--out", "x.ts", "--until", "25:00"], /expected a time of day HH:MM, from 00:00 to 23:59/],
    [["record", "udp://@:5000", "--out", "x.ts", "--rotate", "10KB"], /at least 64KiB/],
    [["record", "udp://@:5000", "--out", "%Y/x-%H.ts", "--keep", "2"], /--keep needs the pattern's strftime fields in the file name/],
    [["record", "udp://127.0.0.1:5000", "--out", "/tmp/pacer-x-%s.ts"], /to receive, write udp:\/\/@127\.0\.0\.1:5000/],
    // Found by a hostile try: the parser's own "argument is ambiguous", a run that waited for nothing, a bad buffer taken as 64 KiB.
    [["record", "udp://@:5000", "--out", "x.ts", "--duration", "-3"], /^pacer: error: --duration "-3": expected seconds/],
    [["record", "udp://@:5000", "--out", "x.ts", "--duration", "0"], /^pacer: error: --duration 0: give a duration above 0/],
    [["record", "udp://@:5000?rcvbuf=abc", "--out", "x.ts", "--duration", "1"], /^pacer: error: udp:\/\/ option rcvbuf=abc: must be a whole number from 1 to 1073741824$/m],
    [["devices", "--bogus"], /^pacer: error: devices takes no arguments or options, got "--bogus"$/m],
    [["record", "udp://@:5000", "--out", "x.ts", "--until", "-1:00"], /^pacer: error: --until "-1:00": expected a time of day HH:MM/],
    [["acquire", "x.ts", "--to", "tcp://127.0.0.1:9", "--buffer", "-5"], /^pacer: error: --buffer "-5": expected a size/],
  ];
  for (const [args, message] of cases) {
    const r = await runPacer(args);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split("\n").length).toBe(1);
    expect(r.code).toBe(2);
  }
}, 60_000);
