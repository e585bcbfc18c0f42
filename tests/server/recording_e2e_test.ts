/**
 * Server recordings end to end, with a real `pacer serve`: a `[[live]]` channel fed over UDP by
 * a test sender, a schedule every 3 s (croner's seconds field) recording it twice into two files
 * named by the pattern, a schedule whose runs overlap skipping and logging, and `pacer ctl record
 * start/stop` around a manual recording. Bounds are generous for a loaded machine.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { appendFileSync, chmodSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeCbrTs, patPackets } from "../helpers/mpeg_fixtures.ts";
import { runPacer } from "../helpers/pacer.ts";
import { freeTcpPort, freeUdpPort, makeSharedDir, type ServeFixture, startServe } from "./serve_fixture.ts";

const CHUNK = 1316;
let serve: ServeFixture;
let root: string;
let sender: { stop(): void };
const httpPort = freeTcpPort();
let sharedPort: number;
let sportPort: number;
let garbagePort: number;
let manyPort: number;

const ctl = (...args: string[]) => runPacer(["ctl", "--server", serve.address, ...args]);
type RunStatus = { name: string; state: string; running?: { bytes: number; since: string }; last: { state: string; files: string[]; files_total: number } | null };
/**
 * /status once it shows what `ready` waits for: the body is rendered at most once a second, so
 * one asked for just after a change may predate it.
 */
