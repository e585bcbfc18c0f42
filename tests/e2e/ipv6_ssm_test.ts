/**
 * Source-specific multicast over IPv6 (issue 12): `udp://@[GROUP]:PORT?iface=IF&source=ADDR`
 * joins with MCAST_JOIN_SOURCE_GROUP, so it records the named source's stream and nothing from
 * any other. IPv6 multicast is not delivered over `lo`, so the throwaway namespace gets a veth
 * pair of its own: the datagrams never leave the namespace.
 */
import { afterAll, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeCbrTs, makeTempDir } from "../helpers/mpeg_fixtures.ts";
import { makeIpv6MulticastNetns } from "../helpers/netns.ts";
import { MAIN } from "../helpers/pacer.ts";

const tmp = makeTempDir();
afterAll(() => tmp.cleanup());

test("record udp://@[ff3e::…]?source=: the named source's stream byte for byte; another source's join gets nothing (exit 1)", async () => {
  const ns = makeIpv6MulticastNetns("pacer-ssm6");
  if (!ns) return;
  try {
    const ts = makeCbrTs({ bitrate: 1_000_000, duration: 1 });
    const source = join(tmp.dir, "ssm.ts");
    writeFileSync(source, ts);
    const group = "udp://@[ff3e::1234]:5600?iface=v0";
    const record = (sourceAddress: string, out: string) =>
      Bun.spawn([...ns.exec, process.execPath, MAIN, "record", `${group}&source=${sourceAddress}`, "--out", out, "--duration", "3"], { stderr: "pipe" });
    const right = record("fd00::1", join(tmp.dir, "right.ts"));
    const wrong = record("fd00::2", join(tmp.dir, "wrong.ts"));
    await Bun.sleep(800); // both join
    const play = Bun.spawnSync([...ns.exec, process.execPath, MAIN, "play", source, "--to", "udp://[ff3e::1234]:5600?iface=v0"]);
    expect(play.exitCode).toBe(0);
    expect(await right.exited).toBe(0);
    expect(readFileSync(join(tmp.dir, "right.ts")).equals(Buffer.from(ts))).toBe(true);
    expect(await wrong.exited).toBe(1);
    expect(await new Response(wrong.stderr).text()).toContain("nothing arrived from udp://@[ff3e::1234]:5600");
  } finally {
    ns.remove();
  }
}, 20_000);

test("an IPv4 source for an IPv6 group is a one-line usage error", () => {
  const run = Bun.spawnSync([process.execPath, MAIN, "record", "udp://@[ff3e::1234]:5601?source=10.0.0.1", "--out", join(tmp.dir, "x.ts"), "--duration", "1"]);
  expect(run.exitCode).toBe(2);
  expect(run.stderr.toString().trim()).toBe('pacer: error: source "10.0.0.1": expected an IPv6 address, as the group is');
});
