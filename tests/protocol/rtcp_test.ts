/**
 * Story: RTCP packets written in place read back as RFC 3550 section 6 says: a sender report
 * with no report blocks is 28 bytes, an SDES chunk with a CNAME ends on a null item and a 32-bit
 * boundary, a BYE names its source, and NTP time converts both ways to the µs.
 */
import { expect, test } from "bun:test";
import fc from "fast-check";
import * as rtcp from "../../protocol/rtcp.ts";

test("a sender report's fields round-trip for any values", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
      fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
      fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
      (ssrc, msw, lsw, ts, packets, octets) => {
        const p = new Uint8Array(rtcp.RTCP_SR_SIZE + 4);
        const end = rtcp.rtcpWriteSenderReport(p, 4, ssrc, msw, lsw, ts, packets, octets);
        expect(end).toBe(4 + 28);
        expect(rtcp.rtcpGetVersion(p, 4)).toBe(2);
        expect(rtcp.rtcpHasPadding(p, 4)).toBe(false);
        expect(rtcp.rtcpGetCount(p, 4)).toBe(0);
        expect(rtcp.rtcpGetPayloadType(p, 4)).toBe(200);
        expect(rtcp.rtcpGetLength(p, 4)).toBe(6);
        expect(rtcp.rtcpPacketSize(p, 4)).toBe(28);
        expect(rtcp.rtcpGetSsrc(p, 4)).toBe(ssrc);
        expect(rtcp.rtcpSrGetNtpMsw(p, 4)).toBe(msw);
        expect(rtcp.rtcpSrGetNtpLsw(p, 4)).toBe(lsw);
        expect(rtcp.rtcpSrGetRtpTimestamp(p, 4)).toBe(ts % 2 ** 32);
        expect(rtcp.rtcpSrGetPacketCount(p, 4)).toBe(packets % 2 ** 32);
        expect(rtcp.rtcpSrGetOctetCount(p, 4)).toBe(octets % 2 ** 32);
      },
    ),
  );
});

test("SDES: one chunk, the CNAME item, a null item, padded to 32 bits, for every CNAME length", () => {
  for (let length = 0; length <= 255; length++) {
    const cname = new TextEncoder().encode("x".repeat(length));
    const p = new Uint8Array(rtcp.RTCP_MAX_COMPOUND).fill(0xee);
    const end = rtcp.rtcpWriteSdesCname(p, 0, 0x01020304, cname);
    expect(end % 4).toBe(0);
    expect(end).toBe(rtcp.rtcpPacketSize(p, 0));
    expect(end - (8 + 2 + length)).toBeGreaterThanOrEqual(1); // room for the null item
    expect(rtcp.rtcpGetPayloadType(p)).toBe(202);
    expect(rtcp.rtcpGetCount(p)).toBe(1);
    expect(rtcp.rtcpGetSsrc(p)).toBe(0x01020304);
    expect([...rtcp.rtcpSdesGetCname(p)!]).toEqual([...cname]);
    expect([...p.subarray(8 + 2 + length, end)].every((b) => b === 0)).toBe(true);
  }
});

test("a compound SR + SDES + BYE fits RTCP_MAX_COMPOUND with the longest CNAME", () => {
  const p = new Uint8Array(rtcp.RTCP_MAX_COMPOUND);
  let at = rtcp.rtcpWriteSenderReport(p, 0, 7, 1, 2, 3, 4, 5);
  at = rtcp.rtcpWriteSdesCname(p, at, 7, new Uint8Array(255).fill(0x61));
  at = rtcp.rtcpWriteBye(p, at, 7);
  expect(at).toBeLessThanOrEqual(rtcp.RTCP_MAX_COMPOUND);
  const bye = at - rtcp.RTCP_BYE_SIZE;
  expect([rtcp.rtcpGetPayloadType(p, bye), rtcp.rtcpGetCount(p, bye), rtcp.rtcpGetSsrc(p, bye), rtcp.rtcpPacketSize(p, bye)]).toEqual([203, 1, 7, 8]);
});

test("NTP time: 1970 is 2208988800 s after 1900, and µs survive the round trip", () => {
  expect(rtcp.ntpSecondsOfUnixUs(0)).toBe(2_208_988_800);
  expect(rtcp.ntpFractionOfUnixUs(500_000)).toBe(2 ** 31);
  fc.assert(
    fc.property(fc.integer({ min: 0, max: (2 ** 32 - 2_208_988_800 - 1) * 1e6 }), (unixUs) => { // NTP era 0, to 2036
      const back = rtcp.unixUsOfNtp(rtcp.ntpSecondsOfUnixUs(unixUs), rtcp.ntpFractionOfUnixUs(unixUs));
      expect(Math.abs(back - unixUs)).toBeLessThan(1);
    }),
  );
});

test("rtcp-mux: packet types 192-223 are RTCP, RTP's payload types (with or without marker) are not", () => {
  expect(rtcp.isRtcpPayloadType(200)).toBe(true);
  expect(rtcp.isRtcpPayloadType(203)).toBe(true);
  expect(rtcp.isRtcpPayloadType(96)).toBe(false);
  expect(rtcp.isRtcpPayloadType(0x80 | 33)).toBe(false);
});
