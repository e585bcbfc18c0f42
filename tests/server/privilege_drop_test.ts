/**
 * Security review: started as root, `pacer serve` opens what needs root (its ports, the key file),
 * then drops to nobody, and afterwards holds nothing that only root should: every uid and gid is
 * the unprivileged one, no supplementary group is root's, no capability is left, the key file is
 * not held open, and its only bound sockets are the ones it serves (control, HTTP, the live port).
 * Runs only as root (as CI does); elsewhere there is nothing to drop.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runPacer } from "../helpers/pacer.ts";
import { freeTcpPort, launch, prepareServe, type ServeFixture, startServe } from "./serve_fixture.ts";

const asRoot = process.getuid?.() === 0;
let serve: ServeFixture;
const httpPort = freeTcpPort();
const livePort = freeTcpPort();

beforeAll(async () => {
  if (!asRoot) return;
  serve = await startServe({ keyed: true, config: `http = "127.0.0.1:${httpPort}"\n[[live]]\nname = "cam"\nlisten = "tcp://127.0.0.1:${livePort}"` });
});
afterAll(async () => {
  if (!serve) return;
  await serve.stop();
  serve.cleanup();
});

describe.skipIf(!asRoot)("after the privilege drop", () => {
  test("no root id, group or capability is left", () => {
    const status = readFileSync(`/proc/${serve.child.pid}/status`, "utf8");
    const field = (name: string) => new RegExp(`^${name}:\\s+(.*)$`, "m").exec(status)![1]!.trim().split(/\s+/);
    for (const id of [...field("Uid"), ...field("Gid")]) expect(Number(id)).toBeGreaterThan(0);
    expect(field("Groups").filter((g) => g !== "").map(Number)).not.toContain(0);
    expect(BigInt(`0x${field("CapEff")[0]}`)).toBe(0n);
    expect(BigInt(`0x${field("CapPrm")[0]}`)).toBe(0n);
    expect(serve.stderr()).toContain("dropped root privileges user=nobody");
  });

  test("no file is held open (the key file was read and closed), and the only bound sockets are the three it serves", () => {
    const fdDir = `/proc/${serve.child.pid}/fd`;
    const targets = readdirSync(fdDir).flatMap((fd) => {
      try {
        return [{ fd: Number(fd), target: readlinkSync(join(fdDir, fd)) }];
      } catch {
        return []; // closed meanwhile
      }
    });
    // 0-2 are the stdio the test gave it (pipes).
    const own = targets.filter((t) => t.fd > 2);
    const files = own.filter((t) => t.target.startsWith("/") && t.target !== "/dev/null");
    expect(files).toEqual([]);
    expect(own.filter((t) => t.target.includes("key")).length).toBe(0);
    // Bound sockets (in the kernel's inet tables, by inode): control (UDP), HTTP and live (TCP).
    const inodes = new Set(own.filter((t) => t.target.startsWith("socket:")).map((t) => t.target.slice(8, -1)));
    const bound = ["udp", "tcp", "udp6", "tcp6"].flatMap((table) =>
      readFileSync(`/proc/${serve.child.pid}/net/${table}`, "utf8")
        .split("\n")
        .slice(1)
        .map((line) => line.trim().split(/\s+/))
        .filter((cols) => inodes.has(cols[9] ?? ""))
        .map((cols) => `${table} ${parseInt(cols[1]!.split(":")[1]!, 16)}`),
    );
    expect(bound.sort()).toEqual([`tcp ${httpPort}`, `tcp ${livePort}`, `udp ${serve.port}`].sort());
  });
});

describe.skipIf(!asRoot)("numeric ids", () => {
  test("user and group given as numbers (as chown takes them) are switched to", async () => {
    // Node took "65534" for a name: "User identifier does not exist: 65534", and serve did not start.
    const numeric = await startServe({ config: 'user = "65534"\ngroup = "65534"' });
    try {
      const status = readFileSync(`/proc/${numeric.child.pid}/status`, "utf8");
      expect(/^Uid:\s+(.*)$/m.exec(status)![1]!.trim().split(/\s+/)).toEqual(["65534", "65534", "65534", "65534"]);
      expect(/^Gid:\s+(.*)$/m.exec(status)![1]!.trim().split(/\s+/)).toEqual(["65534", "65534", "65534", "65534"]);
      expect(numeric.stderr()).toContain("dropped root privileges user=65534 group=65534");
    } finally {
      await numeric.stop();
      numeric.cleanup();
    }
  });
});

describe.skipIf(!asRoot)("files read again on reload", () => {
  test("a config or key file only root may read is said at start, not at the first reload", async () => {
    // Read as root at start, then as nobody at each reload: the usual key file of mode 600 made every reload fail.
    const prepared = await prepareServe({ keyed: true });
    const keyPath = join(prepared.dir, "key");
    chmodSync(keyPath, 0o600);
    chmodSync(prepared.configPath, 0o600);
    const fixture = launch(prepared.dir, prepared.mediaRoot, prepared.configPath, prepared.port);
    try {
      await fixture.ready;
      expect(fixture.stderr()).toContain(
        `warn: config ${prepared.configPath} is not readable by this user (EACCES); a reload will fail and keep the old config until it is`,
      );
      expect(fixture.stderr()).toContain(`warn: key file ${keyPath} is not readable by this user (EACCES); a reload will fail`);
    } finally {
      await fixture.stop();
      fixture.cleanup();
    }
  });

  test("nothing is said where both stay readable", () => {
    expect(serve.stderr()).not.toContain("is not readable by this user");
  });
});

describe.skipIf(!asRoot || Bun.which("unshare") === null)("a user in root's group", () => {
  test("is refused: its supplementary groups would keep gid 0", async () => {
    // /etc/group with nobody listed in root's group, seen only by the server (a private mount
    // namespace): initgroups gave it gid 0 among its groups, and it served, saying only
    // "dropped root privileges user=nobody".
    const prepared = await prepareServe();
    const group = join(prepared.dir, "group");
    const lines = readFileSync("/etc/group", "utf8").split("\n");
    writeFileSync(group, lines.map((line) => (line.startsWith("root:") ? "root:x:0:nobody" : line)).join("\n"), { mode: 0o644 });
    try {
      const run = await runPacer(["serve", "--config", prepared.configPath], {
        launcher: ["unshare", "-m", "sh", "-c", 'mount --bind "$0" /etc/group && exec "$@"', group],
        timeoutMs: 10_000, // a server that started runs until killed; this one exits at once
      });
      expect(run.stderr).not.toContain("pacer: serving");
      expect(run.stderr).toContain(
        'pacer: error: user "nobody" is a member of root\'s group (gid 0) in the group database (/etc/group, or what NSS reads); pacer serve never streams in root\'s group: take it out of that group, or set user to another account',
      );
      expect(run.code).toBe(1);
    } finally {
      rmSync(prepared.dir, { recursive: true, force: true });
    }
  });
});
