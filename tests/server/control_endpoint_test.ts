/**
 * The control endpoint's pipeline without sockets: dedup (including retries that arrive while the
 * first copy executes), anti-reflection on replays, rate limiting, and root dropping decisions.
 */
import { describe, expect, test } from "bun:test";
import { silentLogger } from "../../foundation/log.ts";
import { type ControlReply, type ControlRequest, decodeReply, encodeRequest, okReply } from "../../protocol/control.ts";
import { ControlEndpoint } from "../../server/control_server.ts";
import { dropPrivileges, type ProcessIds } from "../../server/privileges.ts";
import { fitPage } from "../../server/paging.ts";

const NOW = 1_750_000_000_000;
const limits = { requestsPerSecond: 50, requestBurst: 100 };

function request(id: string, padTo = 1400): Uint8Array {
  return encodeRequest({ v: 1, id, ts: NOW, op: "play", args: {} }, undefined, { padTo });
}

function endpointWith(handle: (req: ControlRequest) => Promise<ControlReply>, rate = limits) {
  const sent: Uint8Array[] = [];
  const endpoint = new ControlEndpoint({ ops: { run: (req) => handle(req) }, log: silentLogger, limits: rate, nowMs: () => NOW });
  const receive = (bytes: Uint8Array, port = 4000, address = "127.0.0.1") =>
    endpoint.receive(bytes, address, port, (reply) => sent.push(reply));
  return { endpoint, sent, receive };
}

describe("ControlEndpoint", () => {
  test("a retry arriving while the first copy executes is not executed, and both get the same bytes", async () => {
    let executions = 0;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const { sent, receive } = endpointWith(async (req) => {
      executions++;
      await gate;
      return okReply(req.id, { job: `job-${executions}` });
    });
    const first = receive(request("a"));
    const retry = receive(request("a"));
    await retry;
    expect(sent).toHaveLength(0);
    release();
    await first;
    expect(executions).toBe(1);
    expect(sent).toHaveLength(2);
    expect(Buffer.from(sent[0]!).equals(Buffer.from(sent[1]!))).toBe(true);
    await receive(request("a"));
    expect(executions).toBe(1);
    expect(sent).toHaveLength(3);
    // Another source port is another client: executed afresh.
    await receive(request("a"), 4001);
    expect(executions).toBe(2);
  });

  test("a short copy of a padded request does not replay the larger reply (anti-reflection)", async () => {
    const { endpoint, sent, receive } = endpointWith(async (req) => okReply(req.id, { big: "x".repeat(600) }));
    await receive(request("b", 1400));
    expect(sent).toHaveLength(1);
    await receive(request("b", 0));
    expect(sent).toHaveLength(1);
    expect(endpoint.counters.unsent).toBe(1);
  });

  test("an unpadded request gets a reply no larger than itself", async () => {
    const { sent, receive } = endpointWith(async (req) => okReply(req.id, { big: "x".repeat(600) }));
    const small = request("c", 0);
    await receive(small);
    expect(sent[0]!.length).toBeLessThanOrEqual(small.length);
    const reply = decodeReply(sent[0]!);
    expect(reply.ok && !reply.reply.ok && reply.reply.error.code).toBe("too_large");
  });

  test("requests over the per-source rate are dropped and counted; other sources are unaffected", async () => {
    const { endpoint, sent, receive } = endpointWith(async (req) => okReply(req.id, {}), { requestsPerSecond: 1, requestBurst: 3 });
    for (let i = 0; i < 10; i++) await receive(request(`r${i}`));
    expect(sent).toHaveLength(3);
    expect(endpoint.counters.rate_limited).toBe(7);
    await receive(request("other"), 4000, "127.0.0.2");
    expect(sent).toHaveLength(4);
  });

  test("on a keyed server, junk sent in a client's name does not spend its share: its signed requests are still answered", async () => {
    const key = new Uint8Array(32).fill(3);
    const sent: Uint8Array[] = [];
    const endpoint = new ControlEndpoint({ ops: { run: (req) => okReply(req.id, {}) }, log: silentLogger, key, limits: { requestsPerSecond: 1, requestBurst: 3 }, nowMs: () => NOW });
    const signed = (id: string) => encodeRequest({ v: 1, id, ts: NOW, op: "ping", args: {} }, key);
    // Forged as 127.0.0.1: a wrong MAC, and no MAC at all. Before, they emptied 127.0.0.1's bucket.
    for (let i = 0; i < 50; i++) endpoint.receive(encodeRequest({ v: 1, id: `j${i}`, ts: NOW, op: "ping", args: {} }, new Uint8Array(32).fill(9)), "127.0.0.1", 4000, (r) => sent.push(r));
    for (let i = 0; i < 50; i++) endpoint.receive(request(`n${i}`), "127.0.0.1", 4000, (r) => sent.push(r));
    expect(endpoint.counters.dropped.bad_mac + endpoint.counters.dropped.missing_mac).toBe(100);
    for (let i = 0; i < 5; i++) await endpoint.receive(signed(`s${i}`), "127.0.0.1", 5000, (r) => sent.push(r));
    // The client's own requests still meet its share: a burst of 3.
    expect(sent).toHaveLength(3);
    expect(endpoint.counters.rate_limited).toBe(2);
  });

  test("an IPv6 /64 is one source: hopping between its addresses does not escape the rate limit", async () => {
    const { endpoint, sent, receive } = endpointWith(async (req) => okReply(req.id, {}), { requestsPerSecond: 1, requestBurst: 3 });
    for (let i = 0; i < 10; i++) await receive(request(`h${i}`), 4000, `2001:db8:1:2::${(i + 1).toString(16)}`);
    expect(sent).toHaveLength(3);
    expect(endpoint.counters.rate_limited).toBe(7);
    // The next /64 is somebody else.
    await receive(request("next"), 4000, "2001:db8:1:3::1");
    expect(sent).toHaveLength(4);
  });

  test("a handler that throws becomes an internal error reply", async () => {
    const { sent, receive } = endpointWith(async () => {
      throw new Error("boom");
    });
    await receive(request("d"));
    const reply = decodeReply(sent[0]!);
    expect(reply.ok && !reply.reply.ok && reply.reply.error.code).toBe("internal");
  });
});

