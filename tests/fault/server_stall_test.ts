/**
 * Fault: a host so loaded that it does not run the server for 300 ms (made here with SIGSTOP and
 * SIGCONT). The stream re-anchors to its clock without a burst, as DESIGN.md says; the server
 * says so in one line and counts the stall in `status`. Before, only each
 * destination's `reanchors` told of it, and the log said nothing.
 */
import { expect, test } from "bun:test";
import { wireArrivals } from "../helpers/capture.ts";
import { udpReceiver } from "../helpers/udp_receiver.ts";
import { rawPeer, requestBytes, startServe } from "../server/serve_fixture.ts";

test("a server held up for 300 ms says so once, counts it, and its stream goes on without a burst", async () => {
  const serve = await startServe();
  // Arrivals timed by the kernel: a loaded host that held this test's own loop stamped an even
  // stream in a clump, which read as a burst.
  const rx = await udpReceiver(0, { rcvbufBytes: 8 << 20 });
  const wire = await wireArrivals(rx.port);
  const peer = await rawPeer();
  const ask = async (op: "play" | "status", args: Record<string, unknown>) => {
    peer.send(requestBytes(op, args), serve.port);
    return JSON.parse(new TextDecoder().decode((await peer.next(3000))!));
  };
  try {
    const play = await ask("play", { source: "clip.ts", to: [`udp://127.0.0.1:${rx.port}`], loop: true, persistent: true });
    expect(play.error).toBeUndefined();
    await Bun.sleep(500);
    const pid = serve.child.pid!;
    process.kill(pid, "SIGSTOP");
    await Bun.sleep(300);
    process.kill(pid, "SIGCONT");
    await Bun.sleep(500);

    // The stop is said (a loaded host may add a stall of its own, said as well).
    const stalls = serve.stderr().match(/the server did not run for [^\n]*/g) ?? [];
    const stop = stalls.filter((line) => /^the server did not run for (0\.[3-9]|[1-9][\d.]*) s \(the host held it up: overloaded, swapping, or stopped\); streams that fell behind/.test(line));
    expect(stop, serve.stderr()).toHaveLength(1);
    const status = await ask("status", {});
    expect(status.result.server.stalls).toBe(stalls.length);
    expect(status.result.server.stalled_ms).toBeGreaterThanOrEqual(250);
    const job = await ask("status", { job: play.result.job });
    expect(job.result.job.destinations[0].reanchors).toBeGreaterThanOrEqual(1);
    // 1 Mbit/s in 1316-byte datagrams: one every 10.5 ms. After the gap, no burst to catch up.
    const arrivals = (await wire.retime(rx.packets)).map((p) => p.atUs / 1000);
    const gaps = arrivals.slice(1).map((at, i) => at - arrivals[i]!);
    const widest = gaps.indexOf(Math.max(...gaps));
    expect(gaps[widest]).toBeGreaterThan(250);
    const resumedAt = arrivals[widest + 1]!;
    expect(arrivals.filter((at) => at >= resumedAt && at < resumedAt + 30).length).toBeLessThanOrEqual(6);
  } finally {
    await wire.close();
    rx.close();
    peer.close();
    await serve.stop();
    serve.cleanup();
  }
}, 20_000);
