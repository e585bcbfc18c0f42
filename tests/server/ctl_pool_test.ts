/**
 * Stories of `pacer ctl`: the database server's command pool survives a server that comes up
 * late, logs what it could not deliver, and ctl's exit codes say what happened.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runPacer, startPacer } from "../helpers/pacer.ts";
import { freeUdpPort, launch, makeSharedDir, prepareServe, startServe } from "./serve_fixture.ts";

function collect(child: ReturnType<typeof startPacer>) {
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  child.stdin.end();
  const done = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  return { done, out: () => stdout, err: () => stderr };
}

describe("ctl --pool", () => {
  test("against a server that is down at first: every command is acknowledged once it comes up", async () => {
    const prepared = await prepareServe();
    const pool = join(prepared.dir, "pool.txt");
    const log = join(prepared.dir, "expired.log");
    writeFileSync(pool, ["# evening", "ping", "status", "list", "play clip.ts --to rtp://127.0.0.1:9", "reload", ""].join("\n"));
    const ctl = collect(startPacer(["ctl", "--server", prepared.address, "--ttl", "10", "--pool", pool, "--log", log]));
    await Bun.sleep(700);
    const serve = launch(prepared.dir, prepared.mediaRoot, prepared.configPath, prepared.port);
    try {
      await serve.ready;
      const code = await ctl.done;
      expect(ctl.err()).not.toContain("error");
      expect(ctl.out()).toBe("5 acknowledged, 0 expired\n");
      expect(code).toBe(0);
      expect(existsSync(log)).toBe(false);
    } finally {
      await serve.stop();
      serve.cleanup();
    }
  });

  test("with a short TTL and no server, every command lands in the log with its reason", async () => {
    const dir = makeSharedDir("pacer-pool-");
    try {
      const port = await freeUdpPort();
      const pool = join(dir, "pool.txt");
      const log = join(dir, "expired.log");
      writeFileSync(pool, "ping\nplay 'Evening News.ts' --to rtp://127.0.0.1:5004 --loop\nstop job-3\n");
      const started = Date.now();
      const run = await runPacer(["ctl", "--server", `127.0.0.1:${port}`, "--ttl", "0.6", "--pool", pool, "--log", log]);
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(run.code).toBe(1);
      expect(run.stdout).toBe("0 acknowledged, 3 expired\n");
      const lines = readFileSync(log, "utf8").trimEnd().split("\n");
      expect(lines).toHaveLength(3);
      expect(lines[0]).toContain(":1: ping: ttl expired: no reply");
      expect(lines[1]).toContain(":2: play 'Evening News.ts' --to rtp://127.0.0.1:5004 --loop: ttl expired: no reply");
      expect(lines[2]).toContain(":3: stop job-3: ttl expired");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("an error reply takes a command out of the pool and into the log, counted as an error, not as expired", async () => {
    const serve = await startServe();
    try {
      const pool = join(serve.dir, "pool.txt");
      const log = join(serve.dir, "expired.log");
      writeFileSync(pool, "ping\nplay ../../etc/passwd --to rtp://127.0.0.1:9\n");
      const run = await runPacer(["ctl", "--server", serve.address, "--pool", pool, "--log", log]);
      expect(run.stdout).toBe("1 acknowledged, 0 expired, 1 error reply\n");
      expect(run.code).toBe(1);
      expect(readFileSync(log, "utf8")).toContain(":2: play ../../etc/passwd --to rtp://127.0.0.1:9: error reply: forbidden");
    } finally {
      await serve.stop();
      serve.cleanup();
    }
  });

  test("a malformed pool line is a usage error before anything is sent", async () => {
    const dir = makeSharedDir("pacer-pool-");
    try {
      const pool = join(dir, "pool.txt");
      writeFileSync(pool, "ping\nplay news.ts\nfrobnicate\n");
      const run = await runPacer(["ctl", "--ttl", "0.2", "--pool", pool, "--log", join(dir, "log")]);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain("pool.txt:2: play: give at least one --to URL");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a --log that cannot be written is one line naming it, exit 1, before any command is sent", async () => {
    const serve = await startServe();
    try {
      const pool = join(serve.dir, "pool.txt");
      writeFileSync(pool, "play clip.ts --to rtp://127.0.0.1:9\n");
      const file = join(serve.dir, "a-file");
      writeFileSync(file, "");
      const requests = async () => {
        const reply = JSON.parse((await runPacer(["ctl", "--server", serve.address, "--json", "status"])).stdout) as { result: { server: { requests: number } } };
        return reply.result.server.requests;
      };
      const before = await requests();
      for (const [log, why] of [
        ["/nonexistent/dir/x.log", "no such file or directory"],
        [serve.dir, "is a directory"],
        [join(file, "x.log"), "a component of the path is not a directory"],
      ]) {
        const started = Date.now();
        // Told at once, not after --ttl: the log is opened before anything is sent.
        const run = await runPacer(["ctl", "--server", serve.address, "--ttl", "5", "--pool", pool, "--log", log!]);
        expect(run.stderr).toBe(`pacer: error: --log ${log}: cannot open it: ${why}\n`);
        expect(run.code).toBe(1);
        expect(run.stdout).toBe("");
        expect(Date.now() - started).toBeLessThan(4_000);
      }
      // Nothing was sent: the only request the server saw since is the status that counts them.
      expect(await requests()).toBe(before + 1);
      expect((await runPacer(["ctl", "--server", serve.address, "status"])).stdout).not.toContain("clip.ts");
    } finally {
      await serve.stop();
      serve.cleanup();
    }
  });
});

describe("ctl exit codes", () => {
  test("2 for usage errors, 1 with a clear message when no server answers", async () => {
    expect((await runPacer(["ctl", "frobnicate"])).code).toBe(2);
    expect((await runPacer(["ctl", "stop"])).code).toBe(2);
    expect((await runPacer(["ctl", "--server", "nonsense", "ping"])).code).toBe(2);
    const port = await freeUdpPort();
    const run = await runPacer(["ctl", "--server", `127.0.0.1:${port}`, "--ttl", "0.3", "ping"]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`no reply from 127.0.0.1:${port} within 0.3 s`);
  });
});
