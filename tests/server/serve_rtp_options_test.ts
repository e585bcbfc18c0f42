/**
 * The rtp:// options a client may give through `pacer ctl play` (issue 15): ptime, rtcp and sap,
 * besides pkt, pt, format, ttl and ahead. Where RTCP and SAP go is a destination too, held to the
 * same policy as the stream: RTCP must not hit one of the server's own ports, and SAP announces to
 * a multicast group that allow_destinations must name. The play reply names each destination's
 * SSRC, so a receiver knows its stream from the first packet.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { rtcpGetPayloadType } from "../../protocol/rtcp.ts";
import { RTP_HEADER_SIZE, rtpGetSsrc } from "../../protocol/rtp.ts";
import { rampS16, writeWav } from "../helpers/audio.ts";
import { runPacer } from "../helpers/pacer.ts";
import { udpReceiver } from "../helpers/udp_receiver.ts";
import { type ServeFixture, startServe } from "./serve_fixture.ts";

let serve: ServeFixture;
beforeAll(async () => {
  serve = await startServe({ config: "interest_timeout = 5" });
  const wav = join(serve.mediaRoot, "tone48.wav");
  writeWav(wav, { encoding: "s16le", rate: 48_000, channels: 2 }, rampS16(24_000));
  chmodSync(wav, 0o644);
});
afterAll(async () => {
  await serve.stop();
  serve.cleanup();
});

const ctl = (...args: string[]) => runPacer(["ctl", "--server", serve.address, ...args]);

describe("rtp:// options through ctl play", () => {
  test("ptime=1 and rtcp=mux: 48-frame packets, and sender reports on the RTP port itself", async () => {
    // A big receive buffer: 1000 packets a second fill the default's ~170 while this process waits on ctl.
    const rx = await udpReceiver(0, { rcvbufBytes: 16 << 20 });
    try {
      const play = await ctl("play", "tone48.wav", "--to", `rtp://127.0.0.1:${rx.port}?ptime=1&pt=96&rtcp=mux`);
      expect(play.stderr).toBe("");
      expect(play.code).toBe(0);
      // RTCP packet types are 200-204 in the second byte; RTP with a payload type < 128 is not.
      const isRtcp = (p: { data: Buffer }) => p.data[1]! >= 200 && p.data[1]! <= 204;
      // 0.5 s of audio: the stream's end brings its final report (SR + SDES + BYE) at the latest.
      for (let i = 0; i < 200 && !rx.packets.some(isRtcp); i++) await Bun.sleep(20);
      const rtcp = rx.packets.filter(isRtcp);
      const rtp = rx.packets.filter((p) => !isRtcp(p));
      expect(rtp.length).toBe(500);
      for (const p of rtp) expect(p.data.length).toBe(RTP_HEADER_SIZE + 48 * 4);
      expect(rtcp.length).toBeGreaterThanOrEqual(1);
      expect(rtcpGetPayloadType(rtcp[0]!.data)).toBe(200); // SR
    } finally {
      rx.close();
    }
  }, 15_000);

  test("RTCP that would land on the server's control port is refused; rtcp=off is accepted", async () => {
    const below = serve.port - 1;
    const refused = await ctl("play", "tone48.wav", "--to", `rtp://127.0.0.1:${below}?pt=96`);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain(`its RTCP would go to 127.0.0.1:${serve.port}, the server's own control port`);
    const accepted = await ctl("play", "tone48.wav", "--to", `rtp://127.0.0.1:${below}?pt=96&rtcp=off`);
    expect(accepted.stderr).toBe("");
    expect(accepted.code).toBe(0);
    await ctl("stop", accepted.stdout.trim());
  });

  test("sap=1 is refused unless allow_destinations names the SAP group; a bad value is bad_request", async () => {
    const sap = await ctl("play", "tone48.wav", "--to", "rtp://127.0.0.1:40000?pt=96&sap=1");
    expect(sap.code).not.toBe(0);
    expect(sap.stderr).toContain("sap=1 announces to 224.2.127.254:9875, which is not in allow_destinations");
    const bad = await ctl("play", "tone48.wav", "--to", "rtp://127.0.0.1:40000?pt=96&sap=yes");
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("sap=yes: must be 1 or 0");
  });
});

describe("the play reply names each destination's SSRC", () => {
  test("the SSRC its datagrams carry, null for udp://; a repeat in another order names them in its own", async () => {
    const [a, b, c] = [await udpReceiver(), await udpReceiver(), await udpReceiver()];
    const rtp = (port: number) => `rtp://127.0.0.1:${port}?rtcp=off`;
    const udp = (port: number) => `udp://127.0.0.1:${port}`;
    try {
      const play = await ctl("--json", "play", "clip.ts", "--loop", "--to", rtp(a.port), "--to", udp(b.port), "--to", rtp(c.port));
      expect(play.code).toBe(0);
      const result = JSON.parse(play.stdout).result as { job: string; ssrc: (number | null)[] };
      expect(result.ssrc).toEqual([expect.any(Number), null, expect.any(Number)]);
      expect(result.ssrc[0]).not.toBe(result.ssrc[2]);
      for (let i = 0; i < 100 && (a.packets.length < 5 || c.packets.length < 5); i++) await Bun.sleep(20);
      expect(new Set(a.packets.map((p) => rtpGetSsrc(p.data)))).toEqual(new Set([result.ssrc[0]!]));
      expect(new Set(c.packets.map((p) => rtpGetSsrc(p.data)))).toEqual(new Set([result.ssrc[2]!]));
      expect(b.packets[0]!.data[0]).toBe(0x47); // plain MPEG-TS: no RTP header, no SSRC

      const again = await ctl("--json", "play", "clip.ts", "--loop", "--to", rtp(c.port), "--to", rtp(a.port), "--to", udp(b.port));
      const repeat: unknown = JSON.parse(again.stdout).result;
      expect(repeat).toEqual({ job: result.job, interest_timeout: 5, ssrc: [result.ssrc[2]!, result.ssrc[0]!, null], refreshed: true });
      // `ctl play` still prints the job id alone: scripts take it with $(…).
      const plain = await ctl("play", "clip.ts", "--loop", "--to", rtp(a.port), "--to", udp(b.port), "--to", rtp(c.port));
      expect(plain.stdout).toBe(`${result.job}\n`);
      await ctl("stop", result.job);
    } finally {
      for (const rx of [a, b, c]) rx.close();
    }
  }, 15_000);
});
