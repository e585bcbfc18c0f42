/**
 * The shape of the serve fault tests: in a real `pacer serve`, one job on a media file that
 * fails, and beside it `clip.ts` looped, each to its own receiver. `body` makes the fault and
 * checks both; the receivers and the server are closed after it.
 */
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type WireArrivals, wireArrivals } from "../helpers/capture.ts";
import { runPacer } from "../helpers/pacer.ts";
import { udpReceiver } from "../helpers/udp_receiver.ts";
import { type ServeFixture, type ServeOptions, startServe } from "../server/serve_fixture.ts";

export interface JobsBeside {
  serve: ServeFixture;
  /** The failing job's id and the looped one's. */
  failing: string;
  steady: string;
  /** What each received so far. */
  failingRx: Awaited<ReturnType<typeof udpReceiver>>;
  steadyRx: Awaited<ReturnType<typeof udpReceiver>>;
  ctl(...args: string[]): ReturnType<typeof runPacer>;
  /** What the steady receiver got so far, with the kernel's arrival times (a capture from before the jobs; `wire` asks for it). */
  steadyArrivals(): Promise<JobsBeside["steadyRx"]["packets"]>;
}

/** Writes `media` as `name` in the media root, starts both jobs, and runs `body`; `wire` captures the steady job's arrivals (tshark). */
export async function withJobsBeside(
  name: string,
  media: Uint8Array,
  body: (jobs: JobsBeside) => Promise<void>,
  options: ServeOptions = {},
  { wire: capture = false } = {},
): Promise<void> {
  const serve = await startServe(options);
  const path = join(serve.mediaRoot, name);
  writeFileSync(path, media);
  chmodSync(path, 0o644);
  const failingRx = await udpReceiver();
  const steadyRx = await udpReceiver();
  let wire: WireArrivals | null = null;
  try {
    if (capture) wire = await wireArrivals(steadyRx.port);
    const steadyArrivals = () => (wire ? wire.retime(steadyRx.packets) : Promise.reject(new Error("withJobsBeside: no capture asked for (wire: true)")));
    const ctl = (...args: string[]) => runPacer(["ctl", "--server", serve.address, ...args]);
    const failing = (await ctl("play", name, "--to", `udp://127.0.0.1:${failingRx.port}`)).stdout.trim();
    const steady = (await ctl("play", "clip.ts", "--loop", "--to", `udp://127.0.0.1:${steadyRx.port}`)).stdout.trim();
    await body({ serve, failing, steady, failingRx, steadyRx, ctl, steadyArrivals });
    await ctl("stop", steady);
  } finally {
    failingRx.close();
    steadyRx.close();
    await serve.stop();
    serve.cleanup();
    await wire?.close();
  }
}
