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
