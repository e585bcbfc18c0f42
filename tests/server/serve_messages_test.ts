/**
 * Stories of a user told what went wrong, in one line that says what to do: a port already taken,
 * a request too small for its reply, a broken config on reload, a forgotten --key, a config asking
 * for what this version does not run, and a played stream that stops for want of interest.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { decodeReply, encodeRequest } from "../../protocol/control.ts";
import { runPacer } from "../helpers/pacer.ts";
import { parseSampleFormat } from "../../protocol/sample_format.ts";
import { rampS16, writeWav } from "../helpers/audio.ts";
import { freeTcpPort, freeUdpPort, KEY, launch, prepareServe, rawPeer, requestBytes, type ServeFixture, startServe } from "./serve_fixture.ts";

/** The lines pacer printed, without the log's prefix. */
const lines = (stderr: string) => stderr.trim().split("\n").filter((l) => l !== "");

describe("pacer serve on a port already taken", () => {
  test("exits 75 with one line naming the control port and the process holding it", async () => {
    const prepared = await prepareServe();
    const holder = await Bun.udpSocket({ hostname: "127.0.0.1", port: prepared.port });
    try {
      const run = await runPacer(["serve", "--config", prepared.configPath], { timeoutMs: 10_000 });
      expect(run.code).toBe(75);
      expect(lines(run.stderr)).toHaveLength(1);
      expect(run.stderr).toContain(`cannot bind the control socket on 127.0.0.1:${prepared.port}: UDP port ${prepared.port} is in use`);
      expect(run.stderr).toContain(`by pid ${process.pid}`);
      expect(run.stderr).toContain("set control to another port");
    } finally {
      holder.close();
    }
  });

  test("exits 75 naming the HTTP port when that one is taken", async () => {
    const httpPort = freeTcpPort();
    const prepared = await prepareServe({ config: `http = "127.0.0.1:${httpPort}"` });
    const holder = Bun.listen({ hostname: "127.0.0.1", port: httpPort, socket: { data() {} } });
    try {
      const run = await runPacer(["serve", "--config", prepared.configPath], { timeoutMs: 10_000 });
      expect(run.code).toBe(75);
      expect(lines(run.stderr)).toHaveLength(1);
      expect(run.stderr).toContain(`cannot bind the HTTP endpoint on 127.0.0.1:${httpPort}: TCP port ${httpPort} is in use by pid ${process.pid}`);
    } finally {
      holder.stop(true);
    }
  });
});

describe("pacer serve with a speaker aimed at its own control port", () => {
  test("is refused in one line naming the output, its RTCP too: it fed its control socket and starved local clients of their rate limit", async () => {
    for (const [output, said] of [
      ["rtp://127.0.0.1:{control}?rtcp=off", "port {control} is this server's own control port; send the stream to another port"],
      ["rtp://localhost:{below}", "its RTCP would go to port {control}, this server's own control port; give rtcp=PORT, mux or off, or another port"],
    ] as const) {
      const prepared = await prepareServe();
      const url = output.replace("{control}", String(prepared.port)).replace("{below}", String(prepared.port - 1));
      writeFileSync(prepared.configPath, `${readFileSync(prepared.configPath, "utf8")}[speaker]\noutput = "${url}"\n`);
      const run = await runPacer(["serve", "--config", prepared.configPath], { timeoutMs: 10_000 });
      expect(run.code).toBe(1);
      expect(lines(run.stderr)).toEqual([`pacer: error: config ${prepared.configPath}: speaker.output: ${url}: ${said.replace("{control}", String(prepared.port))}`]);
    }
  }, 30_000);
});

