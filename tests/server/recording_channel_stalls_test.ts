/**
 * A server recording of a `[[live]]` channel says what the stream lost on the way in, as `pacer
 * record` says it of a socket: with a real `pacer serve` and real TCP sources, a source that goes
 * quiet for 2 s, and one that drops and is followed by another 2 s later, make a recording whose
 * end line counts two stalls. Before, the channel's recordings always ended "gaps 0 (lost packets
 * 0, stalls 0)", whatever hole the file had. Every byte sent is in the file.
 *
 * A `.wav` recording of a channel carrying WAV streams (pacer acquire's PCM), started part-way
 * through one and with no `format` given, takes the format from the header the channel kept,
 * begins at a whole frame, and leaves out the header of the source that follows: its data is a
 * tail of the first source's samples, then all of the second's. So it does for forty short
 * sources back to back, where it often comes to a source's first byte after the next has begun.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readdirSync, readFileSync, rmSync, chmodSync, statSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { runPacer } from "../helpers/pacer.ts";
import { parseWavHeader, STREAMING_SIZE, wavHeader } from "../../protocol/wav.ts";
import { CLIP, freeTcpPort, makeSharedDir, type ServeFixture, startServe } from "./serve_fixture.ts";

const CHUNK = 1316;
let serve: ServeFixture;
let root: string;
const livePort = freeTcpPort();
const ctl = (...args: string[]) => runPacer(["ctl", "--server", serve.address, ...args]);

/** Resolves once the recording's file holds `bytes` (every byte sent has gone through the server). */
async function recorded(bytes: number): Promise<void> {
  const size = () => {
    const [name] = readdirSync(join(root, "cam")).filter((n) => n.endsWith(".ts"));
    return name === undefined ? 0 : statSync(join(root, "cam", name)).size;
  };
  for (const until = Date.now() + 10_000; size() < bytes; await Bun.sleep(20)) {
    if (Date.now() > until) throw new Error(`the recording holds ${size()} of the ${bytes} bytes sent\n${serve.stderr()}`);
  }
}

/** A source on the channel, its greeting read. */
function connectSource(): Promise<{ socket: Socket; greeting: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port: livePort });
    socket.once("data", (greeting) => resolve({ socket, greeting: String(greeting) }));
    socket.once("error", reject);
  });
}
const source = async () => (await connectSource()).socket;

/** A source taken by the channel: refused as busy (the last one's close not yet seen there), it tries again. */
async function takenSource(): Promise<Socket> {
  for (;;) {
    const { socket, greeting } = await connectSource();
    if (!greeting.includes("busy")) return socket;
    socket.destroy();
    await Bun.sleep(5);
  }
}

/** Sends `ms` of the clip at 1 Mbit/s (a chunk every 10 ms) from clip offset `from`; returns the offset after. */
async function sendFor(socket: Socket, from: number, ms: number): Promise<number> {
  let at = from;
  for (const end = Date.now() + ms; Date.now() < end && at + CHUNK <= CLIP.length; at += CHUNK) {
    socket.write(CLIP.subarray(at, at + CHUNK));
    await Bun.sleep(10);
  }
  return at;
}

beforeAll(async () => {
  root = makeSharedDir("pacer-rec-stalls-");
  chmodSync(root, 0o777); // the server may run as nobody
  serve = await startServe({
    config: [
      `recording_root = "${root}"`,
      `[[live]]\nname = "cam"\nlisten = "tcp://127.0.0.1:${livePort}"`,
      `[[recording]]\nname = "radio"\nsource = "live:cam"\nout = "radio/%H%M%S.wav"`,
      `[[recording]]\nname = "behind"\nsource = "live:cam"\nout = "behind/%H%M%S.wav"`,
      `[[recording]]\nname = "late"\nsource = "live:cam"\nout = "late/%H%M%S.wav"`,
    ].join("\n"),
  });
});

afterAll(async () => {
  await serve?.stop();
  serve?.cleanup();
  rmSync(root, { recursive: true, force: true });
});

