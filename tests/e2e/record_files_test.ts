/**
 * `pacer record`'s files as a hostile tester left them: a dangling symlink among --keep's names
 * (the recording died with ENOENT), patterns that name a folder (a file `odd/-1`, or EISDIR once
 * data came), size rotation with --keep reusing a freed name (files out of order), a dangling
 * symlink at the file's own name (EEXIST). Real `pacer record -` subprocesses fed on stdin.
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { execFileSync, spawn } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hiddenPathFor } from "../../recorder/lock.ts";
import { patPackets } from "../helpers/mpeg_fixtures.ts";
import { runPacer } from "../helpers/pacer.ts";
import { connectWhenListening, freeTcpPort } from "../helpers/ports.ts";

/** Packets a 64KiB size rotation puts in a file: it cuts at the first packet that reaches 65,536 bytes. */
const PACKETS_PER_64KIB_FILE = Math.ceil(65_536 / 188);

let dir: string;
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), "pacer-record-files-"))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const year = () => String(new Date().getFullYear());

test("--keep passes over a dangling symlink and a link to a file: the recording goes on, the links and their target are left alone", async () => {
  mkdirSync(join(dir, "k"));
  symlinkSync("/nonexistent", join(dir, "k/x-1999.ts"));
  writeFileSync(join(dir, "elsewhere.ts"), "not a recording");
  symlinkSync(join(dir, "elsewhere.ts"), join(dir, "k/x-1998.ts"));
  const input = patPackets(5 * PACKETS_PER_64KIB_FILE, 0);
  const r = await runPacer(["record", "-", "--out", join(dir, "k/x-%Y.ts"), "--keep", "2", "--rotate", "64KiB"], { stdin: input });
  expect(r.stderr).toMatch(/^pacer: recorded 5 files/);
  expect(r.code).toBe(0);
  expect(lstatSync(join(dir, "k/x-1999.ts")).isSymbolicLink()).toBe(true);
  expect(lstatSync(join(dir, "k/x-1998.ts")).isSymbolicLink()).toBe(true);
  expect(readFileSync(join(dir, "elsewhere.ts"), "utf8")).toBe("not a recording");
  const recordings = readdirSync(join(dir, "k")).filter((n) => lstatSync(join(dir, "k", n)).isFile() && !n.startsWith("."));
  expect(recordings.sort()).toEqual([`x-${year()}-3.ts`, `x-${year()}-4.ts`]);
});

test("a pattern that names a folder is one line and exit 2, with nothing created", async () => {
  for (const out of ["odd/", "odd/%Y%m%d/%H/", "odd/.", "odd/.."]) {
    const r = await runPacer(["record", "-", "--out", out], { cwd: dir, stdin: patPackets(10, 0) });
    expect(r.stderr).toMatch(/^pacer: error: --out "[^"]*": names a folder; expected a file name at the end/);
    expect(r.stderr.trim().split("\n").length).toBe(1);
    expect(r.code).toBe(2);
    expect(readdirSync(dir)).toEqual([]);
  }
});

test("size rotation with --keep: the -N suffix counts up, never taking a name --keep freed, so names follow time", async () => {
  const input = patPackets(14 * PACKETS_PER_64KIB_FILE - 100, 0);
  const r = await runPacer(["record", "-", "--out", join(dir, "x-%Y.ts"), "--keep", "2", "--rotate", "64KiB"], { stdin: input });
  // A count, the first name and the last (not every name: a run with rotate 1 s makes 86,400 a day).
  expect(r.stderr).toStartWith(`pacer: recorded 14 files (first ${join(dir, `x-${year()}.ts`)}, last ${join(dir, `x-${year()}-13.ts`)}), `);
  expect(r.code).toBe(0);
  const left = readdirSync(dir).filter((n) => !n.startsWith(".")).sort();
  expect(left).toEqual([`x-${year()}-12.ts`, `x-${year()}-13.ts`]);
  // The two newest files, in name order, are the stream's last bytes.
  const tail = Buffer.concat(left.map((n) => readFileSync(join(dir, n))));
  expect(tail.equals(input.subarray(input.length - tail.length))).toBe(true);
  expect(readFileSync(join(dir, left[0]!)).length).toBe(PACKETS_PER_64KIB_FILE * 188);
});

