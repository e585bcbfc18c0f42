/**
 * `pacer acquire`'s PCM in a live channel, recorded by the server. A reconnect after a drop sends
 * the WAV header first: to the channel each connection is a new source, told by its first bytes.
 * Before, the header went on the first connection only, and after one drop a `.wav` recording
 * started on the channel failed ("the sample format is not known"), as an `rtp://` job refused the
 * samples as data. And `record start NAME` of a channel carrying PCM records a `.wav`: it wrote
 * bare samples into a `.ts`, with nothing to say their format, and ended "not MPEG-TS". A real
 * `pacer serve`, a real `pacer acquire`, and a TCP relay between them that cuts the connection.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { chmodSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
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
  root = makeSharedDir("pacer-channel-pcm-");
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

/** A WAV of FRAMES counting frames, for acquire. */
function countingWav(): string {
  const samples = Buffer.alloc(FRAMES * 4);
  for (let i = 0; i < FRAMES; i++) {
    samples.writeUInt16LE(i & 0xffff, i * 4);
    samples.writeUInt16LE(~i & 0xffff, i * 4 + 2);
  }
  const input = join(serve.dir, "count.wav");
  writeFileSync(input, Buffer.concat([wavHeader(FORMAT, samples.length), samples]), { mode: 0o644 });
  return input;
}

/** The one recording in `folder` (not its lock) is a WAV of FORMAT whose every frame is the next of the one before. */
function expectCountingWav(folder: string): void {
  const names = readdirSync(folder).filter((n) => !n.startsWith(".")); // not the lock
  expect(names).toEqual([expect.stringMatching(/\.wav$/)]);
  const file = readFileSync(join(folder, names[0]!));
  const header = parseWavHeader(file, names[0], file.length);
  if (header.status !== "ok") throw new Error("no whole WAV header");
  expect(header.format).toEqual(FORMAT);
  const recorded = file.subarray(header.dataOffset, header.dataOffset + header.dataBytes!);
  expect(recorded.length).toBeGreaterThan(48_000 * 4 * 0.5);
  // Acquire's own samples, in step, from a whole frame on.
  let outOfStep = 0;
  for (let at = 0; at + 8 <= recorded.length; at += 4) {
    const left = recorded.readUInt16LE(at);
    if (recorded.readUInt16LE(at + 2) !== (~left & 0xffff) || recorded.readUInt16LE(at + 4) !== ((left + 1) & 0xffff)) outOfStep++;
  }
  expect(outOfStep).toBe(0);
}

const ctl = (...args: string[]) => runPacer(["ctl", "--server", serve.address, ...args]);
const connections = () => serve.stderr().split("source connected").length - 1;

/** `record start NAME`, a second of the channel, `record stop NAME`: each acknowledged. */
async function recordASecond(name: string): Promise<void> {
  expect((await ctl("record", "start", name)).code).toBe(0);
  await Bun.sleep(1_000);
  const stop = await ctl("record", "stop", name);
  expect(stop.stderr).toBe("");
  expect(stop.code).toBe(0);
}

/**
 * `pacer acquire INPUT` into the channel through a relay that cuts its first connection; once it
 * has connected again, a second of the channel is recorded by `take` into a fresh folder.
 */
async function recordAfterADrop(input: string, stdin?: Uint8Array): Promise<string> {
  const relay = await relayTo(channelPort);
  const before = connections();
  const acquire = startPacer(["acquire", input, "--to", `tcp://127.0.0.1:${relay.port}`]);
  acquire.stdout.on("data", () => {});
  acquire.stderr.on("data", () => {});
  acquire.stdin.on("error", () => {});
  let feeding = true;
  // Stdin as a sound card gives it: a tenth of a second at a time.
  const fed = (async () => {
    const tenth = FORMAT.rate * 4 / 10;
    for (let at = 0; stdin && feeding && at < stdin.length; at += tenth) {
      acquire.stdin.write(stdin.subarray(at, at + tenth));
      await Bun.sleep(100);
    }
  })();
  try {
    await waitFor("first source", () => connections() === before + 1);
    await Bun.sleep(500);
    relay.cutAll();
    await waitFor("second source", () => connections() === before + 2);
    await Bun.sleep(300);
    await recordASecond("take");
  } finally {
    feeding = false;
    await fed;
    acquire.kill("SIGTERM");
    relay.server.close();
    relay.cutAll();
  }
  const folder = join(root, "take");
  renameSync(folder, `${folder}-${before}`); // the next story's take goes into a folder of its own
  return `${folder}-${before}`;
}

test("after a drop and a reconnect, a .wav recording started on the channel records acquire's samples, in step", async () => {
  expectCountingWav(await recordAfterADrop(countingWav()));
}, 30_000);

test("a WAV on acquire's stdin (arecord -t wav) has its header sent again after a drop too: the recording after it has the samples, in step", async () => {
  expectCountingWav(await recordAfterADrop("-", readFileSync(countingWav())));
}, 30_000);

test("record start NAME of a channel carrying acquire's PCM records a .wav of its samples, not bare samples in a .ts", async () => {
  const before = connections();
  const acquire = startPacer(["acquire", countingWav(), "--to", `tcp://127.0.0.1:${channelPort}`]);
  acquire.stdout.on("data", () => {});
  acquire.stderr.on("data", () => {});
  try {
    await waitFor("source", () => connections() > before);
    await Bun.sleep(300);
    await recordASecond("cam");
  } finally {
    acquire.kill("SIGTERM");
  }
  expect(serve.stderr()).not.toContain("not MPEG-TS");
  expectCountingWav(join(root, "cam"));
}, 30_000);
