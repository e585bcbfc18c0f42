/**
 * Fault: `pacer serve` at its descriptor limit with a connection waiting on a TCP listener. The
 * connection cannot be accepted (EMFILE) and stays ready, and Bun's loop tried again at once:
 * the server spun at a whole core (measured: 100 % over 2 s) until a descriptor freed. Now the
 * HTTP and `[[live]]` listeners close below a few free descriptors, said once, and open again on
 * their ports once there are some: the server idles meanwhile, and answers again after.
 * The shortage is made on the running process (prlimit, tests/helpers/descriptors.ts).
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { connect } from "node:net";
import { limitDescriptors, lowestFreeDescriptor } from "../helpers/descriptors.ts";
import { freeTcpPort, launch, prepareServe } from "../server/serve_fixture.ts";

/** User and system CPU time of `pid`, in clock ticks (100 a second). */
function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

/** Whether a TCP connection to 127.0.0.1:port is accepted (true) or refused (false). */
function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => (socket.destroy(), resolve(true)));
    socket.once("error", () => resolve(false));
  });
}

async function until(what: string, done: () => boolean, ms = 5_000): Promise<void> {
  for (const deadline = Date.now() + ms; !done(); await Bun.sleep(20)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
  }
}

test("at the descriptor limit, a waiting connection no longer spins the server: listeners close, and open again after", async () => {
  const [httpPort, livePort] = [freeTcpPort(), freeTcpPort()];
  const prepared = await prepareServe({ config: `http = "127.0.0.1:${httpPort}"\n[[live]]\nname = "cam1"\nlisten = "tcp://127.0.0.1:${livePort}"` });
  const serve = launch(prepared.dir, prepared.mediaRoot, prepared.configPath, prepared.port);
  const waiting = [] as ReturnType<typeof connect>[];
  try {
    await serve.ready;
    const pid = serve.child.pid!;
    limitDescriptors(pid, lowestFreeDescriptor(pid));
    // One connection on each listener that the server cannot accept.
    for (const port of [httpPort, livePort]) {
      const socket = connect({ host: "127.0.0.1", port });
      socket.on("error", () => {});
      waiting.push(socket);
    }
    await until("the listeners to close", () => serve.stderr().includes("listeners closed"));
    expect(serve.stderr()).toMatch(/0 descriptors free of \d+ \(LimitNOFILE, ulimit -n\): listeners closed \(HTTP 127\.0\.0\.1:\d+, live "cam1" 127\.0\.0\.1:\d+\) until 16 are/);
    const before = cpuTicks(pid);
    await Bun.sleep(1_500);
    const cores = (cpuTicks(pid) - before) / 100 / 1.5;
    console.log(`at the limit, listeners closed: ${cores.toFixed(2)} of a core`);
    expect(cores).toBeLessThan(0.3); // spinning, it was 1.0
    expect(await connects(httpPort)).toBe(false);

    limitDescriptors(pid, null);
    await until("the listeners to open", () => serve.stderr().includes("listeners open"));
    const answer = await fetch(`http://127.0.0.1:${httpPort}/status`);
    expect(answer.status).toBe(200);
    expect(await connects(livePort)).toBe(true);
    expect(serve.stderr()).not.toContain("cannot listen again");
  } finally {
    for (const socket of waiting) socket.destroy();
    await serve.stop();
    serve.cleanup();
  }
}, 20_000);
