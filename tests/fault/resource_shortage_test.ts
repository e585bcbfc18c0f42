/**
 * Fault: the server runs out of file descriptors (EMFILE at its LimitNOFILE), or processes, then
 * gets some back.
 * The shortage is made on the running process: its soft limit is lowered to its lowest free
 * descriptor (prlimit, as the server's own user: this host's root may lack CAP_SYS_RESOURCE), and
 * raised back to the hard limit after. Meanwhile a play is `not_available`, naming EMFILE (it was
 * `forbidden`: "name a file inside the media root"), so is a `list` (it left such files out), the
 * job already running goes on, and the speaker's next track, whose decoder cannot start, waits
 * and plays once descriptors come back (it failed, and every track after it, as "undefined is not
 * an object", with a stack trace in the log). And a `cmd:` output of `pacer play` that dies while its restart cannot start for want of
 * descriptors is started again once there are some (its destination failed). A decoder whose
 * shell cannot fork (RLIMIT_NPROC) holds its track at the head of the queue until it can (the
 * track failed, and every one whose turn came meanwhile).
 */
import { afterAll, expect, test } from "bun:test";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { limitDescriptors, lowestFreeDescriptor } from "../helpers/descriptors.ts";
import { runPacer, startPacer } from "../helpers/pacer.ts";
import { makeTempDir } from "../helpers/mpeg_fixtures.ts";
import { CLIP, freeUdpPort, launch, prepareServe, rawPeer, requestBytes } from "../server/serve_fixture.ts";

const tmp = makeTempDir();
afterAll(() => tmp.cleanup());

/**
 * A server (not yet ready) with a speaker that reads ahead little, sends to a port nobody
 * reads, and decodes `.raw` tracks (s16le:44100:2, of the given seconds) with the command
 * `decoder` gives for the server's folder.
 */
async function speakerServe(tracks: Record<string, number>, decoder: (dir: string) => string) {
  const prepared = await prepareServe();
  for (const [name, seconds] of Object.entries(tracks)) {
    writeFileSync(join(prepared.mediaRoot, name), new Uint8Array(Math.round(seconds * 44_100) * 4), { mode: 0o644 });
  }
  writeFileSync(
    prepared.configPath,
    `${readFileSync(prepared.configPath, "utf8")}[speaker]\noutput = ["rtp://127.0.0.1:${await freeUdpPort()}"]\nbuffer_seconds = 0.2\n` +
      `[speaker.decoders]\nraw = { command = '${decoder(prepared.dir)}', format = "s16le:44100:2" }\n`,
  );
  return launch(prepared.dir, prepared.mediaRoot, prepared.configPath, prepared.port);
}

/** A UDP receiver on 127.0.0.1 that counts datagrams. */
async function counter() {
  let datagrams = 0;
  const socket = await Bun.udpSocket({ hostname: "127.0.0.1", socket: { data: () => void datagrams++ } });
  return { port: socket.port, count: () => datagrams, close: () => socket.close() };
}

