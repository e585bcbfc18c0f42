/**
 * Story: an operator watches a running stream's pacing without capturing packets: `/status`
 * shows each destination's gaps between sends and its largest burst within 1 ms, `/metrics` the
 * same per job and destination, and they agree with what the receiver saw arrive (the median gap
 * within 10 %, the burst within one datagram).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { wireArrivals } from "../helpers/capture.ts";
import { runPacer } from "../helpers/pacer.ts";
import { udpReceiver } from "../helpers/udp_receiver.ts";
import { freeTcpPort, type ServeFixture, startServe } from "./serve_fixture.ts";

let serve: ServeFixture;
const httpPort = freeTcpPort();
beforeAll(async () => {
  serve = await startServe({ config: `http = "127.0.0.1:${httpPort}"`, args: ["--senders", "1"] });
});
afterAll(async () => {
  await serve.stop();
  serve.cleanup();
});

interface DestinationStatus {
  to: string;
  pacing: { sends: number; gap_us: { p50: number; p99: number; max: number }; burst_1ms: number; accuracy_us: { p50: number; p99: number; max: number } };
}

test("/status and /metrics report each destination's gaps and largest burst, as the receiver sees them", async () => {
  const rx = await udpReceiver();
  // Arrival times from the kernel: a stall of this process would clump its own stamps into a
  // burst pacer never sent (pacer's count stays 1), failing the agreement checked below.
  const wire = await wireArrivals(rx.port);
  try {
    // The clip is CBR 1 Mbit/s TS: 1316-byte datagrams every 10.5 ms.
    const play = await runPacer(["ctl", "--server", serve.address, "play", "clip.ts", "--loop", "--to", `udp://127.0.0.1:${rx.port}`]);
    expect(play.code).toBe(0);
    const job = play.stdout.trim();
    await Bun.sleep(2500);
    const status = (await (await fetch(`http://127.0.0.1:${httpPort}/status`)).json()) as {
      jobs: { id: string; destinations: DestinationStatus[] }[];
      lateness: Record<string, { count: number; p99: number }>;
    };
    const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    await runPacer(["ctl", "--server", serve.address, "stop", job]);
    const pacing = status.jobs.find((j) => j.id === job)!.destinations[0]!.pacing;
    // The datagrams left from a sender thread (--senders 1), whose lateness against each
    // datagram's due time is reported as "wire" (each thread's, summed; sent once a second).
    expect(status.lateness.wire!.count).toBeGreaterThan(100);
    expect(metrics).toContain('pacer_lateness_microseconds_count{kind="wire"}');

    // What the status counted: later sends (until the stop) could hold a burst it never saw.
    const arrivals = (await wire.retime(rx.packets)).slice(0, pacing.sends).map((p) => p.atUs);
    const gaps = arrivals.slice(1).map((t, i) => t - arrivals[i]!).sort((a, b) => a - b);
    const medianGap = gaps[Math.floor(gaps.length / 2)]!;
    let burst = 0;
    for (let i = 0, j = 0; i < arrivals.length; i++) {
      while (arrivals[i]! - arrivals[j]! >= 1000) j++;
      burst = Math.max(burst, i - j + 1);
    }
    expect(pacing.sends).toBeGreaterThan(150);
    expect(Math.abs(pacing.gap_us.p50 - medianGap) / medianGap).toBeLessThan(0.1);
    expect(Math.abs(pacing.gap_us.p50 - (1316 * 8 * 1e6) / 1_000_000)).toBeLessThan(1053);
    expect(pacing.gap_us.p99).toBeGreaterThanOrEqual(pacing.gap_us.p50);
    expect(pacing.gap_us.max).toBeGreaterThanOrEqual(pacing.gap_us.p99);
    expect(Math.abs(pacing.burst_1ms - burst)).toBeLessThanOrEqual(1);
    // Sends leave on the PCR line: the median within a millisecond (the precise sleep's end is ~0.06 ms).
    expect(pacing.accuracy_us.p50).toBeLessThan(1000);
    expect(pacing.accuracy_us.max).toBeGreaterThanOrEqual(pacing.accuracy_us.p99);

    const at = `job="${job}",to="udp://127.0.0.1:${rx.port}"`;
    expect(metrics).toContain("# TYPE pacer_send_gap_microseconds gauge");
    expect(metrics).toMatch(new RegExp(`^pacer_send_gap_microseconds\\{${at},quantile="0.5"\\} \\d+$`, "m"));
    expect(metrics).toMatch(new RegExp(`^pacer_send_burst_max\\{${at}\\} [1-9]\\d*$`, "m"));
    expect(metrics).toMatch(new RegExp(`^pacer_send_accuracy_microseconds\\{${at},quantile="0.99"\\} \\d+$`, "m"));
  } finally {
    rx.close();
  }
}, 20_000);
