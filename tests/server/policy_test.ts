import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdir, mkdtemp, realpath, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CidrError, cidrContains, parseCidr, parseIp } from "../../foundation/net/address.ts";
import { networkInterfaces } from "node:os";
import { destinationAllowed, ownPortAt, resolveMediaPath, sourceKey } from "../../server/policy.ts";
import { parseConfig } from "../../server/config.ts";
import { checkDestination } from "../../server/play_op.ts";

describe("resolveMediaPath", () => {
  let base: string;
  let root: string;

  beforeAll(async () => {
    base = await realpath(await mkdtemp(join(tmpdir(), "pacer-policy-")));
    root = join(base, "media");
    await mkdir(join(root, "news"), { recursive: true });
    await writeFile(join(root, "news", "evening.ts"), "ts");
    await writeFile(join(root, "jingle.wav"), "wav");
    await writeFile(join(base, "secret.txt"), "outside");
    await symlink(join(base, "secret.txt"), join(root, "escape.ts"));
    await symlink("/etc", join(root, "etc-link"));
    await symlink(join(root, "news", "evening.ts"), join(root, "latest.ts"));
    await symlink("news", join(root, "shows"));
  });

  afterAll(async () => {
    await rm(base, { recursive: true, force: true });
  });

  test("resolves a file in the media root and in a subdirectory", async () => {
    expect(await resolveMediaPath(root, "jingle.wav")).toEqual({ ok: true, path: join(root, "jingle.wav") });
    expect(await resolveMediaPath(root, "news/evening.ts")).toEqual({ ok: true, path: join(root, "news", "evening.ts") });
  });

  test("allows symlinks that stay inside the root, returning the real path", async () => {
    expect(await resolveMediaPath(root, "latest.ts")).toEqual({ ok: true, path: join(root, "news", "evening.ts") });
    expect(await resolveMediaPath(root, "shows/evening.ts")).toEqual({ ok: true, path: join(root, "news", "evening.ts") });
  });

  test("a FIFO or a directory in the media root is refused: a play would wait on it for ever", async () => {
    execFileSync("mkfifo", [join(root, "pipe.ts")]);
    expect(await resolveMediaPath(root, "pipe.ts")).toMatchObject({ ok: false, code: "forbidden", message: expect.stringContaining("not a regular file") });
    expect(await resolveMediaPath(root, "news")).toMatchObject({ ok: false, code: "forbidden" });
    // The root itself: said so (it read "resolves outside the media root").
    for (const name of [".", "news/..", "./"]) {
      const got = await resolveMediaPath(root, name);
      if (name.includes("..")) expect(got).toMatchObject({ ok: false, message: expect.stringContaining("contains ..") });
      else expect(got).toMatchObject({ ok: false, code: "forbidden", message: `media name ${JSON.stringify(name)} is the media root itself, not a file in it; name a file inside the media root` });
    }
  });

  test("realpaths the root itself, so a root given through a symlink works", async () => {
    await symlink(root, join(base, "media-link"));
    expect(await resolveMediaPath(join(base, "media-link"), "jingle.wav")).toEqual({ ok: true, path: join(root, "jingle.wav") });
  });

  test.each([
    ["../../etc/passwd"],
    ["news/../../secret.txt"],
    ["/etc/passwd"],
    ["jingle.wav\0.ts"],
    [""],
    ["escape.ts"],
    ["etc-link/passwd"],
    ["."],
  ])("refuses %p with forbidden", async (name) => {
    const got = await resolveMediaPath(root, name);
    expect(got).toMatchObject({ ok: false, code: "forbidden" });
    expect(got.ok || got.message).toContain("media root");
  });

  test("a missing file is not_found", async () => {
    expect(await resolveMediaPath(root, "nope.ts")).toMatchObject({ ok: false, code: "not_found" });
    expect(await resolveMediaPath(root, "jingle.wav/x")).toMatchObject({ ok: false, code: "not_found" });
  });

  test("a missing media root is not_found with a hint at the config", async () => {
    const got = await resolveMediaPath(join(base, "no-such-root"), "a.ts");
    expect(got).toMatchObject({ ok: false, code: "not_found" });
    expect(got.ok || got.message).toContain("media_root");
  });
});

