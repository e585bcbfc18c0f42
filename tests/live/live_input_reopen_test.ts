/**
 * An `input` channel whose far end is gone (refuses the connection, or takes it and closes it at
 * once) is tried again every second for as long as it is gone, through a real `pacer serve`: it
 * says so once (and once a minute after), not at every try, and says when the input is back.
 * Before, each try was a warning line: 3,600 an hour, 86,400 a day.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { freeTcpPort } from "../helpers/ports.ts";
import { launch, prepareServe, type ServeFixture } from "../server/serve_fixture.ts";

let serve: (ServeFixture & { ready: Promise<void> }) | null = null;

afterEach(async () => {
  await serve?.stop();
  serve?.cleanup();
  serve = null;
});

/** A TCP listener on `port` that takes each connection and closes it at once. */
function closer(port: number) {
  return Bun.listen({ hostname: "127.0.0.1", port, socket: { open: (s) => void s.end(), data() {} } });
}

/** A TCP listener on `port` that sends each connection a few TS packets and keeps it open. */
function sender(port: number) {
  const packet = new Uint8Array(188).fill(0xff);
  packet.set([0x47, 0x1f, 0xff, 0x10]);
  return Bun.listen({ hostname: "127.0.0.1", port, socket: { open: (s) => void s.write(Buffer.concat(Array(10).fill(packet))), data() {} } });
}

describe("live: an input that cannot be opened again", () => {
  test("is said once while it stays down, not every second, and its return is said", async () => {
    const port = freeTcpPort();
    // Taking connections and closing them while the server starts (an input must open then), then gone.
    let far = closer(port);
    const prepared = await prepareServe({ config: ["[[live]]", 'name = "feed"', `input = "tcp://127.0.0.1:${port}"`].join("\n") });
    serve = launch(prepared.dir, prepared.mediaRoot, prepared.configPath, prepared.port);
    await serve.ready;
    await Bun.sleep(2_500);
    far.stop(true);
    await Bun.sleep(3_000);
    // About five tries by now: two or three ended at once, the rest refused.
    const said = serve.stderr().split("\n").filter((l) => l.includes("before sending anything") || l.includes("cannot connect") || l.includes("opening it again"));
    expect(said).toHaveLength(1);
    expect(said[0]).toContain("ended before sending anything; trying again every 1 s, said again every 60 tries");
    far = sender(port);
    const deadline = Date.now() + 3_000;
    while (!serve.stderr().includes("is back after") && Date.now() < deadline) await Bun.sleep(100);
    far.stop(true);
    expect(serve.stderr()).toMatch(/input tcp:\/\/127\.0\.0\.1:\d+ is back after [4-8] failed tries/);
  }, 15_000);
});
