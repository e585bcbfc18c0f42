import { describe, expect, test } from "bun:test";
import { TsSeams } from "../../protocol/ts_seams.ts";
import { TS_PID_NULL, TS_SIZE, TsScanner, tsGetCc, tsGetDiscontinuity, tsGetPid, tsHasPayload, tsHasPcr, tsInit, tsSetCc, tsSetPid } from "../../protocol/mpegts.ts";
import { makeCbrTs, sameButSeamMends } from "../helpers/mpeg_fixtures.ts";

/** Each PID's continuity errors in `ts` (a packet without payload keeps the counter), and the PIDs of flagged packets, in order. */
function audit(ts: Uint8Array): { ccErrors: number; flagged: Array<{ packet: number; pid: number; pcr: boolean }> } {
  const last = new Map<number, number>();
  let ccErrors = 0;
  const flagged: Array<{ packet: number; pid: number; pcr: boolean }> = [];
  for (let at = 0; at + TS_SIZE <= ts.length; at += TS_SIZE) {
    const pid = tsGetPid(ts, at);
    if (tsGetDiscontinuity(ts, at)) flagged.push({ packet: at / TS_SIZE, pid, pcr: tsHasPcr(ts, at) });
    if (pid === TS_PID_NULL) continue;
    const cc = tsGetCc(ts, at);
    const before = last.get(pid);
    if (before !== undefined && cc !== ((before + (tsHasPayload(ts, at) ? 1 : 0)) & 0xf)) ccErrors++;
    last.set(pid, cc);
  }
  return { ccErrors, flagged };
}

/**
 * `turns` of `file` played back to back through a scanner in chunks of `chunk` bytes (so packets
 * split across loads reach the seams as joined copies), with a seam at each turn: what is sent.
 */
function loopThrough(file: Uint8Array, turns: number, chunk: number): { sent: Uint8Array; seams: TsSeams } {
  const sent = new Uint8Array(file.length * turns);
  for (let t = 0; t < turns; t++) sent.set(file, t * file.length);
  const seams = new TsSeams({ setByteAt: (offset, value) => (sent[offset] = value) });
  const scanner = new TsScanner();
  const onPacket = (buf: Uint8Array, at: number, offset: number) => seams.packet(buf, at, offset);
  for (let t = 0; t < turns; t++) {
    if (t > 0) {
      scanner.flush(onPacket, true);
      seams.seamAt(t * file.length);
    }
    // The scanner gets copies: what reaches `sent` is only what the seams write there.
    const turn = file.slice();
    for (let from = 0; from < turn.length; from += chunk) scanner.push(turn.slice(from, Math.min(from + chunk, turn.length)), onPacket);
  }
  scanner.flush(onPacket);
  return { sent, seams };
}

