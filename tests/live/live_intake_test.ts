/**
 * A live channel reads no faster than its max_bitrate allows (times INTAKE_HEADROOM, after a
 * burst of its ring): a real `LiveChannel` on a loopback port and a real TCP source that writes as
 * fast as the socket takes. What the channel took is its ring's byte count; the source is held
 * back by TCP, and what the channel does take is every byte, in order.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { connect, type Socket } from "node:net";
import { silentLogger } from "../../foundation/log.ts";
import { CHANNEL_RING_BYTES, INTAKE_HEADROOM, LiveChannel } from "../../server/live/live_channel.ts";

/** 8 Mbit/s: the channel reads at most 1.5 MB/s once its first 8 MiB are in. */
const MAX_BITRATE = 8_000_000;
const BOUND_BYTES_PER_S = (MAX_BITRATE / 8) * INTAKE_HEADROOM;
/** A byte stream whose every byte says where it is: a 32-bit counter per four bytes. */
const PATTERN_BYTES = 1 << 20;

let channel: LiveChannel | null = null;
let source: Socket | null = null;

afterEach(() => {
  source?.destroy();
  channel?.close();
  source = channel = null;
});

function counting(fromWord: number): Buffer {
  const chunk = Buffer.alloc(PATTERN_BYTES);
  for (let i = 0; i < PATTERN_BYTES / 4; i++) chunk.writeUInt32LE((fromWord + i) >>> 0, i * 4);
  return chunk;
}

async function openChannel(): Promise<LiveChannel> {
  const opened = new LiveChannel(
    { name: "bounded", latencyMs: 0, maxBitrate: MAX_BITRATE, listen: { host: "127.0.0.1", port: 0, text: "tcp://127.0.0.1:0" } },
    undefined,
    silentLogger,
  );
  await opened.open();
  return opened;
}

/** Connects and writes the counting stream as fast as the socket takes it, until stopped. */
async function flood(port: number): Promise<{ socket: Socket; stop: () => void }> {
  const socket = await new Promise<Socket>((resolve, reject) => {
    const s = connect({ host: "127.0.0.1", port }, () => resolve(s));
    s.once("error", reject);
  });
  socket.on("error", () => {});
  await new Promise((resolve) => socket.once("data", resolve)); // the greeting
  let stopped = false;
  void (async () => {
    for (let word = 0; !stopped && !socket.destroyed; word += PATTERN_BYTES / 4) {
      if (!socket.write(counting(word))) await new Promise((resolve) => socket.once("drain", resolve));
    }
  })();
  return { socket, stop: () => (stopped = true) };
}

describe("a live channel's intake", () => {
  test("a source pushing as fast as loopback takes is read at no more than the channel's bound, every byte in order", async () => {
    channel = await openChannel();
    const reader = channel.ring.reader();
    const scratch = new Uint8Array(1 << 20);
    let checked = 0;
    let wrongAt = -1;
    reader.onData = () => {
      for (;;) {
        const n = reader.read(scratch, 0, scratch.length);
        if (n === 0) return;
        // Byte by byte: a read may end inside a word, and the next then starts inside it.
        for (let i = 0; i < n && wrongAt < 0; i++) {
          const at = checked + i;
          if (scratch[i] !== (Math.floor(at / 4) >>> ((at % 4) * 8)) % 256) wrongAt = at;
        }
        checked += n;
      }
    };
    const pusher = await flood(channel.port);
    source = pusher.socket;
    // The first ring's worth is taken at once; then the bound holds.
    await Bun.sleep(1000);
    const from = channel.ring.written;
    const t0 = performance.now();
    await Bun.sleep(2000);
    const took = channel.ring.written - from;
    const seconds = (performance.now() - t0) / 1000;
    pusher.stop();
    const rate = took / seconds;
    console.log(`flooded channel took ${(rate / 1e6).toFixed(2)} MB/s (bound ${(BOUND_BYTES_PER_S / 1e6).toFixed(2)}); ${(channel.ring.written / 2 ** 20).toFixed(1)} MiB in all`);
    expect(channel.ring.written).toBeGreaterThan(CHANNEL_RING_BYTES); // the burst, then more: it is reading
    expect(rate).toBeLessThan(BOUND_BYTES_PER_S * 1.25);
    expect(rate).toBeGreaterThan(BOUND_BYTES_PER_S * 0.5);
    expect(reader.skippedBytes).toBe(0);
    expect(wrongAt).toBe(-1);
    expect(checked).toBe(channel.ring.written);
    expect(channel.summary().state).toBe("receiving");
  }, 15_000);
});