describe("pacer serve with a malformed speaker output", () => {
  test("is refused at start in one line naming the key: it started, and the first track queued found it, then tried it again with back-off for good", async () => {
    for (const [output, said] of [
      ["rtp://127.0.0.1:{free}?ttl=999", "rtp:// option ttl=999: must be a whole number from 0 to 255"],
      ["rtp://127.0.0.1:{free}?bogus=1", `"rtp://127.0.0.1:{free}?bogus=1": unknown option "bogus" (known: pkt, ptime, pt, format, compat, ttl, iface, source, ahead, rtcp, sap, sap-interval)`],
      ["rtp://127.0.0.1:{free}?sap-interval=5", "rtp://127.0.0.1:{free}?sap-interval=5: sap-interval= needs sap=1"],
    ] as const) {
      const prepared = await prepareServe();
      // Never sent to: serve refuses the config before any output opens.
      const free = String(prepared.port + 2);
      const url = output.replace("{free}", free);
      writeFileSync(prepared.configPath, `${readFileSync(prepared.configPath, "utf8")}[speaker]\noutput = "${url}"\n`);
      const run = await runPacer(["serve", "--config", prepared.configPath], { timeoutMs: 10_000 });
      expect(run.code).toBe(1);
      expect(lines(run.stderr)).toEqual([`pacer: error: config ${prepared.configPath}: speaker.output: ${said.replaceAll("{free}", free)}`]);
    }
  }, 30_000);
});

describe("pacer serve with its HTTP endpoint on every address", () => {
  test("is warned of at start and at each reload, as it has no key; it was silent", async () => {
    const httpPort = freeTcpPort();
    const serve = await startServe({ config: `http = "0.0.0.0:${httpPort}"` });
    try {
      const said = `warn: http: 0.0.0.0:${httpPort} is not a loopback address, and /metrics and /status need no key: anyone who reaches it sees every job, its source, owner and destinations; use a loopback address such as 127.0.0.1:${httpPort}, or one on a network only your monitoring reaches`;
      const warnings = () => serve.stderr().split("\n").filter((l) => l.endsWith(said)).length;
      expect(warnings()).toBe(1);
      expect(serve.stderr().indexOf(said)).toBeLessThan(serve.stderr().indexOf("pacer: serving"));
      expect((await runPacer(["ctl", "--server", serve.address, "reload"])).code).toBe(0);
      for (let i = 0; i < 400 && !serve.stderr().includes("config reloaded"); i++) await Bun.sleep(25);
      expect(warnings()).toBe(2);
    } finally {
      await serve.stop();
      serve.cleanup();
    }
  });
});

describe("pacer serve with a [[live]] block", () => {
  test("a live port in use exits 75 in one line naming it and the process holding it, as the control port does", async () => {
    const holder = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const prepared = await prepareServe({ config: `[[live]]\nname = "studio"\nlisten = "tcp://127.0.0.1:${holder.port}"` });
      const run = await runPacer(["serve", "--config", prepared.configPath], { timeoutMs: 10_000 });
      expect(run.code).toBe(75);
      expect(lines(run.stderr)).toHaveLength(1);
      expect(run.stderr).toContain(`cannot bind the live "studio" listener on 127.0.0.1:${holder.port}: TCP port ${holder.port} is in use by pid ${process.pid}`);
    } finally {
      holder.stop(true);
    }
  });
});

