/**
 * The control protocol over IPv6: a server whose `control` is `[::1]:PORT` answers `pacer ctl`
 * and `pacer recv`, as the usage text promises (`[ADDR]:PORT`). Before, both clients opened an
 * IPv4 socket and failed with EAFNOSUPPORT.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runPacer } from "../helpers/pacer.ts";
import { CLIP, launch, prepareServe, type ServeFixture } from "./serve_fixture.ts";

let serve: ServeFixture;
let address: string;

beforeAll(async () => {
  const prepared = await prepareServe();
  writeFileSync(join(prepared.mediaRoot, "clip.ts"), CLIP, { mode: 0o644 });
  address = `[::1]:${prepared.port}`;
  const config = readFileSync(prepared.configPath, "utf8").replace(`control = "127.0.0.1:${prepared.port}"`, `control = "${address}"`);
  writeFileSync(prepared.configPath, config);
  const launched = launch(prepared.dir, prepared.mediaRoot, prepared.configPath, prepared.port);
  await launched.ready;
  serve = launched;
});

afterAll(async () => {
  await serve?.stop();
  serve?.cleanup();
});

test("pacer ctl reaches a server on [::1]", async () => {
  const ping = await runPacer(["ctl", "--server", address, "ping"]);
  expect(ping.stderr).toBe("");
  expect(ping.code).toBe(0);
});

test("pacer recv gets a stream from a server on [::1], every byte", async () => {
  const out = join(serve.dir, "got.ts");
  const recv = await runPacer(["recv", "--from", address, "--request", "clip.ts", "--out", out], { timeoutMs: 20_000 });
  expect(recv.code, recv.stderr).toBe(0);
  expect(Buffer.from(readFileSync(out)).equals(Buffer.from(CLIP))).toBe(true);
}, 30_000);

test("the serving line names the control address as --server takes it: [::1]:PORT, not ::1:PORT", () => {
  expect(serve.stderr()).toContain(`serving control=${address} `);
});

test("a stream aimed at the [::1] server's own control port is refused naming [::1]:PORT, as a destination is written", async () => {
  const run = await runPacer(["ctl", "--server", address, "play", "clip.ts", "--to", `udp://${address}`]);
  expect(run.code).toBe(1);
  expect(run.stderr).toContain(`destination ${address} is the server's own control port`);
});
