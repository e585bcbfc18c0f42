/**
 * The client side of the scale section's `pacer serve` rows, as a process of its own so that it
 * can run where the server runs (inside bench/wire.ts's namespace, with the receivers off the
 * host): starts one persistent job per destination, each with its own control `play` (as N
 * clients would), then waits until the server runs no job (each ends with its file) or `limitS`
 * passes. Prints one JSON line, `{"status": "ok"}` or what went wrong.
 *
 * @example
 * ```sh
 * bun bench/serve_driver.ts 127.0.0.1:7070 cbr.ts 40 udp://127.0.0.1:5000 udp://127.0.0.1:5001
 * ```
 */
import { ControlClient } from "../client/control_client.ts";
import { startJobs } from "./serve_bench.ts";

const POLL_MS = 200;

async function drive(control: string, clip: string, limitS: number, destinations: string[]): Promise<string> {
  const client = await ControlClient.open(control);
  try {
    await startJobs(client, clip, destinations);
    const deadline = Date.now() + limitS * 1000;
    for (;;) {
      // A busy server may leave a status unanswered for a while: that is no answer yet, not an end.
      const reply = await client.request("status", { limit: 1 }, { ttlMs: 5_000 }).catch(() => null);
      if (reply?.ok && (reply.result as { server: { jobs: number } }).server.jobs === 0) return "ok";
      if (Date.now() > deadline) return `jobs still running at ${limitS} s`;
      await Bun.sleep(POLL_MS);
    }
  } finally {
    client.close();
  }
}

const [control, clip, limit, ...destinations] = process.argv.slice(2);
const status = await drive(control!, clip!, Number(limit), destinations).catch((error: Error) => `failed: ${error.message.slice(0, 70)}`);
process.stdout.write(JSON.stringify({ status }) + "\n");