describe("fitPage", () => {
  const build = (items: readonly unknown[], next: number | null) => ({ items, next });
  const size = (r: unknown) => JSON.stringify(r).length;
  test("fills a page up to the budget and points next at the first item left out", () => {
    const all = Array.from({ length: 100 }, (_, i) => `item-${String(i).padStart(3, "0")}`);
    const page = fitPage(all, { offset: 10, limit: 50 }, 200, build, size);
    expect(size(page)).toBeLessThanOrEqual(200);
    expect(page.items[0]).toBe("item-010");
    expect(page.next).toBe(10 + page.items.length);
    const last = fitPage(all, { offset: 95, limit: 50 }, 2000, build, size);
    expect(last.items).toHaveLength(5);
    expect(last.next).toBeNull();
  });
  test("an item too big for any page is compacted, or skipped, so paging always moves on", () => {
    const all = ["x".repeat(500), "small"];
    const compacted = fitPage(all, { offset: 0, limit: 10 }, 100, build, size, () => "(big)");
    expect(compacted).toEqual({ items: ["(big)"], next: 1 });
    const skipped = fitPage(all, { offset: 0, limit: 10 }, 100, build, size, (s) => s);
    expect(skipped).toEqual({ items: [], next: 1 });
  });
  test("an item that a larger request would get is kept over the budget, so the reply can say how far to pad", () => {
    const all = ["x".repeat(500), "small"];
    const kept = fitPage(all, { offset: 0, limit: 10 }, 100, build, size, (s) => s, 1400);
    expect(kept).toEqual({ items: ["x".repeat(500)], next: 1 });
    const skipped = fitPage(["x".repeat(2000)], { offset: 0, limit: 10 }, 100, build, size, (s) => s, 1400);
    expect(skipped).toEqual({ items: [], next: null });
  });
});

describe("dropPrivileges", () => {
  function fakeProcess(uid: number, knownGroups: string[]): ProcessIds & { log: string[] } {
    const ids = { uid, gid: uid };
    const log: string[] = [];
    return {
      log,
      getuid: () => ids.uid,
      geteuid: () => ids.uid,
      getgid: () => ids.gid,
      getegid: () => ids.gid,
      initgroups: (user, group) => void log.push(`initgroups ${user} ${group}`),
      setgid: (group) => {
        if (!knownGroups.includes(String(group))) throw new Error(`Group identifier does not exist: ${group}`);
        log.push(`setgid ${group}`);
        ids.gid = 65534;
      },
      setuid: (user) => {
        if (ids.uid !== 0) throw new Error("EPERM");
        log.push(`setuid ${user}`);
        ids.uid = user === "nobody" ? 65534 : 0;
      },
    };
  }
  test("not root: nothing to drop", () => {
    expect(dropPrivileges("nobody", undefined, fakeProcess(1000, []))).toBeNull();
  });
  test("root: group first (nogroup where there is no nobody group), then the user, for good", () => {
    const proc = fakeProcess(0, ["nogroup"]);
    expect(dropPrivileges("nobody", undefined, proc)).toEqual({ user: "nobody", group: "nogroup", uid: 65534, gid: 65534 });
    expect(proc.log).toEqual(["setgid nogroup", "initgroups nobody nogroup", "setuid nobody"]);
  });
  test("refuses to start when the switch fails or would keep root", () => {
    expect(() => dropPrivileges("nobody", "staff", fakeProcess(0, ["nogroup"]))).toThrow(/cannot switch to group staff/);
    expect(() => dropPrivileges("root", undefined, fakeProcess(0, ["nogroup"]))).toThrow(/never streams as root/);
    expect(() => dropPrivileges("daemon", undefined, fakeProcess(0, ["nogroup"]))).toThrow(/left root privileges/);
  });
  test("root's group, by name or number, is refused by name before any switch (it was \"left root privileges\" and \"Group identifier does not exist: 0\")", () => {
    for (const group of ["root", "0"]) {
      const proc = fakeProcess(0, ["root", "0", "nogroup"]);
      expect(() => dropPrivileges("nobody", group, proc)).toThrow(`config group "${group}": pacer serve never streams in root's group; set group to an unprivileged one`);
      expect(proc.log).toEqual([]);
    }
  });
});
