/**
 * Which datagrams `pacer recv` takes for its stream (client/stream_filter.ts), with what came
 * before the play reply held for it (client/early_packets.ts): the SSRC the reply names wins over
 * whichever packet came first, and a reply that names none (an older server) leaves the first
 * packet to fix it, as before.
 */
import { describe, expect, test } from "bun:test";
import { EarlyPackets } from "../../client/early_packets.ts";
import { StreamFilter } from "../../client/stream_filter.ts";

const STREAM = 0x5354_524d;
const INTRUDER = 0x494e_5452;
const SERVER_PORT = 40_000;
const INTRUDER_PORT = 50_000;

/** A filter as recv has it, writing the stream's payloads as text; `arrive` from the server's address. */
function intake(holdBytes?: number) {
  const written: string[] = [];
  const noReply: number[] = [];
  const filter = new StreamFilter("127.0.0.1", {
    onDatagram: (payload) => written.push(new TextDecoder().decode(payload)),
    onNoReply: (held) => noReply.push(held),
    holdBytes,
  });
  const arrive = (port: number, ssrc: number, text: string) => filter.arrive("127.0.0.1", port, ssrc, new TextEncoder().encode(text));
  return { filter, written, noReply, arrive };
}

describe("pacer recv's stream filter", () => {
  test("an intruder first, then the stream, all before the reply: the reply's SSRC is taken, in order, and the intruder refused", () => {
    const recv = intake();
    recv.arrive(INTRUDER_PORT, INTRUDER, "intruder 1");
    recv.arrive(SERVER_PORT, STREAM, "stream 1");
    recv.arrive(INTRUDER_PORT, INTRUDER, "intruder 2");
    recv.arrive(SERVER_PORT, STREAM, "stream 2");
    expect(recv.written).toEqual([]);
    expect(recv.filter.held).toBe(4);
    recv.filter.expect(STREAM);
    expect(recv.filter.held).toBe(0);
    recv.arrive(SERVER_PORT, STREAM, "stream 3");
    recv.arrive(INTRUDER_PORT, INTRUDER, "intruder 3");
    expect(recv.written).toEqual(["stream 1", "stream 2", "stream 3"]);
    expect(recv.filter.refusedLine()).toBe(
      `refused 3 datagrams not of the stream: 3 from it with another SSRC than the stream's; the first from 127.0.0.1:${INTRUDER_PORT}`,
    );
  });

  test("a reply that names no SSRC (an older server) leaves the first packet to fix it", () => {
    const recv = intake();
    recv.arrive(SERVER_PORT, STREAM, "stream 1");
    recv.filter.expect(null);
    recv.arrive(INTRUDER_PORT, INTRUDER, "intruder 1");
    recv.arrive(SERVER_PORT, STREAM, "stream 2");
    expect(recv.written).toEqual(["stream 1", "stream 2"]);
    expect(recv.filter.refused).toBe(1);
  });

  test("requested again, the next reply names the new job's SSRC: the old one's stragglers are refused", () => {
    const recv = intake();
    recv.filter.expect(STREAM);
    recv.arrive(SERVER_PORT, STREAM, "first job");
    recv.filter.newStream();
    recv.arrive(SERVER_PORT, STREAM, "straggler");
    recv.arrive(SERVER_PORT, STREAM + 1, "second job 1");
    recv.filter.expect(STREAM + 1);
    recv.arrive(SERVER_PORT, STREAM + 1, "second job 2");
    expect(recv.written).toEqual(["first job", "second job 1", "second job 2"]);
    expect(recv.filter.refused).toBe(1);
  });

  test("another address is refused whether or not the reply has come, and is not held", () => {
    const recv = intake();
    const payload = new TextEncoder().encode("stranger");
    recv.filter.arrive("127.0.0.2", 5000, STREAM, payload);
    expect(recv.filter.held).toBe(0);
    recv.filter.expect(STREAM);
    recv.filter.arrive("127.0.0.2", 5000, STREAM, payload);
    expect(recv.written).toEqual([]);
    expect(recv.filter.refusedLine()).toBe("refused 2 datagrams not of the stream: 2 not from the server's address 127.0.0.1; the first from 127.0.0.2:5000");
  });

  test("a stream that fills the wait with no reply (replies lost) goes on from its first packet, said once", () => {
    const recv = intake(3 * (12 + 8));
    for (let i = 1; i <= 5; i++) recv.arrive(SERVER_PORT, STREAM, `stream ${i}`);
    expect(recv.noReply).toEqual([3]);
    expect(recv.written).toEqual(["stream 1", "stream 2", "stream 3", "stream 4", "stream 5"]);
    recv.filter.expect(STREAM); // the reply, late: the same SSRC
    recv.arrive(SERVER_PORT, STREAM, "stream 6");
    expect(recv.written).toHaveLength(6);
  });
});

describe("what recv holds until the reply", () => {
  test("holds what fits, refuses what does not, and gives it back once, in order", () => {
    const early = new EarlyPackets(64);
    expect(early.hold(1, 11, new Uint8Array(20).fill(1))).toBe(true); // 12 + 20
    expect(early.hold(2, 22, new Uint8Array(20).fill(2))).toBe(true); // 64
    expect(early.hold(3, 33, new Uint8Array(1))).toBe(false);
    const seen: [number, number, number[]][] = [];
    early.release((port, ssrc, payload) => seen.push([port, ssrc, [...new Set(payload)]]));
    expect(seen).toEqual([
      [1, 11, [1]],
      [2, 22, [2]],
    ]);
    early.release(() => seen.push([0, 0, []]));
    expect(seen).toHaveLength(2);
    expect(early.hold(3, 33, new Uint8Array(1))).toBe(true);
  });
});