describe("CIDR", () => {
  test("IPv4 networks", () => {
    const net = parseCidr("10.0.0.0/8");
    expect(cidrContains(net, parseIp("10.255.1.2")!)).toBe(true);
    expect(cidrContains(net, parseIp("11.0.0.1")!)).toBe(false);
    expect(cidrContains(parseCidr("192.168.1.0/25"), parseIp("192.168.1.127")!)).toBe(true);
    expect(cidrContains(parseCidr("192.168.1.0/25"), parseIp("192.168.1.128")!)).toBe(false);
    expect(cidrContains(parseCidr("0.0.0.0/0"), parseIp("8.8.8.8")!)).toBe(true);
    expect(cidrContains(parseCidr("10.1.2.3"), parseIp("10.1.2.3")!)).toBe(true);
    expect(cidrContains(parseCidr("10.1.2.3"), parseIp("10.1.2.4")!)).toBe(false);
    expect(cidrContains(parseCidr("10.1.2.3/8"), parseIp("10.9.9.9")!)).toBe(true); // host bits ignored
  });

  test("IPv6 networks", () => {
    const net = parseCidr("2001:db8::/32");
    expect(cidrContains(net, parseIp("2001:db8:ffff::1")!)).toBe(true);
    expect(cidrContains(net, parseIp("2001:db9::1")!)).toBe(false);
    expect(cidrContains(parseCidr("fe80::/10"), parseIp("febf::1")!)).toBe(true);
    expect(cidrContains(parseCidr("fe80::/10"), parseIp("fec0::1")!)).toBe(false);
    expect(cidrContains(parseCidr("::1/128"), parseIp("[::1]")!)).toBe(true);
    expect(cidrContains(parseCidr("2001:db8::/32"), parseIp("2001:0db8:0:0:0:0:0:7")!)).toBe(true);
  });

  test("IPv4 and IPv6 do not mix, except the IPv4-mapped form", () => {
    expect(cidrContains(parseCidr("::/0"), parseIp("10.0.0.1")!)).toBe(false);
    expect(cidrContains(parseCidr("0.0.0.0/0"), parseIp("2001:db8::1")!)).toBe(false);
    expect(cidrContains(parseCidr("10.0.0.0/8"), parseIp("::ffff:10.1.1.1")!)).toBe(true);
    expect(cidrContains(parseCidr("::ffff:10.0.0.0/104"), parseIp("10.1.1.1")!)).toBe(true);
    expect(cidrContains(parseCidr("::ffff:10.0.0.0/104"), parseIp("11.1.1.1")!)).toBe(false);
  });

  test.each([["10.0.0.0/33"], ["10.0.0/8"], ["010.0.0.0/8"], ["example.com/8"], ["::1/129"], ["1:2:3:4:5:6:7:8:9/64"], ["10.0.0.0/"], ["10.0.0.0/-1"], ["::ffff:10.0.0.0/64"]])(
    "rejects %p with a message saying what to write",
    (text) => {
      expect(() => parseCidr(text)).toThrow(CidrError);
    },
  );

  test("parseIp accepts literals only", () => {
    expect(parseIp("localhost")).toBeNull();
    expect(parseIp("256.0.0.1")).toBeNull();
    expect(parseIp("1::2::3")).toBeNull();
    expect(parseIp("fe80::1%eth0")?.v4).toBe(false);
    expect(parseIp("::ffff:127.0.0.1")?.v4).toBe(true);
  });
});

describe("ownPortAt", () => {
  const own = [{ port: 7070, what: "control" }, { port: 9090, what: "HTTP" }];
  test("the server's own ports on any address of this host are found, by whatever name the address takes", () => {
    expect(ownPortAt("127.0.0.1", 7070, own)?.what).toBe("control");
    expect(ownPortAt("127.0.0.53", 9090, own)?.what).toBe("HTTP");
    expect(ownPortAt("::1", 7070, own)?.what).toBe("control");
    expect(ownPortAt("::ffff:127.0.0.1", 7070, own)?.what).toBe("control");
    expect(ownPortAt("0.0.0.0", 7070, own)?.what).toBe("control");
    expect(ownPortAt("::", 7070, own)?.what).toBe("control");
    const external = Object.values(networkInterfaces()).flat().find((a) => a && !a.internal);
    if (external) expect(ownPortAt(external.address.split("%")[0]!, 7070, own)?.what).toBe("control");
  });

  test("a port that receives a multicast group is the server's at that group, and only there", () => {
    const receiving = [...own, { port: 5000, what: `live "news" input`, group: "239.1.1.1" }, { port: 5000, what: `recording "feed" source` }];
    expect(ownPortAt("239.1.1.1", 5000, receiving)?.what).toBe(`live "news" input`);
    expect(ownPortAt("127.0.0.1", 5000, receiving)?.what).toBe(`recording "feed" source`);
    expect(ownPortAt("239.1.1.2", 5000, receiving)).toBeUndefined();
    expect(ownPortAt("239.1.1.1", 5001, receiving)).toBeUndefined();
  });

  test("other ports, and the same port on another host, are not the server's", () => {
    expect(ownPortAt("127.0.0.1", 7071, own)).toBeUndefined();
    expect(ownPortAt("192.0.2.1", 7070, own)).toBeUndefined();
    expect(ownPortAt("2001:db8::1", 7070, own)).toBeUndefined();
  });
});