test("out of descriptors, a play is not_available naming EMFILE, the running job goes on, a queued track waits; all recover", async () => {
  // "Decoded" by cat. The speaker's buffer holds 256 KiB at least (1.5 s): the first track fills
  // it until 0.7 s in, and the next one's decoder starts then, while descriptors are short.
  const serve = await speakerServe({ "first.raw": 2.2, "second.raw": 0.25, "third.raw": 0.25 }, () => "cat {path}");
  const rx = await counter();
  const peer = await rawPeer();
  const ask = async (op: "play" | "queue" | "ping" | "list", args: Record<string, unknown> = {}) => {
    peer.send(requestBytes(op, args), serve.port);
    return JSON.parse(new TextDecoder().decode((await peer.next(3000))!));
  };
  try {
    await serve.ready;
    const pid = serve.child.pid!;
    // Below every descriptor the job, the speaker and its decoders take: those they free later
    // stay out of reach too.
    const floor = lowestFreeDescriptor(pid);
    const running = await ask("play", { source: "clip.ts", to: [`udp://127.0.0.1:${rx.port}`], loop: true, persistent: true });
    expect(running.error).toBeUndefined();
    for (const name of ["first.raw", "second.raw", "third.raw"]) expect((await ask("queue", { path: name })).error).toBeUndefined();

    limitDescriptors(pid, floor);
    const before = rx.count();
    const refused = await ask("play", { source: "clip.ts", to: [`udp://127.0.0.1:${rx.port + 1}`] });
    expect(refused.ok).toBe(false);
    expect(refused.error.code).toBe("not_available");
    expect(refused.error.message).toBe('media "clip.ts" cannot be opened now: the server has too many open files (EMFILE), its descriptor limit (LimitNOFILE, ulimit -n); try again once a stream ends');
    expect((await ask("ping")).ok).toBe(true);
    // The files it could not open were left out, or kept as "unknown" until they changed.
    const unlisted = await ask("list");
    expect(unlisted.error?.code).toBe("not_available");
    await Bun.sleep(1_200); // past the second track's load
    // 1 Mbit/s in 1316-byte datagrams: some 95 a second went on meanwhile.
    expect(rx.count() - before).toBeGreaterThan(60);

    limitDescriptors(pid, null);
    const started = await ask("play", { source: "clip.ts", to: [`udp://127.0.0.1:${rx.port + 1}`] });
    expect(started.ok).toBe(true);
    expect((await ask("list")).result.items).toContainEqual(expect.objectContaining({ name: "clip.ts", kind: "mpegts" }));
    const deadline = Date.now() + 4_000;
    while (!serve.stderr().includes("media=third.raw") || !/played [^\n]*media=third\.raw/.test(serve.stderr())) {
      if (Date.now() > deadline) break;
      await Bun.sleep(50);
    }
    const log = serve.stderr();
    // Its file (opened again at its load) or its decoder.
    expect(log).toMatch(/warn: speaker: [^\n]*second\.raw[^\n]*too many open files \(EMFILE\)[^\n]*; the queue waits, trying again every 1 s/);
    for (const name of ["first", "second", "third"]) expect(log).toMatch(new RegExp(`speaker: played [^\\n]*media=${name}\\.raw`));
    expect(log).not.toContain("skipping");
    expect(log).not.toContain("undefined is not an object");
  } finally {
    rx.close();
    peer.close();
    await serve.stop();
    serve.cleanup();
  }
}, 15_000);

test("a cmd: output that dies while no descriptor is free for its restart is started again once there is one", async () => {
  const out = join(tmp.dir, "restarted.txt");
  // Each child reads 1000 bytes, counts a line and exits: the stream keeps restarting it.
  const play = startPacer(["play", "--format", "s16le:44100:2", "-", "--to", `cmd:head -c 1000 >/dev/null; echo >> ${out}`], {
    env: { PACER_CMD_BACKOFF_MS: "20" },
  });
  let stderr = "";
  play.stderr!.on("data", (d) => (stderr += d));
  const feed = setInterval(() => play.stdin!.write(new Uint8Array(17_640)), 100); // 0.1 s of audio each 0.1 s
  const lines = () => readFileSync(out, "utf8").split("\n").length - 1;
  try {
    const until = async (what: () => boolean, ms: number) => {
      const deadline = Date.now() + ms;
      while (!what() && Date.now() < deadline) await Bun.sleep(20);
    };
    await until(() => { try { return lines() >= 2; } catch { return false; } }, 3_000);
    limitDescriptors(play.pid!, lowestFreeDescriptor(play.pid!) + 2); // its pipe, not the child's own
    await until(() => stderr.includes("could not start sh"), 2_000);
    expect(stderr).toContain("could not start sh: too many open files (EMFILE)");
    limitDescriptors(play.pid!, null);
    const after = lines();
    await until(() => lines() > after + 1, 2_000);
    expect(lines()).toBeGreaterThan(after + 1);
    expect(stderr).not.toContain("undefined is not an object");
    expect(stderr).not.toContain("cannot restart");
  } finally {
    clearInterval(feed);
    play.kill("SIGTERM");
  }
}, 15_000);

/**
 * A speaker server with a.raw and b.raw (0.25 s each) queued, decoded by `decoder` (given the
 * server's folder); `story` goes on with `logUntil(pattern)`, which waits (4 s in all) for the
 * server's log to match and gives it.
 */
async function twoQueued(decoder: (dir: string) => string, story: (logUntil: (pattern: RegExp) => Promise<string>) => Promise<void>) {
  const serve = await speakerServe({ "a.raw": 0.25, "b.raw": 0.25 }, decoder);
  const peer = await rawPeer();
  try {
    await serve.ready;
    for (const path of ["a.raw", "b.raw"]) {
      peer.send(requestBytes("queue", { path }), serve.port);
      expect(JSON.parse(new TextDecoder().decode((await peer.next(3000))!)).ok).toBe(true);
    }
    const deadline = Date.now() + 4_000;
    await story(async (pattern) => {
      while (!pattern.test(serve.stderr()) && Date.now() < deadline) await Bun.sleep(20);
      return serve.stderr();
    });
  } finally {
    peer.close();
    await serve.stop();
    serve.cleanup();
  }
}