test("--keep leaves another recorder's names that look like its own taken again: x-%Y-%H%M.ts beside x-%Y.ts", async () => {
  // Another recorder's files, older than any of this one's: each would read as x-YEAR.ts taken again.
  const others = [`x-${year()}-1230.ts`, `x-${year()}-1245.ts`];
  for (const name of others) writeFileSync(join(dir, name), "another recorder's");
  const input = patPackets(4 * PACKETS_PER_64KIB_FILE - 100, 0);
  const r = await runPacer(["record", "-", "--out", join(dir, "x-%Y.ts"), "--keep", "2", "--rotate", "64KiB"], { stdin: input });
  expect(r.code).toBe(0);
  for (const name of others) expect(readFileSync(join(dir, name), "utf8")).toBe("another recorder's");
  // Its own -N names are still its own: the two newest are kept, the older deleted.
  const left = readdirSync(dir).filter((n) => !n.startsWith(".")).sort();
  expect(left).toEqual([...others, `x-${year()}-2.ts`, `x-${year()}-3.ts`].sort());
  // A later run finds what this one took again, deleted as its own (the other's names still are not).
  const again = await runPacer(["record", "-", "--out", join(dir, "x-%Y.ts"), "--keep", "1"], { stdin: patPackets(20, 0) });
  expect(again.code).toBe(0);
  expect(readdirSync(dir).filter((n) => !n.startsWith(".")).sort()).toEqual([...others, `x-${year()}.ts`].sort());
});

test("--keep with --part: a name taken again counts as its own while it is still NAME.part, so the oldest go", async () => {
  const input = patPackets(5 * PACKETS_PER_64KIB_FILE - 100, 0);
  const r = await runPacer(["record", "-", "--out", join(dir, "p-%Y.ts"), "--keep", "2", "--rotate", "64KiB", "--part"], { stdin: input });
  expect(r.code).toBe(0);
  // 8a05114 struck each name off the list while its file was still p-YEAR-N.ts.part: none was deleted.
  expect(readdirSync(dir).filter((n) => !n.startsWith(".")).sort()).toEqual([`p-${year()}-3.ts`, `p-${year()}-4.ts`]);
});

test("a FIFO in place of the list of names taken again is said and passed over: it held the recorder (serve with it) until a reader came", async () => {
  const list = hiddenPathFor(join(dir, "f-%Y.ts"), ".again");
  execFileSync("mkfifo", [list]);
  // Without the fix the open waits for a reader: this one comes 2 s on, and takes the name unsaid.
  const reader = spawn("sh", ["-c", `sleep 2; exec cat '${list}' >/dev/null`]);
  try {
    const input = patPackets(2 * PACKETS_PER_64KIB_FILE - 100, 0);
    const r = await runPacer(["record", "-", "--out", join(dir, "f-%Y.ts"), "--keep", "5", "--rotate", "64KiB"], { stdin: input });
    expect(r.stderr).toContain(`cannot write ${list}: it is there and is not a file (a FIFO or a device); remove it; --keep will not delete`);
    expect(r.code).toBe(0);
    expect(readdirSync(dir).filter((n) => !n.startsWith(".")).sort()).toEqual([`f-${year()}-1.ts`, `f-${year()}.ts`]);
  } finally {
    reader.kill();
  }
});

test("a dangling symlink at the file's name is a name taken: the file gets -1, and the link stays", async () => {
  symlinkSync("/nowhere", join(dir, `r-${year()}.ts`));
  const input = patPackets(20, 0);
  const r = await runPacer(["record", "-", "--out", join(dir, "r-%Y.ts")], { stdin: input });
  expect(r.code).toBe(0);
  expect(readFileSync(join(dir, `r-${year()}-1.ts`)).equals(input)).toBe(true);
  expect(lstatSync(join(dir, `r-${year()}.ts`)).isSymbolicLink()).toBe(true);
  expect(existsSync("/nowhere")).toBe(false);
});

