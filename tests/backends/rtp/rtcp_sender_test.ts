/**
 * Story: on a manual clock, an RTP output's RTCP falls due after 1.25-3.75 s, then every
 * 2.5-7.5 s (RFC 3550 section 6.2 and 6.3.1, around a 5 s interval), and goes out with a data
 * packet, or alone 0.1 s later where none comes (an RR once it has sent no data for two
 * reports); at the end it sends SR, SDES and BYE in one datagram, and then nothing more.
 */
import { expect, test } from "bun:test";
import { hostname } from "node:os";
import { RtcpSender } from "../../../backends/rtp/rtcp_sender.ts";
import * as rtcp from "../../../protocol/rtcp.ts";
import { ManualClock } from "../../../scheduler/clock.ts";
import { Scheduler } from "../../../scheduler/scheduler.ts";

function setup(random: () => number) {
  const clock = new ManualClock(1_000_000);
  const scheduler = new Scheduler(clock);
  const sent: { at: number; data: Uint8Array }[] = [];
  const out = { send: (d: Uint8Array) => (sent.push({ at: clock.now(), data: d.slice() }), true) };
  const sender = new RtcpSender(scheduler, out, 0xcafe, new TextEncoder().encode("me@here"), 5_000_000, random);
  return { clock, scheduler, sent, sender };
}

/** Runs 20 ms "data packets" for `us`, reporting when due, as the send path does. */
function play(s: ReturnType<typeof setup>, us: number): void {
  const end = s.clock.now() + us;
  while (s.clock.now() < end) {
    s.scheduler.runUntil(s.clock.now() + 20_000);
    if (s.sender.due) s.sender.report(1.7e15 + s.clock.now(), s.clock.now() * 0.048, 1, 2);
  }
}

test("reports come at randomised intervals between 0.5 and 1.5 times 5 s, the first at half that", () => {
  for (const r of [0, 0.5, 0.999]) {
    const s = setup(() => r);
    s.sender.start(s.clock.now());
    play(s, 60_000_000);
    const first = s.sent[0]!.at - 1_000_000;
    expect(Math.abs(first - 2_500_000 * (0.5 + r))).toBeLessThanOrEqual(20_000);
    for (let i = 1; i < s.sent.length; i++) {
      const gap = s.sent[i]!.at - s.sent[i - 1]!.at;
      expect(Math.abs(gap - 5_000_000 * (0.5 + r))).toBeLessThanOrEqual(20_000);
    }
  }
});

test("each report is SR then SDES with the CNAME; the mean interval over many is about 5 s", () => {
  const s = setup(Math.random);
  s.sender.start(s.clock.now());
  play(s, 600_000_000);
  const gaps = s.sent.slice(1).map((x, i) => x.at - s.sent[i]!.at);
  const mean = gaps.reduce((a, b) => a + b, 0) / gaps.length;
  expect(Math.abs(mean - 5_000_000)).toBeLessThan(600_000);
  expect(Math.min(...gaps)).toBeGreaterThanOrEqual(2_500_000);
  expect(Math.max(...gaps)).toBeLessThanOrEqual(7_520_000);
  const p = s.sent[0]!.data;
  expect(rtcp.rtcpGetPayloadType(p, 0)).toBe(200);
  expect(rtcp.rtcpGetSsrc(p, 0)).toBe(0xcafe);
  expect(rtcp.rtcpGetPayloadType(p, 28)).toBe(202);
  expect(new TextDecoder().decode(rtcp.rtcpSdesGetCname(p, 28)!)).toBe("me@here");
  expect(28 + rtcp.rtcpPacketSize(p, 28)).toBe(p.length);
});

test("the BYE goes out as SR + SDES + BYE in one datagram, and no report follows it", () => {
  const s = setup(() => 0.5);
  s.sender.start(s.clock.now());
  play(s, 3_000_000);
  s.sender.bye(1.7e15, 123, 10, 2000);
  const count = s.sent.length;
  const p = s.sent.at(-1)!.data;
  const sdes = 28;
  const bye = sdes + rtcp.rtcpPacketSize(p, sdes);
  expect([rtcp.rtcpGetPayloadType(p, 0), rtcp.rtcpGetPayloadType(p, sdes), rtcp.rtcpGetPayloadType(p, bye)]).toEqual([200, 202, 203]);
  expect(bye + 8).toBe(p.length);
  expect([rtcp.rtcpSrGetRtpTimestamp(p), rtcp.rtcpSrGetPacketCount(p), rtcp.rtcpSrGetOctetCount(p)]).toEqual([123, 10, 2000]);
  play(s, 30_000_000);
  expect(s.sent.length).toBe(count);
  expect(s.scheduler.pending).toBe(0);
});

test("the CNAME's user is the passwd entry's, with no $USER (cron, systemd): it read unknown@host", () => {
  const script = `import { defaultCname } from ${JSON.stringify(`${import.meta.dir}/../../../backends/rtp/rtcp_sender.ts`)}; console.log(new TextDecoder().decode(defaultCname()));`;
  const run = Bun.spawnSync([process.execPath, "-e", script], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } });
  const user = Bun.spawnSync(["id", "-un"]).stdout.toString().trim();
  expect(run.stdout.toString().trim()).toBe(`${user}@${hostname()}`);
});

test("with no data to carry it (a pause, an idle speaker, a stalled input), a due report goes alone 0.1 s later: SR, then an empty RR once two reports saw no data", () => {
  // Before, a report only rode on a data packet: a stream paused for 30 s sent no RTCP at all,
  // and receivers time a source out after five silent intervals (RFC 3550 section 6.3.5).
  const s = setup(() => 0.5);
  let packets = 0;
  s.sender.reportAlone = (now) => s.sender.report(1.7e15 + now, now * 0.048, packets, packets * 100);
  s.sender.start(s.clock.now());
  packets = 7; // data went out, then stopped before the first report fell due
  s.scheduler.runUntil(s.clock.now() + 30_000_000);
  const gaps = s.sent.slice(1).map((x, i) => x.at - s.sent[i]!.at);
  expect(s.sent[0]!.at - 1_000_000).toBe(2_500_000 + 100_000);
  expect(gaps.length).toBeGreaterThanOrEqual(4);
  for (const gap of gaps) expect(gap).toBe(5_000_000 + 100_000);
  const types = s.sent.map((x) => rtcp.rtcpGetPayloadType(x.data, 0));
  expect(types.slice(0, 3)).toEqual([200, 200, 201]); // data went out since the report before last, then none
  expect(new Set(types.slice(2))).toEqual(new Set([201]));
  const rr = s.sent[2]!.data;
  expect([rtcp.rtcpGetCount(rr, 0), rtcp.rtcpPacketSize(rr, 0), rtcp.rtcpGetSsrc(rr, 0)]).toEqual([0, 8, 0xcafe]);
  expect(rtcp.rtcpGetPayloadType(rr, 8)).toBe(202);
  expect(8 + rtcp.rtcpPacketSize(rr, 8)).toBe(rr.length);
  // Data again: the next report is an SR once more, and the BYE's compound starts with it.
  packets = 9;
  s.sender.bye(1.7e15 + s.clock.now(), 1, packets, 900);
  expect(rtcp.rtcpGetPayloadType(s.sent.at(-1)!.data, 0)).toBe(200);
});
