/**
 * Story: a user announces a stream to 127.0.0.1 with `sap=1`, for ffmpeg's `sap://` on the same
 * host. In a throwaway namespace whose multicast route goes out a veth pair (v0, v1: what v1 sees
 * is what the host put on its network), a receiver on the host still gets the announcement and
 * its deletion, and nothing goes out on v1: a stream only this host can receive is announced
 * only on this host (TTL 0). Before, the announcements went out on the network (TTL 1), telling
 * every host on it of a session at 127.0.0.1.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeCapture, startCapture } from "../helpers/capture.ts";
import { makeIpv4VethNetns, type Netns } from "../helpers/netns.ts";
import { havePeer, MAIN } from "../helpers/pacer.ts";

const dir = mkdtempSync(join(tmpdir(), "pacer-sap-lo-"));
const ns: Netns | null = havePeer("tshark") ? makeIpv4VethNetns("pacer-sap-lo") : null;
afterAll(() => {
  ns?.remove();
  rmSync(dir, { recursive: true, force: true });
});

/** Joins the global SAP group on the host (on `on`, an interface address, or the group's route) and prints a line for each datagram, until killed. */
const receiverScript = (on?: string) => `
import dgram from "node:dgram";
const s = dgram.createSocket({ type: "udp4", reuseAddr: true });
s.on("message", () => console.log("datagram"));
s.bind(9875, () => { s.addMembership("224.2.127.254"${on ? `, "${on}"` : ""}); console.log("joined"); });
`;

/** Plays a short loopback stream with sap=1 in the namespace, a SAP receiver joined `on` there unless null; what it heard, and what went out on the link (v1). */
async function announceOnHost(on: string | undefined | null, name: string): Promise<{ heard: string[]; onLink: string[][] }> {
  const pcap = join(dir, `${name}.pcap`);
  const capture = await startCapture("udp port 9875", pcap, { iface: "v1", wrap: ns!.exec });
  let receiver: Bun.Subprocess<"ignore", "pipe"> | null = null;
  if (on !== null) {
    const script = join(dir, `${name}.ts`);
    writeFileSync(script, receiverScript(on));
    receiver = Bun.spawn([...ns!.exec, process.execPath, script], { stdout: "pipe" });
    await ns!.joined("224.2.127.254");
  }
  const play = Bun.spawn([...ns!.exec, process.execPath, MAIN, "play", "-", "--format", "s16le:8000:1", "--to", "rtp://127.0.0.1:5004?sap=1&rtcp=off"], {
    stdin: new Uint8Array(8000 * 2 * 0.3),
    stderr: "pipe",
  });
  expect(await play.exited).toBe(0);
  await Bun.sleep(100);
  receiver?.kill();
  const heard = receiver ? (await new Response(receiver.stdout).text()).trim().split("\n") : [];
  await capture.stop();
  return { heard, onLink: decodeCapture(pcap, ["ip.dst", "ip.ttl"]) };
}

test("a loopback stream's SAP announcements reach a receiver on this host and nothing goes out on the link", async () => {
  if (!ns) return;
  const { heard, onLink } = await announceOnHost(undefined, "route");
  expect(heard).toEqual(["joined", "datagram", "datagram"]); // the announcement and the deletion
  expect(onLink).toEqual([]);
}, 10_000);

test("with no SAP receiver on this host, a loopback stream's announcements do not go out on the link (they went, TTL 0)", async () => {
  if (!ns) return;
  expect((await announceOnHost(null, "none")).onLink).toEqual([]);
}, 10_000);

test("a SAP receiver on lo hears a loopback stream's announcements out of lo, and nothing goes out on the link", async () => {
  if (!ns) return;
  const { heard, onLink } = await announceOnHost("127.0.0.1", "lo");
  expect(heard).toEqual(["joined", "datagram", "datagram"]);
  expect(onLink).toEqual([]);
}, 10_000);

test("on the socket-each send path, which cannot set TTL 0, a loopback stream plays unannounced, said once; it failed to open (exit 1)", async () => {
  const play = Bun.spawn([process.execPath, MAIN, "play", "-", "--format", "s16le:8000:1", "--to", "rtp://127.0.0.1:9?sap=1&rtcp=off"], {
    stdin: new Uint8Array(8000 * 2 * 0.1),
    stderr: "pipe",
    env: { ...process.env, PACER_SEND: "socket" },
  });
  const stderr = await new Response(play.stderr).text();
  expect(stderr).toContain("224.2.127.254:9875: sap=1 not announced: a stream to this host is announced with TTL 0, which the socket-each send path (PACER_SEND=socket) cannot set");
  expect(await play.exited).toBe(0);
}, 10_000);