test("what is not MPEG-TS, recorded as .ts, is said in the summary: no packets found, not a clean cc errors 0", async () => {
  // Bytes with no 0x47 at all: no packet can be in sync anywhere.
  const garbage = Buffer.alloc(100_000);
  for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 7919 + 13) % 71;
  const r = await runPacer(["record", "-", "--out", join(dir, "g.ts")], { stdin: garbage });
  expect(r.stderr).toMatch(/^pacer: warn: recorded 1 file, 100000 bytes, [\d.]+ s, no MPEG-TS packets found, gaps 0 /);
  expect(r.code).toBe(0);
  expect(readFileSync(join(dir, "g.ts")).equals(garbage)).toBe(true); // recorded as it came, all the same
  // A few packets and then much else: most of it was not TS either.
  const mixed = Buffer.concat([patPackets(10, 0), garbage]);
  const some = await runPacer(["record", "-", "--out", join(dir, "m.ts")], { stdin: mixed });
  expect(some.stderr).toMatch(/^pacer: warn: recorded 1 file, 101880 bytes, [\d.]+ s, not MPEG-TS: (9|10) packets in 101880 bytes, gaps 0 /);
  // A real TS says nothing of the kind.
  const good = await runPacer(["record", "-", "--out", join(dir, "good.ts")], { stdin: patPackets(200, 0) });
  expect(good.stderr).toMatch(/^pacer: recorded 1 file, 37600 bytes, [\d.]+ s, gaps 0 /);
});

test("garbage between packets of a .ts (a keep-alive datagram in a UDP stream) is no CC error: the packet before it is a packet", async () => {
  // 100 bytes with no 0x47 after every tenth packet; the PAT's CC runs on unbroken.
  const junk = Buffer.alloc(100, 0x11);
  const parts: Buffer[] = [];
  for (let k = 0; k < 50; k += 10) parts.push(patPackets(10, k), junk);
  const r = await runPacer(["record", "-", "--out", join(dir, "k.ts")], { stdin: Buffer.concat(parts) });
  expect(r.stderr).toMatch(/^pacer: recorded 1 file, 9900 bytes, [\d.]+ s, gaps 0 \(lost packets 0, stalls 0\), cc errors 0\n/);
  expect(r.code).toBe(0);
});

test("size rotation of a .wav (and of raw bytes) cuts at SIZE in whole frames, however much one read of stdin brought", async () => {
  // 1 MB of s24le stereo (6-byte frames, which 64 KiB is no multiple of) in one write: before, each
  // file took whole reads of the pipe (256 KiB), four times the size asked.
  const samples = Buffer.alloc(6 * 175_000);
  for (let i = 0; i < samples.length; i++) samples[i] = (i * 31 + (i >> 8)) & 0xff;
  const wav = await runPacer(["record", "-", "--out", join(dir, "w.wav"), "--format", "s24le:48000:2", "--rotate", "64KiB"], { stdin: samples });
  expect(wav.stderr).toStartWith("pacer: recorded 17 files (first ");
  expect(wav.code).toBe(0);
  const names = [`w.wav`, ...Array.from({ length: 16 }, (_, n) => `w-${n + 1}.wav`)];
  const datas = names.map((n) => readFileSync(join(dir, n)).subarray(80)); // pacer's WAV header: 80 bytes
  const firstFull = Math.ceil(65_536 / 6) * 6;
  expect(datas.slice(0, 16).map((d) => d.length)).toEqual(Array(16).fill(firstFull));
  expect(Buffer.concat(datas).equals(samples)).toBe(true);
  const raw = await runPacer(["record", "-", "--out", join(dir, "r.bin"), "--rotate", "64KiB"], { stdin: samples });
  expect(raw.code).toBe(0);
  expect(readFileSync(join(dir, "r.bin")).length).toBe(65_536);
  expect(readFileSync(join(dir, "r-15.bin")).length).toBe(65_536);
});

test("--duration ending a .ts recording of a TCP stream sent in 1000-byte writes: the file ends on a whole packet, the stream's own bytes up to it", async () => {
  const port = freeTcpPort();
  const out = join(dir, "t.ts");
  const run = runPacer(["record", `tcp://:${port}`, "--out", out, "--duration", "1.5"]);
  const stream = patPackets(20_000, 0); // 3.76 MB: more than 1.5 s of it at 1 MB/s
  const socket = await connectWhenListening(port);
  socket.on("error", () => {}); // the recorder closes it at the end
  for (let at = 0; at < stream.length && !socket.destroyed; at += 1000) {
    socket.write(stream.subarray(at, at + 1000));
    await Bun.sleep(1);
  }
  const r = await run;
  socket.destroy();
  expect(r.code).toBe(0);
  const file = readFileSync(out);
  expect(file.length).toBeGreaterThan(0);
  // Before, the unfinished packet the recording stopped in went in too (115000 bytes: 132 of a packet).
  expect(file.length % 188).toBe(0);
  expect(file.equals(stream.subarray(0, file.length))).toBe(true);
  expect(r.stderr).toStartWith(`pacer: recorded 1 file, ${file.length} bytes`);
});