describe("destinationAllowed", () => {
  test("the requester's own address on any port is allowed, nothing else by default", () => {
    expect(destinationAllowed("10.0.0.5", "10.0.0.5", [])).toBe(true);
    expect(destinationAllowed("10.0.0.6", "10.0.0.5", [])).toBe(false);
    expect(destinationAllowed("2001:db8::5", "2001:db8::5", [])).toBe(true);
    expect(destinationAllowed("[2001:db8::5]", "2001:DB8:0::5", [])).toBe(true);
  });

  test("an IPv4-mapped requester address equals the plain IPv4 destination", () => {
    expect(destinationAllowed("127.0.0.1", "::ffff:127.0.0.1", [])).toBe(true);
    expect(destinationAllowed("::ffff:10.0.0.5", "10.0.0.5", [])).toBe(true);
  });

  test("allow_destinations networks open more destinations", () => {
    const allow = ["239.0.0.0/8", "2001:db8:100::/48"];
    expect(destinationAllowed("239.1.2.3", "10.0.0.5", allow)).toBe(true);
    expect(destinationAllowed("2001:db8:100::9", "10.0.0.5", allow)).toBe(true);
    expect(destinationAllowed("2001:db8:101::9", "10.0.0.5", allow)).toBe(false);
    expect(destinationAllowed("10.0.0.9", "10.0.0.5", [parseCidr("10.0.0.0/24")])).toBe(true);
  });

  test("hostnames are refused: the caller resolves them first", () => {
    expect(destinationAllowed("localhost", "127.0.0.1", ["0.0.0.0/0"])).toBe(false);
  });

  test("a malformed network entry matches nothing", () => {
    expect(destinationAllowed("10.0.0.9", "10.0.0.5", ["10.0.0.0/99"])).toBe(false);
  });
});

describe("sourceKey", () => {
  test("IPv4 hosts are themselves, also when IPv4-mapped; global IPv6 counts by /64", () => {
    expect(sourceKey("10.0.0.1")).toBe("10.0.0.1");
    expect(sourceKey("::ffff:10.0.0.1")).toBe("10.0.0.1");
    expect(sourceKey("2001:db8:1:2:aaaa:bbbb:cccc:dddd")).toBe("2001:db8:1:2::/64");
    expect(sourceKey("[2001:DB8:1:2::1]")).toBe(sourceKey("2001:0db8:0001:0002:ffff::9"));
    expect(sourceKey("2001:db8:1:3::1")).not.toBe(sourceKey("2001:db8:1:2::1"));
    expect(sourceKey("not an address")).toBe("not an address");
  });

  test("addresses whose /64 holds unrelated hosts are each their own source", () => {
    const distinct = (a: string, b: string) => expect(sourceKey(a)).not.toBe(sourceKey(b));
    distinct("::1.2.3.4", "::5.6.7.8"); // IPv4-compatible
    distinct("64:ff9b::1.2.3.4", "64:ff9b::5.6.7.8"); // NAT64: every IPv4 client behind one prefix
    distinct("fe80::1%eth0", "fe80::2%eth0"); // link-local
    distinct("fe80::1%eth0", "fe80::1%eth1"); // the same link-local address on two links
    distinct("fd00::1", "fd00::2"); // unique local
    distinct("2001:0:4136:e378::1", "2001:0:4136:e378::2"); // Teredo clients of one relay
    expect(sourceKey("::1")).toBe("0:0:0:0:0:0:0:1");
    expect(sourceKey("fe80::1%eth0")).toBe("fe80:0:0:0:0:0:0:1%eth0");
  });
});

describe("checkDestination's side channels", () => {
  // The stream's group and IPv6's global SAP group allowed, the IPv4 local scope's SAP group not.
  const config = parseConfig('media_root = "/tmp"\nallow_destinations = ["239.255.1.0/24", "ff0e::2:7ffe"]', "(test)");

  test("an IPv4-mapped spelling has its SAP group judged as the one it announces on", async () => {
    const forbidden = "sap=1 announces to 239.255.255.255:9875, which is not in allow_destinations";
    await expect(checkDestination("rtp://239.255.1.2:5004?sap=1", "127.0.0.1", config, [])).rejects.toThrow(forbidden);
    // Before: judged as IPv6's ff0e::2:7ffe (allowed), and the stream, to 239.255.1.2, announced on 239.255.255.255.
    await expect(checkDestination("rtp://[::ffff:239.255.1.2]:5004?sap=1", "127.0.0.1", config, [])).rejects.toThrow(forbidden);
    await expect(checkDestination("rtp://[::ffff:efff:102]:5004?sap=1", "127.0.0.1", config, [])).rejects.toThrow(forbidden);
    expect(await checkDestination("rtp://[::ffff:239.255.1.2]:5004", "127.0.0.1", config, [])).toBe("rtp://239.255.1.2:5004");
  });
});
