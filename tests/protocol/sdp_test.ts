/**
 * Story: the SDP pacer writes tells a receiver what it needs and nothing false: the payload, the
 * packet time, AES67's clock attributes (RFC 7273), and where RTCP goes (RFC 3605 a=rtcp only
 * when it is not port + 1; RFC 5761 a=rtcp-mux when it shares the port).
 */
import { expect, test } from "bun:test";
import { buildSdp, type SdpMedia } from "../../protocol/sdp.ts";

const base: SdpMedia = { kind: "audio", address: "239.69.1.2", port: 5004, payloadType: 96, encoding: "L24/48000/2", ttl: 4 };
const lines = (media: SdpMedia) => buildSdp({ sessionId: 7, origin: "192.0.2.2", media: [media] }).split("\r\n");

test("an AES67 stream: rtpmap, ptime, ts-refclk and mediaclk, in that order, before sendonly", () => {
  const sdp = lines({ ...base, ptimeMs: 1, tsRefclk: "localmac=02-FC-00-00-00-01", mediaclk: "direct=0" });
  expect(sdp.slice(3, 5)).toEqual(["c=IN IP4 239.69.1.2/4", "t=0 0"]);
  expect(sdp.slice(5)).toEqual([
    "m=audio 5004 RTP/AVP 96",
    "a=rtpmap:96 L24/48000/2",
    "a=ptime:1",
    "a=ts-refclk:localmac=02-FC-00-00-00-01",
    "a=mediaclk:direct=0",
    "a=sendonly",
    "",
  ]);
  expect(lines({ ...base, ptimeMs: 0.125 })).toContain("a=ptime:0.125");
});

test("a=rtcp only names a port other than port + 1; rtcp-mux wins over a port", () => {
  expect(lines({ ...base, rtcpPort: 5005 }).some((l) => l.startsWith("a=rtcp"))).toBe(false);
  expect(lines({ ...base, rtcpPort: 6000 })).toContain("a=rtcp:6000");
  const mux = lines({ ...base, rtcpMux: true, rtcpPort: 6000 });
  expect(mux).toContain("a=rtcp-mux");
  expect(mux.some((l) => l.startsWith("a=rtcp:"))).toBe(false);
});

test("no RTCP: b=RS:0 and b=RR:0 right after m= (RFC 3556), or after the stream's own c=", () => {
  expect(lines({ ...base, rtcpOff: true }).slice(5, 8)).toEqual(["m=audio 5004 RTP/AVP 96", "b=RS:0", "b=RR:0"]);
  const two = buildSdp({ sessionId: 1, origin: "127.0.0.1", media: [{ ...base, rtcpOff: true }, { ...base, address: "127.0.0.2" }] });
  expect(two).toContain("m=audio 5004 RTP/AVP 96\r\nc=IN IP4 239.69.1.2/4\r\nb=RS:0\r\nb=RR:0\r\n");
  expect(two.match(/b=R/g)).toHaveLength(2);
});

test("without the new fields the SDP is what it was", () => {
  expect(lines({ ...base, encoding: "L16/44100/2", payloadType: 10 }).slice(5)).toEqual([
    "m=audio 5004 RTP/AVP 10",
    "a=rtpmap:10 L16/44100/2",
    "a=sendonly",
    "",
  ]);
});

test("one connection for every stream is written once, at session level (ffmpeg's MP2T receiver reads only that); streams to different addresses keep their own", () => {
  const ts: SdpMedia = { kind: "video", address: "127.0.0.1", port: 5004, payloadType: 33, encoding: "MP2T/90000" };
  const one = buildSdp({ sessionId: 7, origin: "127.0.0.1", media: [ts] }).split("\r\n");
  expect(one.slice(0, 6)).toEqual(["v=0", "o=- 7 7 IN IP4 127.0.0.1", "s=pacer", "c=IN IP4 127.0.0.1", "t=0 0", "m=video 5004 RTP/AVP 33"]);
  expect(one.filter((l) => l.startsWith("c=")).length).toBe(1);
  const two = buildSdp({ sessionId: 7, origin: "127.0.0.1", media: [ts, { ...ts, address: "127.0.0.2", port: 5006 }] }).split("\r\n");
  expect(two.indexOf("t=0 0")).toBe(3);
  expect(two.filter((l) => l.startsWith("c="))).toEqual(["c=IN IP4 127.0.0.1", "c=IN IP4 127.0.0.2"]);
});