test("a channel's source that stalls, then drops and is replaced 2 s later, makes two stalls in the recording's end line", async () => {
  expect((await ctl("record", "start", "cam")).code).toBe(0);
  const first = await source();
  let sent = await sendFor(first, 0, 600);
  await Bun.sleep(2_000); // quiet, the connection still open (within the channel's 5 s)
  sent = await sendFor(first, sent, 300);
  await new Promise<void>((resolve) => first.end(resolve));
  await Bun.sleep(2_000);
  const second = await source();
  sent = await sendFor(second, sent, 300);
  await new Promise<void>((resolve) => second.end(resolve));
  // Stopped once all of it is in the file, not after a guessed 300 ms.
  await recorded(sent);
  const stop = await ctl("record", "stop", "cam");
  expect(stop.stdout).toMatch(/^stopped recording cam: done, 1 file, \d+ bytes\n$/);
  expect(serve.stderr()).toMatch(/recording cam ended: done, 1 file, \d+ bytes, gaps 2 \(lost packets 0, stalls 2\), cc errors 0/);
  // Nothing was lost by the server: the file is what was sent.
  const [name] = readdirSync(join(root, "cam")).filter((n) => n.endsWith(".ts"));
  expect(Buffer.compare(readFileSync(join(root, "cam", name!)), Buffer.from(CLIP.subarray(0, sent)))).toBe(0);
}, 20_000);

/** Sends `samples` (s16le stereo at 16 kHz) as a WAV stream of unknown length, 10 ms a chunk, paced. */
async function sendWavStream(socket: Socket, samples: Buffer): Promise<void> {
  socket.write(wavHeader({ encoding: "s16le", rate: 16_000, channels: 2 }, STREAMING_SIZE));
  for (let at = 0; at < samples.length; at += 640) {
    socket.write(samples.subarray(at, at + 640));
    await Bun.sleep(10);
  }
}

/** A source sends `samples` as a WAV stream, the "radio" recording starts `joinAfterMs` into it; once it has ended, a second source connects. */
async function recordingJoinsThenNewSource(samples: Buffer, joinAfterMs: number): Promise<Socket> {
  const a = await source();
  const sending = sendWavStream(a, samples);
  await Bun.sleep(joinAfterMs);
  expect((await ctl("record", "start", "radio")).code).toBe(0);
  await sending;
  await new Promise<void>((resolve) => a.end(resolve));
  await Bun.sleep(300);
  return source();
}

/** s16le stereo frames, each 16-bit sample its own value, so any shift, odd start or header bytes show. */
function samples(from: number, frames: number): Buffer {
  const out = Buffer.alloc(frames * 4);
  for (let i = 0; i < 2 * frames; i++) out.writeInt16LE(((from + i) * 7) % 30_011, 2 * i);
  return out;
}

/** Once recording `name`'s file in `folder` ends with `last`, stops it; its WAV format and samples. */
async function stoppedWav(name: string, folder: string, last: Buffer) {
  const file = () => {
    const [found] = readdirSync(join(root, folder)).filter((n) => n.endsWith(".wav"));
    return found === undefined ? Buffer.alloc(0) : readFileSync(join(root, folder, found));
  };
  for (const until = Date.now() + 10_000; !file().subarray(-64).equals(last.subarray(-64)); await Bun.sleep(20)) {
    if (Date.now() > until) throw new Error(`the recording does not end with the last source's samples\n${serve.stderr()}`);
  }
  expect((await ctl("record", "stop", name)).code).toBe(0);
  const wav = file();
  const header = parseWavHeader(wav);
  if (header.status !== "ok") throw new Error("no WAV header");
  return { format: header.format, data: wav.subarray(header.dataOffset) };
}

