/**
 * `pacer serve` under systemd, with systemd's side played by real sockets and files: a python3
 * process bound to NOTIFY_SOCKET records the notifications, and stderr is a file that
 * JOURNAL_STREAM names, as journald's stream would be. The service says READY=1 once it serves,
 * RELOADING=1 then READY=1 around SIGHUP, pings the watchdog, says STOPPING=1 on SIGTERM, and
 * every log line carries its journald priority.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, closeSync, fstatSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { havePeer, MAIN } from "../helpers/pacer.ts";
import { freeUdpPort } from "../helpers/ports.ts";

// systemd's side is played by python3: without it (and only outside CI) the story skips. It
// skipped too where cli/serve.ts did not name systemdNotifier, so a serve unwired from
// systemd passed it; the story itself now says whether serve notifies.
const PYTHON = havePeer("python3") ? "python3" : null;
const RECEIVER = `
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o777)
print("bound", flush=True)
while True:
    print(s.recv(4096).decode().replace("\\n", " "), flush=True)
`;

const dir = mkdtempSync(join(tmpdir(), "pacer-systemd-"));
// Started as root, serve drops to "nobody", which must still reach the socket, as systemd's
// /run/systemd/notify allows.
chmodSync(dir, 0o755);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function until(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(20);
  }
}

describe.skipIf(PYTHON === null)("pacer serve under systemd", () => {
  test("notifies readiness, reloads, watchdog pings and stopping; logs with journald priorities", async () => {
    const socketPath = join(dir, "notify");
    const systemd = Bun.spawn([PYTHON!, "-c", RECEIVER, socketPath], { stdout: "pipe" });
    const notifications: string[] = [];
    void (async () => {
      let buffered = "";
      for await (const chunk of systemd.stdout) {
        buffered += new TextDecoder().decode(chunk);
        const lines = buffered.split("\n");
        buffered = lines.pop()!;
        notifications.push(...lines);
      }
    })();
    try {
      await until(() => notifications[0] === "bound", "the notify socket");
      notifications.shift();

      mkdirSync(join(dir, "media"));
      const port = await freeUdpPort();
      const config = join(dir, "pacer.toml");
      writeFileSync(config, `control = "127.0.0.1:${port}"\nmedia_root = "${join(dir, "media")}"\n`);
      // stderr is the stream JOURNAL_STREAM names, as under systemd.
      const journalPath = join(dir, "journal");
      const journal = openSync(journalPath, "w");
      const stat = fstatSync(journal, { bigint: true });
      const serve = Bun.spawn([process.execPath, MAIN, "serve", "--config", config], {
        cwd: dir,
        stdout: "ignore",
        stderr: journal,
        env: {
          ...process.env,
          NOTIFY_SOCKET: socketPath,
          WATCHDOG_USEC: "400000",
          JOURNAL_STREAM: `${stat.dev}:${stat.ino}`,
        },
      });
      closeSync(journal);

      await until(() => notifications.some((n) => n.startsWith("READY=1")), "READY=1");
      expect(notifications[0]).toStartWith("READY=1 STATUS=");
      serve.kill("SIGHUP");
      await until(() => notifications.filter((n) => n.startsWith("READY=1")).length === 2, "READY=1 after the reload");
      await Bun.sleep(450);
      serve.kill("SIGTERM");
      expect(await serve.exited).toBe(0);
      // The last datagram may still be on its way to this process's socket when the server has exited.
      await until(() => notifications.includes("STOPPING=1"), "STOPPING=1");

      const states = notifications.filter((n) => n !== "WATCHDOG=1");
      expect(states[1]).toMatch(/^RELOADING=1 MONOTONIC_USEC=\d+$/);
      expect(states.slice(2)).toEqual(["READY=1", "STOPPING=1"]);
      expect(notifications.filter((n) => n === "WATCHDOG=1").length).toBeGreaterThanOrEqual(2);

      const lines = readFileSync(journalPath, "utf8").trimEnd().split("\n");
      expect(lines.length).toBeGreaterThan(2);
      for (const line of lines) expect(line).toMatch(/^<[3467]>/);
      expect(lines).toContain("<6>stopped");
    } finally {
      systemd.kill();
    }
  }, 30_000);
});
