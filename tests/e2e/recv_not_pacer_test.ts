/**
 * `pacer recv --from` an address where something other than a pacer server answers: it says ok to
 * every request but names no job. recv gives up with exit 1 and one line; before, each such reply
 * counted as hearing from the server, so --wait never ran out and recv asked for ever.
 */
import { afterEach, describe, expect, test } from "bun:test";
import type { udp } from "bun";
import { runPacer } from "../helpers/pacer.ts";

let answerer: udp.Socket<"buffer"> | null = null;
afterEach(() => {
  answerer?.close();
  answerer = null;
});

/** A UDP responder on loopback that answers each request's id with `ok: true` and `result`. */
async function okToAnything(result: unknown): Promise<string> {
  answerer = await Bun.udpSocket({
    hostname: "127.0.0.1",
    socket: {
      data(socket, data, port, address) {
        const body = JSON.parse(data.toString("utf8").split("\n")[0]!) as { id: string };
        socket.send(JSON.stringify({ v: 1, id: body.id, ok: true, result }), port, address);
      },
    },
  });
  return `127.0.0.1:${answerer.port}`;
}

describe("pacer recv against a responder that names no job", () => {
  for (const [what, result] of [["a number for the job", { job: 123 }], ["a null result", null], ["an empty result", {}]] as const) {
    test(`${what}: exit 1 within --wait, one line saying so`, async () => {
      const from = await okToAnything(result);
      const started = Date.now();
      const run = await runPacer(["recv", "--from", from, "--request", "clip.ts", "--wait", "2"], { timeoutMs: 10_000 });
      expect(run.code).toBe(1);
      expect(run.stderr).toContain("named no job");
      expect(run.stdout).toBe("");
      expect(Date.now() - started).toBeLessThan(8_000);
    }, 15_000);
  }
});