test("a .wav recording joined part-way through a WAV stream: its format from the kept header, from a whole frame, without the next source's header", async () => {
  const first = samples(1, 16_000); // 1 s
  const second = samples(90_001, 8_000); // 0.5 s
  const b = await recordingJoinsThenNewSource(first, 400);
  await sendWavStream(b, second);
  await new Promise<void>((resolve) => b.end(resolve));
  const { format, data } = await stoppedWav("radio", "radio", second);
  expect(format).toEqual({ encoding: "s16le", rate: 16_000, channels: 2 });
  const fromFirst = data.length - second.length;
  // Joined 0.4 s in: most of the first second, never all of it, from a whole frame.
  expect(fromFirst % 4).toBe(0);
  expect(fromFirst).toBeGreaterThan(first.length / 4);
  expect(fromFirst).toBeLessThan(first.length);
  expect(data.subarray(0, fromFirst).equals(first.subarray(first.length - fromFirst))).toBe(true);
  expect(data.subarray(fromFirst).equals(second)).toBe(true);
}, 20_000);

test("a new source in another WAV format than the recording's is said at the run's end, and recorded as it comes", async () => {
  const b = await recordingJoinsThenNewSource(Buffer.alloc(16_000 * 4, 1), 300);
  // 8 kHz mono this time.
  b.write(wavHeader({ encoding: "s16le", rate: 8_000, channels: 1 }, STREAMING_SIZE));
  b.write(Buffer.alloc(1600, 2));
  await Bun.sleep(300);
  await new Promise<void>((resolve) => b.end(resolve));
  await Bun.sleep(300);
  expect((await ctl("record", "stop", "radio")).code).toBe(0); // answered once the run has ended (its line logged)
  // Before: nothing said, the 8 kHz mono samples played as 16 kHz stereo.
  expect(serve.stderr()).toMatch(/recording radio ended: done, .*format changed once \(an RTP payload type, a new source's WAV header/);
}, 20_000);

test("a .wav recording of short sources back to back, each connecting as the last is closed, leaves out every header", async () => {
  const format = { encoding: "s16le", rate: 16_000, channels: 2 } as const;
  const chunks = Array.from({ length: 40 }, (_, n) => samples(n * 200, 100));
  // Started once the first source is there: the recording waits at its first byte for its header.
  let socket = await source();
  expect((await ctl("record", "start", "behind")).code).toBe(0);
  for (let n = 0; n < chunks.length; n++) {
    // The server closing this source (its FIN here) is the next one's cue: it connects at once, so
    // the recording often reads on only once the next source has begun, a whole source behind.
    const closed = new Promise<void>((resolve) => socket.once("end", resolve));
    socket.end(Buffer.concat([wavHeader(format, STREAMING_SIZE), chunks[n]!]));
    await closed;
    if (n + 1 < chunks.length) socket = await takenSource();
  }
  const all = Buffer.concat(chunks);
  const recorded = await stoppedWav("behind", "behind", all);
  expect(recorded.format).toEqual(format);
  // Before: the channel kept the newest source's head only, so a recording that came to a source
  // after the next had begun took its 44-byte header for 11 frames of samples.
  expect(recorded.data.length).toBe(all.length);
  expect(recorded.data.equals(all)).toBe(true);
}, 30_000);

test("a .wav recording started after a WAV source has closed takes the next source's format, not the closed one's", async () => {
  // An 8 kHz mono source sends and is gone.
  const gone = await source();
  gone.write(wavHeader({ encoding: "s16le", rate: 8_000, channels: 1 }, STREAMING_SIZE));
  gone.write(Buffer.alloc(1600, 3));
  await new Promise<void>((resolve) => gone.end(resolve));
  await Bun.sleep(300);
  expect((await ctl("record", "start", "late")).code).toBe(0);
  const next = samples(7, 8_000); // 0.5 s of 16 kHz stereo
  const b = await takenSource();
  await sendWavStream(b, next);
  await new Promise<void>((resolve) => b.end(resolve));
  const recorded = await stoppedWav("late", "late", next);
  // Before: the closed source's 8 kHz mono, and the samples said to be in another format.
  expect(recorded.format).toEqual({ encoding: "s16le", rate: 16_000, channels: 2 });
  expect(recorded.data.equals(next)).toBe(true);
  expect(serve.stderr()).not.toMatch(/recording late ended: .*format changed/);
}, 20_000);
