/**
 * pacer at either end of a shell pipeline, as users run it (a hostile try): each case is a
 * real `sh -c` line with pacer (`bun main.ts`) in it, its status and stderr as a script or a
 * cron mail sees them.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MAIN, REPO } from "../helpers/pacer.ts";
import { freeTcpPort, freeUdpPort } from "../helpers/ports.ts";
import { writeWav } from "../helpers/audio.ts";

const dir = mkdtempSync(join(tmpdir(), "pacer-pipeline-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** 3 s of telephone-rate audio: long enough to be signalled mid-stream. */
const TONE = join(dir, "tone.wav");
writeWav(TONE, { encoding: "s16le", rate: 8000, channels: 1 }, Buffer.alloc(3 * 16_000, 1));
/** 1.5 s of it: played whole around a stop of a second. */
const SHORT_TONE = join(dir, "short.wav");
writeWav(SHORT_TONE, { encoding: "s16le", rate: 8000, channels: 1 }, Buffer.alloc(24_000, 1));

/** Shell lines that wait (up to 5 s) for FILE to be there and not empty. */
const awaitFile = (file: string) => `for i in $(seq 50); do [ -s ${file} ] && break; sleep 0.1; done`;

interface ShellRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `script` with `sh -c`, where `$PACER` runs pacer from source. */
function shell(script: string, timeoutMs = 10_000): Promise<ShellRun> {
  const child = spawn("sh", ["-c", script], {
    cwd: dir,
    env: { ...process.env, PACER: `${process.execPath} ${MAIN}`, REPO },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  return new Promise((resolve) => {
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe("stdin", () => {
  test("an empty stdin with --format is said, as without it, and fails the play", async () => {
    // A producer that failed before its first byte: the play had exited 0 with nothing said.
    const run = await shell(`true | $PACER play - --format s16le:8000:1 --to 'cmd:wc -c'; echo "status=$?"`);
    expect(run.stderr).toContain("pacer: error: stdin: nothing arrived\n");
    expect(run.stdout).toContain("status=1");
  });

  test("acquire - with an empty stdin says nothing arrived and exits 1 at once, with no server to wait for", async () => {
    // Before, it tried to reach the channel for good to deliver nothing; with a server, it said
    // "acquired 0 bytes" and exited 0.
    const port = freeTcpPort();
    const run = await shell(`timeout 3 $PACER acquire - --to tcp://127.0.0.1:${port} </dev/null; echo "status=$?"`);
    expect(run.stderr).toStartWith("pacer: error: stdin: nothing arrived\n");
    expect(run.stdout).toBe("status=1\n");
  });

  test("stdin with --format that gives something plays it, as before", async () => {
    const run = await shell(`head -c 1600 /dev/zero | $PACER play - --format s16le:8000:1 --to 'cmd:wc -c'; echo "status=$?"`);
    expect(run.stderr).toBe("");
    expect(run.stdout).toBe("1600\nstatus=0\n");
  });
});

describe("an input that ends partway into a frame", () => {
  // Bytes that are no whole frame are not played; they were dropped without a word, and with a
  // --format that does not fit the input (mono read as stereo) that hid the mistake.
  const warning = (label: string) => `pacer: warn: ${label}: ended 3 bytes into a 4-byte frame, which was not played (does the format fit the input?)\n`;

  test("on stdin: the whole frames play, the rest is said once at the end, and the play still succeeds", async () => {
    const run = await shell(`head -c 1603 /dev/zero | $PACER play - --format s16le:8000:2 --to 'cmd:wc -c'; echo "status=$?"`);
    expect(run.stdout).toBe("1600\nstatus=0\n");
    expect(run.stderr).toBe(warning("stdin"));
  });

  test("a raw file: the same, under the file's name; a file of whole frames says nothing", async () => {
    const odd = join(dir, "odd.raw");
    const even = join(dir, "even.raw");
    await Bun.write(odd, new Uint8Array(1603));
    await Bun.write(even, new Uint8Array(1600));
    const run = await shell(`$PACER play ${odd} --format s16le:8000:2 --to 'cmd:wc -c'; echo "status=$?"`);
    expect(run.stdout).toBe("1600\nstatus=0\n");
    expect(run.stderr).toBe(warning(odd));
    const whole = await shell(`$PACER play ${even} --format s16le:8000:2 --to 'cmd:wc -c'; echo "status=$?"`);
    expect(whole.stdout).toBe("1600\nstatus=0\n");
    expect(whole.stderr).toBe("");
  });

  test("a WAV on stdin whose header gives no length", async () => {
    // A streamed WAV (sox, ffmpeg to a pipe) gives 0xffffffff for its data size: it ends where the stream does.
    const header = Buffer.alloc(44);
    header.write("RIFF", 0);
    header.writeUInt32LE(0xffffffff, 4);
    header.write("WAVEfmt ", 8);
    header.writeUInt32LE(16, 16);
    header.writeUInt16LE(1, 20);
    header.writeUInt16LE(2, 22);
    header.writeUInt32LE(8000, 24);
    header.writeUInt32LE(32000, 28);
    header.writeUInt16LE(4, 32);
    header.writeUInt16LE(16, 34);
    header.write("data", 36);
    header.writeUInt32LE(0xffffffff, 40);
    const streamed = join(dir, "streamed.wav");
    await Bun.write(streamed, Buffer.concat([header, Buffer.alloc(1603)]));
    const run = await shell(`cat ${streamed} | $PACER play - --to 'cmd:wc -c'; echo "status=$?"`);
    expect(run.stdout).toBe("1600\nstatus=0\n");
    expect(run.stderr).toBe(warning("stdin"));
  });
});

describe("stdout", () => {
  test("record --out - is refused, not a file named '-' while nothing reaches the pipe", async () => {
    const folder = mkdtempSync(join(dir, "record-"));
    const port = await freeUdpPort();
    const run = await shell(`cd ${folder}; $PACER record udp://@127.0.0.1:${port} --duration 0.3 --out - | wc -c; echo "status=$?"`);
    expect(run.stderr).toMatch(/^pacer: error: record: --out - would be a file named "-": .*pacer play INPUT --to file:\/dev\/stdout.*\n$/);
    expect(run.stdout).toBe("0\nstatus=0\n");
    expect(readdirSync(folder)).toEqual([]);
    expect(existsSync(join(folder, "-"))).toBe(false);
  });

  test("play --to file:- is refused, not a file named '-' while nothing reaches the pipe", async () => {
    const folder = mkdtempSync(join(dir, "file-dash-"));
    const run = await shell(`cd ${folder}; $PACER play ${TONE} --to file:- | wc -c; echo "status=$?"`);
    expect(run.stderr).toBe('pacer: error: "file:-" would be a file named "-": for stdout, file:/dev/stdout (for that file name, file:./-)\n');
    expect(run.stdout).toBe("0\nstatus=0\n");
    expect(readdirSync(folder)).toEqual([]);
  });
});

describe("downstream", () => {
  test("a cmd: that exits early each time (`head -c 1000`) is restarted with a growing back-off, not every 100 ms", async () => {
    // Before, the back-off went back to 100 ms whenever a run had read anything: 3 s of stream
    // made some 20 restarts, two lines each (48,000 lines an hour). Now 100, 200, 400 … ms.
    const run = await shell(`$PACER play ${TONE} --to 'cmd:head -c 1000 >/dev/null'; echo "status=$?"`);
    const restarts = run.stderr.match(/restarting it in \d+ ms/g) ?? [];
    expect(restarts.slice(0, 4)).toEqual(["restarting it in 100 ms", "restarting it in 200 ms", "restarting it in 400 ms", "restarting it in 800 ms"]);
    expect(restarts.length).toBeLessThanOrEqual(6);
    expect(run.stderr).toMatch(/pacer: error: cmd:head -c 1000 >\/dev\/null: lost \d\.\d s of 3\.0 s \(restarted \d times\)\n$/);
    expect(run.stdout).toBe("status=1\n");
  });
});

describe("signals", () => {
  test("SIGHUP mid-stream stops play cleanly, as SIGTERM does: its command is closed and waited for, exit 129", async () => {
    // Before, the hang-up killed play where it stood: exit 129 too, but the command was left to
    // finish on its own after pacer had gone (the marker came 0.5 s after the status).
    const folder = mkdtempSync(join(dir, "hup-"));
    const run = await shell(
      `cd ${folder}; $PACER play ${TONE} --to 'cmd:echo >started; cat >/dev/null; sleep 0.5; echo closed > marker' & p=$!; ` +
        `${awaitFile("started")}; sleep 0.3; kill -HUP $p; wait $p; echo "status=$?"; cat marker`,
    );
    expect(run.stdout).toBe("status=129\nclosed\n");
  });

  test("Ctrl-Z (SIGTSTP) and fg (SIGCONT): play goes on where it was, not said to have run behind", async () => {
    // Before, the stop was taken for a host that could not keep up: `ran 1.2 s behind real time
    // (this host could not keep up, or the output took the stream more slowly)` for each output.
    const folder = mkdtempSync(join(dir, "tstp-"));
    const port = await freeUdpPort();
    const run = await shell(
      `cd ${folder}; $PACER play ${SHORT_TONE} --to udp://127.0.0.1:${port} --to 'cmd:echo >started; cat >/dev/null' & p=$!; ` +
        `${awaitFile("started")}; sleep 0.3; kill -TSTP $p; sleep 0.2; cut -d" " -f3 /proc/$p/stat; sleep 1; kill -CONT $p; wait $p; echo "status=$?"`,
    );
    expect(run.stdout).toBe("T\nstatus=0\n"); // stopped (state T), then a clean end
    expect(run.stderr).not.toContain("behind real time");
  });

  test("SIGHUP mid-recording finalizes the WAV, as SIGTERM does", async () => {
    // Before, the hang-up killed record: the WAV's header still gave its size at the last sync.
    const folder = mkdtempSync(join(dir, "hup-record-"));
    const port = await freeUdpPort();
    const run = await shell(
      `cd ${folder}; $PACER record udp://@127.0.0.1:${port} --format s16le:8000:1 --out x.wav --sync-every 60 --duration 10 & r=$!; ` +
        `$PACER play ${TONE} --to udp://127.0.0.1:${port} 2>/dev/null & ${awaitFile("x.wav")}; sleep 0.3; kill -HUP $r; wait $r; echo "status=$?"; kill $!`,
    );
    expect(run.stdout).toBe("status=0\n");
    const wav = readFileSync(join(folder, "x.wav"));
    const data = wav.indexOf("data");
    expect(wav.length).toBeGreaterThan(data + 8);
    expect(wav.readUInt32LE(data + 4)).toBe(wav.length - data - 8);
  });
});
