/** Story: RTP headers written in place read back as RFC 3550 says, with no allocation per packet. */
import { expect, test } from "bun:test";
import fc from "fast-check";
import * as rtp from "../../protocol/rtp.ts";

test("fields round-trip for any values; the timestamp keeps its low 32 bits", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 127 }),
      fc.boolean(),
      fc.integer({ min: 0, max: 0xffff }),
      fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
      fc.integer({ min: 0, max: 0xffffffff }),
      (pt, marker, seq, ts, ssrc) => {
        const p = new Uint8Array(rtp.RTP_HEADER_SIZE);
        rtp.rtpSetHeader(p, pt);
        rtp.rtpSetMarker(p, marker);
        rtp.rtpSetSeqnum(p, seq);
        rtp.rtpSetTimestamp(p, ts);
        rtp.rtpSetSsrc(p, ssrc);
        expect(rtp.rtpGetVersion(p)).toBe(2);
        expect(rtp.rtpGetPayloadType(p)).toBe(pt);
        expect(rtp.rtpGetMarker(p)).toBe(marker);
        expect(rtp.rtpGetSeqnum(p)).toBe(seq);
        expect(rtp.rtpGetTimestamp(p)).toBe(ts % 2 ** 32);
        expect(rtp.rtpGetSsrc(p)).toBe(ssrc);
        expect(rtp.rtpPayloadOffset(p)).toBe(12);
      },
    ),
  );
});

test("the payload offset skips CSRCs and a header extension, and rejects short packets", () => {
  const p = new Uint8Array(12 + 8 + 4 + 8 + 3);
  rtp.rtpSetHeader(p, 33);
  p[0] = p[0]! | 0x10 | 2; // X bit, two CSRCs
  p[12 + 8 + 3] = 2; // extension of two 32-bit words
  expect(rtp.rtpPayloadOffset(p)).toBe(12 + 8 + 4 + 8);
  expect(rtp.rtpPayloadOffset(p.subarray(0, 10))).toBe(-1);
});

test("the header lies where RFC 3550's diagram puts it, big-endian: a hand-made packet", () => {
  // V=2 P=0 X=0 CC=0 | M=1 PT=33 | sequence number | timestamp | SSRC (section 5.1).
  const wire = [0x80, 0x80 | 33, 0x12, 0x34, 0x89, 0xab, 0xcd, 0xef, 0xde, 0xad, 0xbe, 0xef];
  const p = new Uint8Array(rtp.RTP_HEADER_SIZE);
  rtp.rtpSetHeader(p, 33);
  rtp.rtpSetMarker(p, true);
  rtp.rtpSetSeqnum(p, 0x1234);
  rtp.rtpSetTimestamp(p, 0x89abcdef);
  rtp.rtpSetSsrc(p, 0xdeadbeef);
  expect([...p]).toEqual(wire);
  const read = Uint8Array.from(wire);
  expect([rtp.rtpGetPayloadType(read), rtp.rtpGetMarker(read), rtp.rtpGetSeqnum(read), rtp.rtpGetTimestamp(read), rtp.rtpGetSsrc(read)]).toEqual([33, true, 0x1234, 0x89abcdef, 0xdeadbeef]);
});
