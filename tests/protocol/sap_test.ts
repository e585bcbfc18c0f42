/**
 * Story: SAP packets written in place read back as RFC 2974 says; each stream's scope picks its
 * SAP group (section 3); the message id hash stays put while the SDP does and moves when it
 * changes; a deletion is the same packet with T set.
 */
import { expect, test } from "bun:test";
import * as sap from "../../protocol/sap.ts";

const encode = (s: string) => new TextEncoder().encode(s);
const SDP = "v=0\r\no=- 1 1 IN IP4 192.0.2.2\r\ns=pacer\r\nt=0 0\r\nm=audio 5004 RTP/AVP 96\r\n";

test("an IPv4 announcement: V=1, A=0, T=0, no auth, the source, application/sdp, the SDP", () => {
  const sdp = encode(SDP);
  const p = new Uint8Array(sap.sapPacketSize(4, sdp.length));
  sap.sapWriteAnnouncement(p, Uint8Array.of(192, 0, 2, 2), 0xbeef, sdp);
  expect(sap.sapGetVersion(p)).toBe(1);
  expect(sap.sapIsIpv6(p)).toBe(false);
  expect(sap.sapIsDeletion(p)).toBe(false);
  expect(sap.sapIsEncrypted(p) || sap.sapIsCompressed(p)).toBe(false);
  expect(sap.sapGetAuthLength(p)).toBe(0);
  expect(sap.sapGetMessageIdHash(p)).toBe(0xbeef);
  expect([...sap.sapGetOriginatingSource(p)]).toEqual([192, 0, 2, 2]);
  expect(new TextDecoder().decode(p.subarray(8, 8 + 16))).toBe("application/sdp\0");
  expect(new TextDecoder().decode(sap.sapGetPayload(p)!)).toBe(SDP);
  sap.sapSetDeletion(p, true);
  expect(sap.sapIsDeletion(p)).toBe(true);
  expect(sap.sapGetMessageIdHash(p)).toBe(0xbeef);
  sap.sapSetDeletion(p, false);
  expect(p[0]).toBe(0x20);
});

test("an IPv6 announcement carries a 16-byte source; a payload without a type is read as SDP", () => {
  const sdp = encode(SDP);
  const source = new Uint8Array(16).fill(0x20);
  const p = new Uint8Array(sap.sapPacketSize(6, sdp.length));
  sap.sapWriteAnnouncement(p, source, 1, sdp);
  expect(sap.sapIsIpv6(p)).toBe(true);
  expect([...sap.sapGetOriginatingSource(p)]).toEqual([...source]);
  expect(new TextDecoder().decode(sap.sapGetPayload(p)!)).toBe(SDP);
  const bare = new Uint8Array(8 + sdp.length);
  bare[0] = 0x20;
  bare.set(sdp, 8);
  expect(new TextDecoder().decode(sap.sapGetPayload(bare)!)).toBe(SDP);
  bare[0] = 0x20 | 0x02; // encrypted: not for us
  expect(sap.sapGetPayload(bare)).toBeNull();
});

test("the SAP group follows the stream's scope (RFC 2974 section 3)", () => {
  const group = (a: string) => sap.sapGroupFor(a).address;
  expect(group("239.255.1.2")).toBe("239.255.255.255");
  expect(group("239.192.0.1")).toBe("239.195.255.255");
  expect(group("239.195.200.1")).toBe("239.195.255.255");
  expect(group("239.196.0.1")).toBe("224.2.127.254");
  expect(group("233.252.0.5")).toBe("224.2.127.254");
  expect(group("224.2.200.1")).toBe("224.2.127.254");
  expect(group("192.0.2.9")).toBe("224.2.127.254"); // unicast: announced globally
  expect(group("ff02::1234")).toBe("ff02::2:7ffe");
  expect(group("ff15::1")).toBe("ff05::2:7ffe");
  expect(group("FF38::1")).toBe("ff08::2:7ffe");
  expect(group("ff0e::1")).toBe("ff0e::2:7ffe");
  expect(group("2001:db8::1")).toBe("ff0e::2:7ffe");
  // A stream to ::1 only this host receives: its announcements stay here too (scope 1, which
  // Linux loops back and sends nowhere). Before, they went to the global ff0e::2:7ffe.
  expect(group("::1")).toBe("ff01::2:7ffe");
  expect(sap.sapGroupFor("239.255.1.2").port).toBe(9875);
});

test("the message id hash is the SDP's: the same text gives the same hash, a changed one another, never 0", () => {
  const a = sap.sapMessageIdHash(encode(SDP));
  expect(sap.sapMessageIdHash(encode(SDP))).toBe(a);
  expect(sap.sapMessageIdHash(encode(SDP.replace("5004", "5006")))).not.toBe(a);
  const seen = new Set<number>();
  for (let i = 0; i < 2000; i++) {
    const h = sap.sapMessageIdHash(encode(`${SDP}a=x:${i}\r\n`));
    expect(h).toBeGreaterThan(0);
    expect(h).toBeLessThanOrEqual(0xffff);
    seen.add(h);
  }
  expect(seen.size).toBeGreaterThan(1900); // 16 bits: a few collisions in 2000 at most
});