async function statusWhen(ready: (recordings: RunStatus[]) => boolean): Promise<RunStatus[]> {
  for (const until = Date.now() + 5000; ; await Bun.sleep(200)) {
    const { recordings } = (await (await fetch(`http://127.0.0.1:${httpPort}/status`)).json()) as { recordings: RunStatus[] };
    if (ready(recordings) || Date.now() > until) return recordings;
  }
}
const runOf = (recordings: RunStatus[], name: string) => recordings.find((r) => r.name === name);
const tsFiles = (folder: string) => {
  try {
    return readdirSync(join(root, folder)).filter((n) => n.endsWith(".ts")).sort();
  } catch {
    return [];
  }
};

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${serve.stderr()}`);
    await Bun.sleep(100);
  }
}

/** Sends a 1 Mbit/s TS to 127.0.0.1:port, 1316 bytes every ~10 ms, round and round. */
async function startSender(port: number) {
  const ts = makeCbrTs({ bitrate: 1_000_000, duration: 2 });
  // Until the server binds, the kernel answers "port unreachable"; that is expected.
  const socket = await Bun.udpSocket({ socket: { error() {} } });
  let at = 0;
  const timer = setInterval(() => {
    if (at + CHUNK > ts.length) at = 0;
    socket.send(ts.subarray(at, at + CHUNK), port, "127.0.0.1");
    at += CHUNK;
  }, 10);
  return { stop: () => (clearInterval(timer), socket.close()) };
}

beforeAll(async () => {
  const udpPort = await freeUdpPort();
  sharedPort = await freeUdpPort();
  sportPort = await freeUdpPort();
  garbagePort = await freeUdpPort();
  manyPort = await freeUdpPort();
  sender = await startSender(udpPort);
  root = makeSharedDir("pacer-recordings-");
  chmodSync(root, 0o777); // the server may run as nobody
  serve = await startServe({
    config: [
      `http = "127.0.0.1:${httpPort}"`,
      `recording_root = "${root}"`,
      `[[live]]\nname = "news"\ninput = "udp://@127.0.0.1:${udpPort}"\nlatency_ms = 0`,
      `[[recording]]\nname = "every3"\ncron = "*/3 * * * * *"\nsource = "live:news"\nduration = 1.5\nout = "every3/%H%M%S.ts"`,
      `[[recording]]\nname = "overlap"\ncron = "*/2 * * * * *"\nsource = "live:news"\nduration = 3\nout = "overlap/%H%M%S.ts"`,
      `[[recording]]\nname = "manual"\nsource = "live:news"\nout = "manual/take-%H%M%S.ts"`,
      `[[recording]]\nname = "rotating"\nsource = "live:news"\nout = "rotating/%H%M%S.ts"\nrotate = 1\nkeep = 2\npart = true`,
      `[[recording]]\nname = "escape"\nsource = "live:news"\nout = "escape/%H%M%S.ts"`,
      `[[recording]]\nname = "port_a"\nsource = "udp://@127.0.0.1:${sharedPort}"\nout = "port_a/%H%M%S.ts"`,
      `[[recording]]\nname = "port_b"\nsource = "udp://@127.0.0.1:${sharedPort}"\nout = "port_b/%H%M%S.ts"`,
      // A channel and a [[recording]] of one name (the [[recording]] records another channel).
      `[[live]]\nname = "sport"\ninput = "udp://@127.0.0.1:${sportPort}"\nlatency_ms = 0`,
      `[[recording]]\nname = "sport"\nsource = "live:news"\nout = "sport_take/%H%M%S.ts"`,
      `[[recording]]\nname = "many"\nsource = "udp://@127.0.0.1:${manyPort}"\nout = "many/%H%M%S.ts"\nrotate = "64KiB"`,
      `[[recording]]\nname = "garbage"\nsource = "udp://@127.0.0.1:${garbagePort}"\nout = "garbage/%H%M%S.ts"`,
    ].join("\n"),
  });
});

afterAll(async () => {
  sender?.stop();
  await serve?.stop();
  serve?.cleanup();
  rmSync(root, { recursive: true, force: true });
});

describe("server recordings", () => {
  test("a schedule every 3 s records the live channel twice, into two files named by the pattern", async () => {
    await waitFor("two finished every3 runs", () => (serve.stderr().match(/recording every3 ended: done/g) ?? []).length >= 2);
    // Each end says what was lost on the way in, as pacer record's summary does: here no gap,
    // and the continuity errors of the sender's loop (its clip's counters do not run on over the seam).
    expect(serve.stderr()).toMatch(/recording every3 ended: done, 1 file, \d+ bytes, gaps 0 \(lost packets 0, stalls 0\), cc errors \d+ /);
    const files = tsFiles("every3");
    expect(files.length).toBeGreaterThanOrEqual(2);
    for (const name of files.slice(0, 2)) {
      expect(name).toMatch(/^\d{6}\.ts$/);
      const bytes = readFileSync(join(root, "every3", name));
      expect(bytes.length).toBeGreaterThan(50_000);
      expect(bytes.length % 188).toBe(0);
      expect(bytes[0]).toBe(0x47);
    }
    // Named by the pattern at each run's start: 3 s apart (or a multiple, on a loaded host).
    const [a, b] = files.map((n) => Number(n.slice(0, 2)) * 3600 + Number(n.slice(2, 4)) * 60 + Number(n.slice(4, 6)));
    expect((b! - a! + 86_400) % 3).toBe(0);
  }, 30_000);

  test("a run due while the previous one of its schedule still goes is skipped and logged, never run twice", async () => {
    await waitFor("a skipped overlap run", () => /recording overlap: run at \S+ skipped; the previous run is still going/.test(serve.stderr()));
    await waitFor("a finished overlap run", () => serve.stderr().includes("recording overlap ended: done"));
    // Never two at once: in log order, each start comes after the previous run's end.
    let going = 0;
    let starts = 0;
    for (const line of serve.stderr().split("\n")) {
      if (/recording started recording=overlap /.test(line)) (going += 1), (starts += 1);
      if (line.includes("recording overlap ended:")) going -= 1;
      expect(going).toBeLessThanOrEqual(1);
    }
    // The starts were seen: with none, the count above checks nothing.
    expect(starts).toBeGreaterThanOrEqual(1);
    const status = await ctl("status");
    expect(status.stdout).toMatch(/recording overlap\t(running|idle)\tnext \d{4}-/);
    expect(status.stdout).toMatch(/recording every3\t\w+\tnext \S+\tlast (done|skipped)/);
  }, 30_000);

  test("pacer ctl record start / stop records the channel until stopped; a second start is busy", async () => {
    const start = await ctl("record", "start", "manual");
    expect(start.stderr).toBe("");
    expect(start.stdout).toBe("started recording manual\n");
    const again = await ctl("record", "start", "manual");
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("busy");
    expect(serve.stderr()).toMatch(/recording start refused: .*recording=manual from=127\.0\.0\.1/);
    await Bun.sleep(1500);
    const stop = await ctl("record", "stop", "manual");
    expect(stop.stdout).toMatch(/^stopped recording manual: done, 1 file, \d+ bytes\n$/);
    const files = tsFiles("manual");
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^take-\d{6}\.ts$/);
    expect(statSync(join(root, "manual", files[0]!)).size).toBeGreaterThan(50_000);
    // A folder of the pattern made a symlink out of the root is refused as media outside its root is.
    const outside = makeSharedDir("pacer-outside-");
    try {
      symlinkSync(outside, join(root, "escape"));
      const escape = await ctl("record", "start", "escape");
      expect(escape.code).toBe(1);
      expect(escape.stderr).toContain("forbidden");
      expect(escape.stderr).toContain("resolves outside recording_root");
      expect(readdirSync(outside)).toEqual([]);
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
    const missing = await ctl("record", "stop", "manual");
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("not_found");
  }, 20_000);

  test("rotate, keep and part as in pacer record: new files on the clock, the newest two kept, none left as .part", async () => {
    expect((await ctl("record", "start", "rotating")).code).toBe(0);
    // While it runs, the file being written is NAME.part, and /status shows the run.
    await waitFor("a .part file", () => readdirSync(join(root, "rotating")).some((n) => n.endsWith(".ts.part")));
    expect(runOf(await statusWhen((r) => runOf(r, "rotating")?.state === "running"), "rotating")!.state).toBe("running");
    await Bun.sleep(4500);
    const stop = await ctl("record", "stop", "rotating");
    expect(stop.stdout).toMatch(/^stopped recording rotating: done, \d+ files, \d+ bytes\n$/);
    const names = readdirSync(join(root, "rotating")).sort();
    expect(names.filter((n) => n.endsWith(".part"))).toEqual([]);
    expect(tsFiles("rotating")).toHaveLength(2);
    for (const name of tsFiles("rotating")) {
      const bytes = readFileSync(join(root, "rotating", name));
      expect(bytes.length % 188).toBe(0);
      // Cut on packet boundaries (this input has no PAT, so each cut waits PAT_WAIT_MS, then cuts).
      expect(bytes[0]).toBe(0x47);
    }
    const last = runOf(await statusWhen((r) => runOf(r, "rotating")?.last != null), "rotating")!.last!;
    expect(last.state).toBe("done");
    expect(last.files.length).toBeGreaterThanOrEqual(3);
  }, 20_000);

  test("a second recording of a UDP port one already records is refused in one line that names the input once", async () => {
    expect((await ctl("record", "start", "port_a")).code).toBe(0);
    const second = await ctl("record", "start", "port_b");
    expect(second.code).toBe(1);
    expect(second.stderr).toBe(`pacer: error: record: not_available: udp://@127.0.0.1:${sharedPort}: port ${sharedPort} is in use\n`);
    expect((await ctl("record", "stop", "port_a")).code).toBe(0);
  }, 20_000);

  test("a run of many files keeps a count, the first name and the last few, not every name: status and the end line", async () => {
    expect((await ctl("record", "start", "many")).code).toBe(0);
    // 3 MB of PAT packets (a size rotation cuts before a PAT) in 64 KiB files: 46 of them, sent
    // 40 datagrams every 5 ms (loopback loses none at that).
    const ts = patPackets(16_000, 0);
    const socket = await Bun.udpSocket({ socket: { error() {} } });
    for (let at = 0; at + CHUNK <= ts.length; at += CHUNK) {
      socket.send(ts.subarray(at, at + CHUNK), manyPort, "127.0.0.1");
      if ((at / CHUNK) % 40 === 39) await Bun.sleep(5);
    }
    socket.close();
    await Bun.sleep(300);
    const stop = await ctl("record", "stop", "many");
    const total = Number(/done, (\d+) files/.exec(stop.stdout)?.[1]);
    expect(total).toBeGreaterThan(30);
    expect(tsFiles("many")).toHaveLength(total);
    const last = runOf(await statusWhen((r) => runOf(r, "many")?.last != null), "many")!.last;
    expect(last!.files_total).toBe(total);
    // In the order written: HHMMSS, then the -N a taken name gets, counting up within that second.
    const order = (n: string) => Number(n.slice(0, 6)) * 1e4 + Number(/-(\d+)\.ts$/.exec(n)?.[1] ?? 0);
    const names = tsFiles("many").sort((a, b) => order(a) - order(b)).map((n) => join(root, "many", n));
    // The first name and the newest four, oldest first.
    expect(last!.files).toEqual([names[0]!, ...names.slice(-4)]);
    const line = serve.stderr().split("\n").find((l) => l.includes("recording many ended:"))!;
    expect(line).toContain(`recording many ended: done, ${total} files (first ${names[0]}, last ${names.at(-1)}), `);
  }, 20_000);

  test("a recording of what is not MPEG-TS into a .ts ends saying so, as a warning, not a clean cc errors 0", async () => {
    expect((await ctl("record", "start", "garbage")).code).toBe(0);
    const socket = await Bun.udpSocket({ socket: { error() {} } });
    const junk = Buffer.alloc(CHUNK, 0x55); // no 0x47 anywhere
    for (let i = 0; i < 20; i++) {
      socket.send(junk, garbagePort, "127.0.0.1");
      await Bun.sleep(10);
    }
    socket.close();
    // Stopped once the server has written some of it, not after a guessed 200 ms (a stop before
    // the first datagram is read ends "nothing", not "done").
    await waitFor("the garbage in the run's file", async () => {
      const status = (await (await fetch(`http://127.0.0.1:${httpPort}/status`)).json()) as { recordings: { name: string; running?: { bytes: number } }[] };
      return (status.recordings.find((r) => r.name === "garbage")?.running?.bytes ?? 0) > 0;
    });
    expect((await ctl("record", "stop", "garbage")).code).toBe(0);
    await waitFor("the garbage run's end", () => serve.stderr().includes("recording garbage ended:"));
    const line = serve.stderr().split("\n").find((l) => l.includes("recording garbage ended:"))!;
    expect(line).toMatch(/^pacer: warn: recording garbage ended: done, 1 file, \d+ bytes, no MPEG-TS packets found, gaps 0 /);
  }, 20_000);

  test("a live channel recorded by `record start live:NAME` is one run with `NAME`: busy, and stopped, by either name", async () => {
    const start = await ctl("record", "start", "live:news");
    expect(start.stdout).toBe("started recording news\n");
    const again = await ctl("record", "start", "news");
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("busy: recording news is already running");
    await Bun.sleep(500);
    const stop = await ctl("record", "stop", "news");
    expect(stop.stdout).toMatch(/^stopped recording news: done, 1 file, \d+ bytes\n$/);
  }, 20_000);

  test("`live:NAME` where a [[recording]] is also named NAME is the channel, a run of its own: neither start nor stop reaches the [[recording]]", async () => {
    // Before, `live:sport` was taken for `sport`: the start was refused busy (the [[recording]]
    // runs), and a stop would have stopped the [[recording]].
    expect((await ctl("record", "start", "sport")).stdout).toBe("started recording sport\n");
    const start = await ctl("record", "start", "live:sport");
    expect(start.stderr).toBe("");
    expect(start.stdout).toBe("started recording live:sport\n");
    const both = (r: RunStatus[]) => r.filter((x) => x.name === "sport" || x.name === "live:sport").map((x) => `${x.name} ${x.state}`).sort();
    expect(both(await statusWhen((r) => both(r).join() === "live:sport running,sport running"))).toEqual(["live:sport running", "sport running"]);
    const stop = await ctl("record", "stop", "live:sport");
    expect(stop.stdout).toMatch(/^stopped recording live:sport: /);
    // The channel's own run is gone (a run not in the config is listed while it runs).
    expect(both(await statusWhen((r) => runOf(r, "live:sport")?.state !== "running"))).toEqual(["sport running"]);
    expect((await ctl("record", "stop", "sport")).stdout).toMatch(/^stopped recording sport: /);
  }, 20_000);

  test("a schedule added to the config takes effect on SIGHUP", async () => {
    appendFileSync(serve.configPath, `[[recording]]\nname = "added"\ncron = "*/2 * * * * *"\nsource = "live:news"\nduration = 1\nout = "added/%H%M%S.ts"\n`);
    serve.child.kill("SIGHUP");
    await waitFor("a run of the added schedule", () => serve.stderr().includes("recording added ended: done"));
    expect(tsFiles("added").length).toBeGreaterThanOrEqual(1);
  }, 20_000);

  test("a [[recording]] removed on SIGHUP while it runs is listed until its run ends, then leaves status", async () => {
    expect((await ctl("record", "start", "manual")).code).toBe(0);
    const block = `[[recording]]\nname = "manual"\nsource = "live:news"\nout = "manual/take-%H%M%S.ts"\n`;
    const text = readFileSync(serve.configPath, "utf8");
    expect(text).toContain(block);
    writeFileSync(serve.configPath, text.replace(block, ""));
    const reloads = serve.stderr().split("config reloaded").length;
    serve.child.kill("SIGHUP");
    await waitFor("the reload", () => serve.stderr().split("config reloaded").length > reloads);
    const manual = async () => (await ctl("status")).stdout.split("\n").find((line) => line.startsWith("recording manual\t"));
    // Its run goes on (a reload disturbs no run), without a schedule now.
    expect(await manual()).toMatch(/^recording manual\trunning\tnext -\t/);
    expect((await ctl("record", "stop", "manual")).stdout).toMatch(/^stopped recording manual: done, /);
    expect(await manual()).toBeUndefined();
  }, 20_000);
});