describe("TsSeams: a stream that starts over keeps its counters and flags its new time base", () => {
  // 0.3 s at 1 Mbit/s: 199 packets, a PCR-only packet on 0x100 every 20 ms, a counting payload on 0x101.
  const file = makeCbrTs({ bitrate: 1_000_000, duration: 0.3 });

  test("the file alone is continuous, and three turns of it as read are not", () => {
    expect(audit(file).ccErrors).toBe(0);
    const raw = new Uint8Array(file.length * 3);
    for (let t = 0; t < 3; t++) raw.set(file, t * file.length);
    // 0x101's counter runs 0..n and starts at 0 again; 0x100 carries no payload, so only 0x101 jumps.
    expect(audit(raw).ccErrors).toBe(2);
  });

  for (const chunk of [TS_SIZE * 1000, 1000, 187, 4096 + 77]) {
    test(`three turns in ${chunk}-byte loads: no continuity error, each seam flagged on the PCR PID's first packet, nothing else changed`, () => {
      const { sent, seams } = loopThrough(file, 3, chunk);
      const { ccErrors, flagged } = audit(sent);
      expect(ccErrors).toBe(0);
      expect(seams.seams).toBe(2);
      // The first packet of each turn is a PCR packet of 0x100 (makeCbrTs): it is the one flagged.
      const packets = file.length / TS_SIZE;
      expect(flagged).toEqual([
        { packet: packets, pid: 0x100, pcr: true },
        { packet: 2 * packets, pid: 0x100, pcr: true },
      ]);
      // Only the counters and the flag may differ from the input.
      for (let t = 1; t < 3; t++) expect(sameButSeamMends(sent.subarray(t * file.length, (t + 1) * file.length), file)).toBe(true);
      // The first turn goes out as it is.
      expect(Buffer.from(sent.subarray(0, file.length)).equals(Buffer.from(file))).toBe(true);
    });
  }

  test("a seam where the clock runs on (a live source that reconnects) moves the counters but flags no new time base", () => {
    // 0.6 s of stream cut in two at a PCR: the second half's PCRs go on from the first's.
    const whole = makeCbrTs({ bitrate: 1_000_000, duration: 0.6 });
    let cut = 0;
    for (let at = whole.length / 2 - (whole.length / 2) % TS_SIZE; at < whole.length; at += TS_SIZE) {
      if (tsHasPcr(whole, at)) {
        cut = at;
        break;
      }
    }
    expect(cut).toBeGreaterThan(0);
    // The second half's payload counters start again at 0, as a new connection's would.
    const second = whole.slice(cut);
    let cc = 0;
    for (let at = 0; at < second.length; at += TS_SIZE) if (tsGetPid(second, at) === 0x101) tsSetCc(second, at, cc++);
    const sent = new Uint8Array(cut + second.length);
    sent.set(whole.subarray(0, cut));
    sent.set(second, cut);
    const seams = new TsSeams({ setByteAt: (offset, value) => (sent[offset] = value) });
    const scanner = new TsScanner();
    const onPacket = (buf: Uint8Array, at: number, offset: number) => seams.packet(buf, at, offset);
    scanner.push(sent.slice(0, cut), onPacket);
    seams.seamAt(cut);
    scanner.push(sent.slice(cut), onPacket);
    scanner.flush(onPacket);
    expect(audit(second).ccErrors).toBe(0);
    expect(audit(sent).ccErrors).toBe(0);
    expect(audit(sent).flagged).toEqual([]);
  });

  test("a stream of 300 PIDs (past the table's first slots, and its growth) is mended on every one", () => {
    const pids = 300;
    const turn = new Uint8Array(3 * pids * TS_SIZE);
    for (let k = 0; k < 3 * pids; k++) {
      const at = k * TS_SIZE;
      tsInit(turn, at);
      tsSetPid(turn, at, 0x20 + (k % pids) * 7);
      tsSetCc(turn, at, 5 + Math.floor(k / pids)); // each PID: 5, 6, 7, then 5 again after the seam
    }
    const { sent, seams } = loopThrough(turn, 2, 4096);
    expect(seams.seams).toBe(1);
    expect(audit(sent).ccErrors).toBe(0);
    expect(tsGetCc(sent, turn.length)).toBe(8);
  });

  test("no seam, nothing written", () => {
    const writes: number[] = [];
    const seams = new TsSeams({ setByteAt: (offset) => writes.push(offset) });
    const scanner = new TsScanner();
    scanner.push(file.slice(), (buf, at, offset) => seams.packet(buf, at, offset));
    scanner.flush((buf, at, offset) => seams.packet(buf, at, offset));
    expect(writes).toEqual([]);
    expect(seams.seams).toBe(0);
  });

  test("a packet without payload after the seam keeps the counter it follows; null packets and PIDs new after the seam are left alone", () => {
    /** Packets of (PID, counter, has payload): adaptation-only where it has none. */
    const packets = (list: Array<[number, number, boolean]>) => {
      const out = new Uint8Array(list.length * TS_SIZE);
      list.forEach(([pid, cc, payload], k) => {
        const at = k * TS_SIZE;
        tsInit(out, at);
        tsSetPid(out, at, pid);
        out[at + 3] = payload ? 0x10 : 0x20;
        if (!payload) out[at + 4] = TS_SIZE - 5;
        tsSetCc(out, at, cc);
      });
      return out;
    };
    const first = packets([[0x101, 5, true], [0x101, 6, true], [TS_PID_NULL, 9, true], [0x101, 6, false]]);
    const second = packets([[0x101, 5, false], [0x101, 6, true], [0x300, 11, true]]);
    const stream = new Uint8Array(first.length + second.length);
    stream.set(first);
    stream.set(second, first.length);
    const sent = stream.slice();
    const seams = new TsSeams({ setByteAt: (offset, value) => (sent[offset] = value) });
    const scanner = new TsScanner();
    const onPacket = (buf: Uint8Array, at: number, offset: number) => seams.packet(buf, at, offset);
    scanner.push(first.slice(), onPacket);
    scanner.flush(onPacket, true);
    seams.seamAt(first.length);
    scanner.push(second.slice(), onPacket);
    scanner.flush(onPacket);
    const ccs = [];
    for (let at = 0; at < sent.length; at += TS_SIZE) ccs.push([tsGetPid(sent, at), tsGetCc(sent, at)]);
    // After the seam 0x101's adaptation-only packet keeps 6 and its payload goes on at 7.
    expect(ccs).toEqual([[0x101, 5], [0x101, 6], [TS_PID_NULL, 9], [0x101, 6], [0x101, 6], [0x101, 7], [0x300, 11]]);
    expect(audit(sent).ccErrors).toBe(0);
  });
});