describe("a server without a key", () => {
  let serve: ServeFixture;
  beforeAll(async () => {
    serve = await startServe();
  });
  afterAll(async () => {
    await serve.stop();
    serve.cleanup();
  });

  test("a request padded too little for its reply is told the reply would exceed it, and how to pad", async () => {
    const peer = await rawPeer();
    try {
      const request = (id: string, padTo: number) => encodeRequest({ v: 1, id, ts: Date.now(), op: "status", args: {} }, undefined, { padTo });
      peer.send(request("script-1", 300), serve.port);
      const reply = decodeReply((await peer.next(2000))!);
      expect(reply.ok && !reply.reply.ok && reply.reply.error.code).toBe("too_large");
      const message = (reply.ok && !reply.reply.ok && reply.reply.error.message) || "";
      expect(message).toMatch(/^the reply \(\d+ bytes\) would be larger than this unauthenticated request \(300 bytes\)/);
      expect(message).toContain('with a top-level "pad" string');
      // Padded as it says (as a new request: the old id has its answer), it gets its page.
      const needed = Number(/at least (\d+) bytes/.exec(message)?.[1]);
      peer.send(request("script-2", needed + 50), serve.port);
      const page = decodeReply((await peer.next(2000))!);
      expect(page.ok && page.reply.ok).toBe(true);
    } finally {
      peer.close();
    }
  });

  test("clients that go before their replies come cost one warning line in all, not one each, and no other client its reply", async () => {
    // Each closed port's ICMP error is pending on the server's socket when it replies next: that
    // reply is another client's, asking at the same moment.
    const alive = await rawPeer();
    let answered = 0;
    try {
      for (let i = 0; i < 10; i++) {
        const gone = await rawPeer();
        gone.send(requestBytes("ping", {}), serve.port);
        gone.close();
        alive.send(requestBytes("ping", {}), serve.port);
        if (await alive.next(1000)) answered++;
      }
    } finally {
      alive.close();
    }
    expect(answered).toBe(10);
    const warnings = lines(serve.stderr()).filter((l) => l.includes("control socket"));
    expect(warnings.length, serve.stderr()).toBeLessThanOrEqual(1);
  });

  test("a play's bitrate is bounded by limits.max_bitrate, and refused for PCM, as play's --bitrate is", async () => {
    const wav = join(serve.mediaRoot, "tone.wav");
    writeWav(wav, parseSampleFormat("s16le:44100:2"), rampS16(44_100));
    chmodSync(wav, 0o644);
    const peer = await rawPeer();
    try {
      const ask = async (args: Record<string, unknown>) => {
        peer.send(requestBytes("play", { to: [`udp://127.0.0.1:${await freeUdpPort()}`], ...args }), serve.port);
        const reply = decodeReply((await peer.next(2000))!);
        return reply.ok && !reply.reply.ok ? reply.reply.error : null;
      };
      const tooFast = await ask({ source: "clip.ts", bitrate: "10G", loop: true });
      expect(tooFast?.code).toBe("limit");
      expect(tooFast?.message).toContain("limits.max_bitrate, 100000000 bits/s");
      const pcm = await ask({ source: "tone.wav", bitrate: "1M" });
      expect(pcm?.code).toBe("bad_request");
      expect(pcm?.message).toBe(`"bitrate" is for MPEG and other data: tone.wav is PCM, paced by its sample rate`);
    } finally {
      peer.close();
    }
  });

  test("ctl reload with a broken config gets invalid_config and the config's own one-line error", async () => {
    const good = readFileSync(serve.configPath, "utf8");
    try {
      writeFileSync(serve.configPath, good + "interest_timout = 5\n");
      const run = await runPacer(["ctl", "--server", serve.address, "reload"]);
      expect(run.code).toBe(1);
      expect(lines(run.stderr)).toHaveLength(1);
      expect(run.stderr).toContain(`reload: invalid_config: config ${serve.configPath}: interest_timout: unknown key`);
      expect(run.stderr).toContain("the old config stays in force");
      // The server's log says so too, as for SIGHUP, naming who asked.
      expect(serve.stderr()).toMatch(/interest_timout: unknown key.*keeping the old config by=127\.0\.0\.1/);
    } finally {
      writeFileSync(serve.configPath, good);
    }
    expect((await runPacer(["ctl", "--server", serve.address, "reload"])).code).toBe(0);
    for (let i = 0; i < 400 && !serve.stderr().includes("config reloaded"); i++) await Bun.sleep(25);
    expect(serve.stderr()).toMatch(/config reloaded.*by=127\.0\.0\.1/);
  });

  test("a limits.max_bitrate below 1k, which left no bitrate a play could ask for, is refused in one line naming it, by a reload and at start", async () => {
    const good = readFileSync(serve.configPath, "utf8");
    const said = `limits.max_bitrate: expected bits per second, a whole number ≥ 1000 (1k, the least a play's "bitrate" may be), got 1`;
    try {
      writeFileSync(serve.configPath, good + "[limits]\nmax_bitrate = 1\n");
      const run = await runPacer(["ctl", "--server", serve.address, "reload"]);
      expect(run.code).toBe(1);
      expect(lines(run.stderr)).toHaveLength(1);
      expect(run.stderr).toContain(`reload: invalid_config: config ${serve.configPath}: ${said}`);
      const start = await runPacer(["serve", "--config", serve.configPath], { timeoutMs: 10_000 });
      expect(start.code).toBe(1);
      expect(lines(start.stderr)).toEqual([`pacer: error: config ${serve.configPath}: ${said}`]);
    } finally {
      writeFileSync(serve.configPath, good);
    }
  });

  test("a recording root that cannot be written is said at start and at reload, not first when a run is due", async () => {
    // A file where the folder should be; as root (dropping to nobody) also a folder only root may write in.
    const recording = '[[recording]]\nname = "news"\nsource = "udp://@127.0.0.1:9"\nout = "news.ts"\nduration = 1';
    const prepared = await prepareServe();
    const file = join(prepared.dir, "not-a-folder");
    writeFileSync(file, "");
    writeFileSync(prepared.configPath, readFileSync(prepared.configPath, "utf8") + `recording_root = "${file}"\n${recording}\n`);
    const fixture = launch(prepared.dir, prepared.mediaRoot, prepared.configPath, prepared.port);
    try {
      await fixture.ready;
      expect(fixture.stderr()).toContain(`warn: recording root ${file} is not a folder; recordings will fail`);
      if (process.getuid?.() === 0) {
        const rootOnly = join(prepared.dir, "root-only");
        mkdirSync(rootOnly, { mode: 0o755 });
        const config = readFileSync(prepared.configPath, "utf8").replace(`recording_root = "${file}"`, `recording_root = "${rootOnly}/rec"`);
        writeFileSync(prepared.configPath, config);
        expect((await runPacer(["ctl", "--server", fixture.address, "reload"])).code).toBe(0);
        for (let i = 0; i < 400 && !fixture.stderr().includes("config reloaded"); i++) await Bun.sleep(25);
        expect(fixture.stderr()).toContain(`warn: recording root ${rootOnly}/rec does not exist, and this user may not make it in ${rootOnly} (EACCES); recordings will fail`);
      }
    } finally {
      await fixture.stop();
      fixture.cleanup();
    }
  });

  test("a media root that is a file, or missing, is said as such at start", async () => {
    for (const [make, said] of [
      [(path: string) => writeFileSync(path, ""), "is not a folder"],
      [() => {}, "does not exist"],
    ] as const) {
      const prepared = await prepareServe();
      const root = join(prepared.dir, "root");
      make(root);
      writeFileSync(prepared.configPath, readFileSync(prepared.configPath, "utf8").replace(`media_root = "${prepared.mediaRoot}"`, `media_root = "${root}"`));
      const fixture = launch(prepared.dir, root, prepared.configPath, prepared.port);
      try {
        await fixture.ready;
        expect(fixture.stderr()).toContain(`warn: media root ${root} ${said}; play requests will fail`);
      } finally {
        await fixture.stop();
        fixture.cleanup();
      }
    }
  });

  test("a reload to a media root that is missing is said, as at start: it said only \"config reloaded\"", async () => {
    const fixture = await startServe();
    const missing = join(fixture.dir, "no-such-root");
    try {
      writeFileSync(fixture.configPath, readFileSync(fixture.configPath, "utf8").replace(`media_root = "${fixture.mediaRoot}"`, `media_root = "${missing}"`));
      expect((await runPacer(["ctl", "--server", fixture.address, "reload"])).code).toBe(0);
      for (let i = 0; i < 400 && !fixture.stderr().includes("config reloaded"); i++) await Bun.sleep(25);
      expect(fixture.stderr()).toContain(`warn: media root ${missing} does not exist; play requests will fail`);
    } finally {
      await fixture.stop();
      fixture.cleanup();
    }
  });

  test("a [[recording]] that lasts longer than the time between its runs is said at start, once", async () => {
    const prepared = await prepareServe();
    const recording = '[[recording]]\nname = "fast"\nsource = "udp://@127.0.0.1:9"\nout = "fast.ts"\ncron = "*/2 * * * * *"\nduration = 2.5';
    writeFileSync(prepared.configPath, `${readFileSync(prepared.configPath, "utf8")}recording_root = "${prepared.dir}"\n${recording}\n`);
    const fixture = launch(prepared.dir, prepared.mediaRoot, prepared.configPath, prepared.port);
    const warning = "warn: recording fast: it lasts 2.5 s but falls due 2 s apart; a run due while the last still goes is skipped";
    try {
      await fixture.ready;
      for (let i = 0; i < 400 && !fixture.stderr().includes(warning); i++) await Bun.sleep(25);
      expect(fixture.stderr()).toContain(warning);
      expect(fixture.stderr().split(warning).length).toBe(2);
    } finally {
      await fixture.stop();
      fixture.cleanup();
    }
  });

  test("a reload that adds a [[recording]] of a channel added with it says its runs fail until a restart", async () => {
    const prepared = await prepareServe();
    const [a, b] = [await freeTcpPort(), await freeTcpPort()];
    const base = readFileSync(prepared.configPath, "utf8");
    writeFileSync(prepared.configPath, `${base}[[live]]\nname = "a"\nlisten = "tcp://127.0.0.1:${a}"\n`);
    const fixture = launch(prepared.dir, prepared.mediaRoot, prepared.configPath, prepared.port);
    try {
      await fixture.ready;
      const added = `[[live]]\nname = "b"\nlisten = "tcp://127.0.0.1:${b}"\n[[recording]]\nname = "rb"\nsource = "live:b"\nout = "b.ts"\nduration = 1\n`;
      writeFileSync(prepared.configPath, `${readFileSync(prepared.configPath, "utf8")}${added}`);
      expect((await runPacer(["ctl", "--server", fixture.address, "reload"])).code).toBe(0);
      for (let i = 0; i < 400 && !fixture.stderr().includes("config reloaded"); i++) await Bun.sleep(25);
      expect(fixture.stderr()).toContain("warn: recording rb: live:b is a channel this server has only after a restart ([[live]] changes wait for it); its runs fail until then");
    } finally {
      await fixture.stop();
      fixture.cleanup();
    }
  });

  test("a reload that drops the key says so: an emptied config on a loopback server made it keyless with only \"config reloaded\"", async () => {
    const keyed = await startServe({ keyed: true });
    try {
      writeFileSync(keyed.configPath, ""); // as an editor or a config tool leaves it mid-write
      expect((await runPacer(["ctl", "--server", keyed.address, "--key", join(keyed.dir, "key"), "reload"])).code).toBe(0);
      for (let i = 0; i < 400 && !keyed.stderr().includes("config reloaded"); i++) await Bun.sleep(25);
      expect(keyed.stderr()).toContain(`warn: config ${keyed.configPath} has no key_file: control requests need no key from now on, from any local user`);
      expect(keyed.stderr()).toMatch(/config reloaded .*by=127\.0\.0\.1 key=none/);
    } finally {
      await keyed.stop();
      keyed.cleanup();
    }
  });

  test("play with start past the media's end is bad_request naming its length, not a job that plays nothing", async () => {
    const run = await runPacer(["ctl", "--server", serve.address, "play", "clip.ts", "--start", "100", "--to", "udp://127.0.0.1:9"]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe("");
    expect(run.stderr).toMatch(/^pacer: error: play: bad_request: start 100 s: clip\.ts is only 1\.\d+ s long, so nothing would play\n$/);
  });
});

describe("a keyed server", () => {
  let serve: ServeFixture;
  beforeAll(async () => {
    serve = await startServe({ keyed: true });
  });
  afterAll(async () => {
    await serve.stop();
    serve.cleanup();
  });

  test("a key file every user may read is said at start and at reload; one closed to others is not", async () => {
    const keyPath = join(serve.dir, "key");
    // The fixture's key is 644, so that the server, dropped to nobody, can read it at reload.
    expect(serve.stderr()).toContain(`warn: key file ${keyPath} is readable by every user of this host (mode 644): any of them may sign requests with it; chmod 600 ${keyPath} (640 for a group)`);
    const warnings = () => serve.stderr().split("\n").filter((l) => l.includes("is readable by every user")).length;
    const reloads = () => serve.stderr().split("\n").filter((l) => l.includes("config reloaded")).length;
    const reload = async () => {
      const done = reloads();
      expect((await runPacer(["ctl", "--server", serve.address, "--key", keyPath, "reload"])).code).toBe(0);
      for (let i = 0; i < 400 && reloads() === done; i++) await Bun.sleep(25);
    };
    // Closed to others, yet readable by the user the server runs as (nobody, when started as root).
    const owner = process.getuid?.() === 0 ? Number(Bun.spawnSync(["id", "-u", "nobody"]).stdout.toString()) : (process.getuid?.() ?? 0);
    const { uid, gid } = statSync(keyPath);
    chownSync(keyPath, owner, gid);
    chmodSync(keyPath, 0o600);
    try {
      const before = warnings();
      await reload();
      expect(warnings()).toBe(before);
      chmodSync(keyPath, 0o604);
      await reload();
      expect(warnings()).toBe(before + 1);
      expect(serve.stderr()).toContain("(mode 604)");
    } finally {
      chownSync(keyPath, uid, gid);
      chmodSync(keyPath, 0o644);
    }
  });

  test("ctl without --key hears nothing, and is told a keyed server ignores requests without the key", async () => {
    const run = await runPacer(["ctl", "--server", serve.address, "--ttl", "0.5", "ping"]);
    expect(run.code).toBe(1);
    expect(lines(run.stderr)).toHaveLength(1);
    expect(run.stderr).toContain(`no reply from ${serve.address} within 0.5 s`);
    expect(run.stderr).toContain("pass --key FILE");
  });

  test("a TTL under a millisecond is said as given, not rounded to 0 s", async () => {
    for (const [ttl, said] of [["0.0001", "0.0001 s"], ["0.0000001", "0.0000001 s"]]) {
      const run = await runPacer(["ctl", "--server", serve.address, "--ttl", ttl!, "ping"]);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`no reply from ${serve.address} within ${said};`);
    }
  });

  test("a pool sent without --key is told the same, once", async () => {
    const pool = join(serve.dir, "pool.txt");
    writeFileSync(pool, "ping\nlist\n");
    const run = await runPacer(["ctl", "--server", serve.address, "--ttl", "0.5", "--pool", pool, "--log", join(serve.dir, "pool.log")]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe("0 acknowledged, 2 expired\n");
    expect(run.stderr.split("pass --key FILE").length - 1).toBe(1);
  });

  test("a signed request needs no padding: its reply may be larger than it", async () => {
    const peer = await rawPeer();
    try {
      const signed = requestBytes("status", {}, { key: KEY });
      peer.send(signed, serve.port);
      const bytes = (await peer.next(2000))!;
      expect(bytes.length).toBeGreaterThan(signed.length);
      const reply = decodeReply(bytes);
      expect(reply.ok && reply.reply.ok).toBe(true);
    } finally {
      peer.close();
    }
  });
});

describe("ctl --help", () => {
  test("tells that a played stream stops without interest, and names pacer recv and --persistent", async () => {
    const run = await runPacer(["ctl", "--help"]);
    expect(run.code).toBe(0);
    const play = run.stdout.slice(run.stdout.indexOf("  play NAME"), run.stdout.indexOf("  stop JOB"));
    expect(play).toContain('"interest JOB"');
    expect(play).toContain("interest_timeout");
    expect(play).toContain("pacer recv");
    expect(play).toContain("--persistent");
  });
});