test("a decoder that cannot fork (its user's process limit) holds its track at the head of the queue until it can", async () => {
  // A real fork failure: with RLIMIT_NPROC 0, the shell cannot fork its pipeline (`Cannot fork`,
  // status 2), until the test puts the flag there.
  let flag = "";
  const decoder = (dir: string) => {
    flag = join(dir, "processes-back");
    return `if [ -e ${flag} ]; then cat {path}; else prlimit --nproc=0:0 sh -c "cat {path} | cat"; fi`;
  };
  await twoQueued(decoder, async (logUntil) => {
    expect(await logUntil(/the queue waits/)).toMatch(/warn: speaker: a\.raw: decoder exited with status 2: sh: \d+: Cannot fork; the queue waits, trying again every 1 s/);
    writeFileSync(flag, "");
    const log = await logUntil(/played [^\n]*media=b\.raw/);
    expect(log).toMatch(/speaker: a\.raw loads after waiting \d s for the server's resources/);
    for (const name of ["a", "b"]) expect(log).toMatch(new RegExp(`speaker: played [^\\n]*media=${name}\\.raw`));
    expect(log).not.toContain("skipping");
  });
}, 15_000);

test("a decoder that fails with EAGAIN's words for its own reasons (a device, a FIFO) fails its track alone, as any failure", async () => {
  // Not the server's shortage: its track had waited at the head of the queue, tried every second for good.
  // The first decoder run (a.raw's) fails so, the later ones decode; the server runs as nobody.
  const decoder = (dir: string) => {
    const flags = join(dir, "flags");
    mkdirSync(flags);
    chmodSync(flags, 0o777);
    const once = join(flags, "failed-once");
    return `if [ -e ${once} ]; then cat {path}; else touch ${once}; echo "cat: /dev/dsp: Resource temporarily unavailable" >&2; exit 1; fi`;
  };
  await twoQueued(decoder, async (logUntil) => {
    const log = await logUntil(/played [^\n]*media=b\.raw/);
    expect(log).toMatch(/warn: speaker: a\.raw: decoder exited with status 1: cat: \/dev\/dsp: Resource temporarily unavailable; skipping to the next track/);
    expect(log).toMatch(/speaker: played [^\n]*media=b\.raw/);
    expect(log).not.toContain("the queue waits");
  });
}, 15_000);

// A socket each: connected ones (PACER_SEND=socket), or the batched path's one per `source=`.
test.each([
  ["a connected socket each", (port: number) => `udp://127.0.0.1:${port}`, { PACER_SEND: "socket" }],
  ["a socket per source=", (port: number) => `udp://127.0.0.1:${port}?source=127.0.0.1:${port + 1000}`, {}],
])("play to 100 destinations on %s past a limit of 64 descriptors says so in one line naming EMFILE", async (_how, url, env) => {
  const clip = join(tmp.dir, "clip.ts");
  writeFileSync(clip, CLIP);
  // Below the kernel's ephemeral range (32768 on), where the other test files' sockets are: a
  // source= port one of them held would be EADDRINUSE before the limit.
  const base = 10_000 + Math.floor(Math.random() * 18_000);
  const to = Array.from({ length: 100 }, (_, i) => ["--to", url(base + i)]).flat();
  const run = await runPacer(["play", clip, ...to], { launcher: ["prlimit", "--nofile=64:64"], env });
  expect(run.code).toBe(1);
  // Bun's own words were `bind EMFILE 0.0.0.0`, and the batched path's said "cannot open a UDP socket" twice.
  expect(run.stderr).toMatch(/^pacer: error: cannot open a UDP socket to 127\.0\.0\.1:\d+: too many open files \(EMFILE\)\n$/);
});

test("play's outputs that ran behind real time are said in one line when there are many, not one line each", async () => {
  const clip = join(tmp.dir, "one.ts");
  writeFileSync(clip, CLIP.subarray(0, Math.floor(CLIP.length / 188 / 1.5) * 188)); // 1 s
  // Each output's command takes nothing for 2 s: 125 kB of stream does not fit its pipe, and each
  // runs 1.5 s behind, past the 1 s that is said by a margin a loaded host keeps (1.5 s gave 1.1).
  const to = Array.from({ length: 5 }, () => ["--to", "cmd:sleep 2; cat >/dev/null"]).flat();
  const run = await runPacer(["play", clip, ...to]);
  expect(run.code).toBe(0);
  // It was five lines, and 20,000 for a host that could not keep up with 20,000 outputs.
  expect(run.stderr).toMatch(
    /^pacer: warn: 5 outputs \(cmd:sleep 2; cat >\/dev\/null and 4 more\) ran [\d.]+( to [\d.]+)? s behind real time \(this host could not keep up, or the output took the stream more slowly\)\n$/,
  );
}, 10_000);
