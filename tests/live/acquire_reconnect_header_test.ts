/**
 * `pacer acquire` of PCM reconnects after a drop with its WAV header first: to the channel each
 * connection is a new source, told by its first bytes. Before, the header went on the first
 * connection only, and after one drop a `.wav` recording started on the channel failed ("the
 * sample format is not known"), as an `rtp://` job refused the samples as data. A real `pacer
 * serve`, a real `pacer acquire`, and a TCP relay between them that cuts the first connection.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { chmodSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { parseWavHeader, wavHeader } from "../../protocol/wav.ts";
import { runPacer, startPacer } from "../helpers/pacer.ts";
import { freeTcpPort, makeSharedDir, type ServeFixture, startServe } from "../server/serve_fixture.ts";

const FORMAT = { encoding: "s16le", rate: 48_000, channels: 2 } as const;
/** 8 s of frames that count: left i, right its complement, so a frame out of step shows. */
const FRAMES = 8 * 48_000;

let serve: ServeFixture;
let root: string;
let channelPort: number;

beforeAll(async () => {
  channelPort = freeTcpPort();
  root = makeSharedDir("pacer-acquire-reconnect-");
  chmodSync(root, 0o777); // the server may run as nobody
  serve = await startServe({
    config: [
      `recording_root = "${root}"`,
      `[[live]]\nname = "cam"\nlisten = "tcp://127.0.0.1:${channelPort}"\nlatency_ms = 0`,
      `[[recording]]\nname = "take"\nsource = "live:cam"\nout = "take/%H%M%S.wav"`,
    ].join("\n"),
  });
});

afterAll(async () => {
  await serve?.stop();
  serve?.cleanup();
  rmSync(root, { recursive: true, force: true });
});

/** A TCP relay to the channel whose connections the test can cut, as a network failure would. */
async function relayTo(port: number): Promise<{ port: number; cutAll(): void; server: Server }> {
  const pairs: Socket[][] = [];
  const server = createServer((client) => {
    const upstream = connect({ host: "127.0.0.1", port });
    for (const s of [client, upstream]) s.on("error", () => {});
    client.pipe(upstream);
    upstream.pipe(client);
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
    pairs.push([client, upstream]);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: (server.address() as { port: number }).port, server, cutAll: () => pairs.splice(0).flat().forEach((s) => s.destroy()) };
}

async function waitFor(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  for (const until = Date.now() + ms; !ok(); await Bun.sleep(50)) if (Date.now() > until) throw new Error(`no ${what}:\n${serve.stderr()}`);
}

test("after a drop and a reconnect, a .wav recording started on the channel records acquire's samples, in step", async () => {
  const samples = Buffer.alloc(FRAMES * 4);
  for (let i = 0; i < FRAMES; i++) {
    samples.writeUInt16LE(i & 0xffff, i * 4);
    samples.writeUInt16LE(~i & 0xffff, i * 4 + 2);
  }
  const input = join(serve.dir, "count.wav");
  writeFileSync(input, Buffer.concat([wavHeader(FORMAT, samples.length), samples]), { mode: 0o644 });
  const relay = await relayTo(channelPort);
  const acquire = startPacer(["acquire", input, "--to", `tcp://127.0.0.1:${relay.port}`]);
  acquire.stdout.on("data", () => {});
  acquire.stderr.on("data", () => {});
  const connections = () => serve.stderr().split("source connected").length - 1;
  try {
    await waitFor("first source", () => connections() === 1);
    await Bun.sleep(500);
    relay.cutAll();
    await waitFor("second source", () => connections() === 2);
    await Bun.sleep(300);
    expect((await runPacer(["ctl", "--server", serve.address, "record", "start", "take"])).code).toBe(0);
    await Bun.sleep(1_000);
    const stop = await runPacer(["ctl", "--server", serve.address, "record", "stop", "take"]);
    expect(stop.stderr).toBe("");
    expect(stop.code).toBe(0);
  } finally {
    acquire.kill("SIGTERM");
    relay.server.close();
    relay.cutAll();
  }
  const [name] = readdirSync(join(root, "take")).filter((n) => !n.startsWith(".")); // not the lock
  const file = readFileSync(join(root, "take", name!));
  const header = parseWavHeader(file, name, file.length);
  if (header.status !== "ok") throw new Error("no whole WAV header");
  expect(header.format).toEqual(FORMAT);
  const recorded = file.subarray(header.dataOffset, header.dataOffset + header.dataBytes!);
  expect(recorded.length).toBeGreaterThan(48_000 * 4 * 0.5);
  // Every frame the next of the one before: acquire's own, in step, from a whole frame on.
  let outOfStep = 0;
  for (let at = 0; at + 8 <= recorded.length; at += 4) {
    const left = recorded.readUInt16LE(at);
    if (recorded.readUInt16LE(at + 2) !== (~left & 0xffff) || recorded.readUInt16LE(at + 4) !== ((left + 1) & 0xffff)) outOfStep++;
  }
  expect(outOfStep).toBe(0);
}, 30_000);
