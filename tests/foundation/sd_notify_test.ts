/**
 * sd_notify against a stand-in for systemd: a real unix datagram socket bound by a separate
 * python3 process, which prints each notification with its arrival time, as systemd would see
 * them. Both socket kinds systemd uses are covered: a path and an abstract name.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { notifySocketAddress, sdNotify, systemdNotifier, watchdogIntervalMs } from "../../foundation/sd_notify.ts";

const RECEIVER = `
import json, socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
name = sys.argv[1]
s.bind("\\0" + name[1:] if name.startswith("@") else name)
print("bound", flush=True)
while True:
    data = s.recv(4096)
    print(json.dumps({"at_ms": time.monotonic() * 1000, "state": data.decode()}), flush=True)
`;

interface Notification {
  atMs: number;
  state: string;
}

/** The system's python3 when there is one: a version manager's shim costs most of a second to start. */
const PYTHON = ["/usr/bin/python3", "python3"].find((p) => Bun.which(p)) ?? "python3";

/** A fake NOTIFY_SOCKET: what arrives there, in order. */
async function fakeSystemd(socketName: string) {
  const child = Bun.spawn([PYTHON, "-c", RECEIVER, socketName], { stdout: "pipe", stderr: "inherit" });
  const received: Notification[] = [];
  const reader = child.stdout.getReader();
  let buffered = "";
  let onBound!: () => void;
  const bound = new Promise<void>((resolve) => (onBound = resolve));
  void (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffered += new TextDecoder().decode(value);
      let newline: number;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        if (line === "bound") onBound();
        else {
          const { at_ms, state } = JSON.parse(line) as { at_ms: number; state: string };
          received.push({ atMs: at_ms, state });
        }
      }
    }
  })();
  await bound;
  return { received, stop: () => child.kill() };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).forEach((f) => f()));

function socketDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "pacer-notify-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe("sd_notify", () => {
  test("a service under Type=notify says READY=1, reloads, pings the watchdog every WATCHDOG_USEC/2 and says STOPPING=1", async () => {
    const path = join(socketDir(), "notify");
    const systemd = await fakeSystemd(path);
    cleanups.push(systemd.stop);
    const notifier = systemdNotifier({ NOTIFY_SOCKET: path, WATCHDOG_USEC: "200000", WATCHDOG_PID: String(process.pid) });
    cleanups.push(notifier.close);
    expect(notifier.watchdogMs).toBe(100);

    notifier.ready("control on 127.0.0.1:7070");
    await sleep(560);
    notifier.reloading();
    notifier.ready();
    notifier.stopping();
    notifier.close();
    await sleep(250); // after close, no more pings
    const states = systemd.received.map((n) => n.state);

    expect(states[0]).toBe("READY=1\nSTATUS=control on 127.0.0.1:7070");
    const pings = systemd.received.filter((n) => n.state === "WATCHDOG=1");
    expect(pings.length).toBeGreaterThanOrEqual(4);
    expect(pings.length).toBeLessThanOrEqual(6);
    const gaps = pings.slice(1).map((p, i) => p.atMs - pings[i]!.atMs);
    // About WATCHDOG_USEC/2 apart (the count above pins the rate); wide, as both ends are timers
    // in processes that a loaded host delays.
    for (const gap of gaps) expect(gap).toBeGreaterThan(30);
    for (const gap of gaps) expect(gap).toBeLessThan(300);
    const tail = states.filter((s) => s !== "WATCHDOG=1").slice(1);
    expect(tail[0]).toMatch(/^RELOADING=1\nMONOTONIC_USEC=\d+$/);
    expect(tail.slice(1)).toEqual(["READY=1", "STOPPING=1"]);
    expect(states.at(-1)).toBe("STOPPING=1");
  });

  test("an abstract socket name (@…) reaches its listener", async () => {
    const name = `@pacer-test-${process.pid}-${Date.now()}`;
    const systemd = await fakeSystemd(name);
    cleanups.push(systemd.stop);
    expect(sdNotify("READY=1", { NOTIFY_SOCKET: name })).toBe(true);
    await sleep(100);
    expect(systemd.received.map((n) => n.state)).toEqual(["READY=1"]);
  });

  test("a watchdog meant for another process, or none, sends no pings", async () => {
    const path = join(socketDir(), "notify");
    const systemd = await fakeSystemd(path);
    cleanups.push(systemd.stop);
    const other = systemdNotifier({ NOTIFY_SOCKET: path, WATCHDOG_USEC: "100000", WATCHDOG_PID: String(process.pid + 1) });
    const none = systemdNotifier({ NOTIFY_SOCKET: path });
    cleanups.push(other.close, none.close);
    expect(other.watchdogMs).toBeNull();
    expect(none.watchdogMs).toBeNull();
    await sleep(200);
    expect(systemd.received).toEqual([]);
  });

  test("outside systemd, or with nobody listening, notifying is a quiet no-op", () => {
    expect(sdNotify("READY=1", {})).toBe(false);
    expect(sdNotify("READY=1", { NOTIFY_SOCKET: join(socketDir(), "nobody-here") })).toBe(false);
    expect(sdNotify("READY=1", { NOTIFY_SOCKET: "vsock:2:1234" })).toBe(false);
    const notifier = systemdNotifier({ WATCHDOG_USEC: "1000" });
    expect(notifier.watchdogMs).toBeNull();
    notifier.ready();
    notifier.close();
  });

  test("addresses: a path keeps its NUL, an abstract name has none, an overlong one is refused", () => {
    expect([...notifySocketAddress("/run/x")!]).toEqual([1, 0, ...Buffer.from("/run/x"), 0]);
    expect([...notifySocketAddress("@x")!]).toEqual([1, 0, 0, ...Buffer.from("x")]);
    expect(notifySocketAddress("/" + "a".repeat(107))).toBeNull();
    expect(notifySocketAddress("relative")).toBeNull();
    expect(watchdogIntervalMs({ WATCHDOG_USEC: "30000000" }, 1)).toBe(15_000);
    expect(watchdogIntervalMs({ WATCHDOG_USEC: "nonsense" }, 1)).toBeNull();
  });
});
