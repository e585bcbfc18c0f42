/**
 * `npm run soak -- --minutes 60`: one real `pacer serve` under everything at once, for as long as
 * asked, reporting every minute and failing on growth or loss (issue 16):
 *
 *   - `--streams` persistent looping 1.5 Mbit/s TS jobs (default 500) to sinks that never read,
 *     plus one on RTP to a receiver here that counts sequence gaps (lost datagrams);
 *   - control requests at random (status, list, ping, interest), and short jobs whose interest
 *     lapses (interest_timeout 3 s) so the server expires them;
 *   - a `[[live]]` channel fed by `pacer acquire FILE`, killed at random (a drop) and started
 *     again (a reconnect), with a `live:` job on it;
 *   - a recording of that channel that rotates every 20 s and keeps 3 files;
 *   - the speaker playing a queue over RTP, tracks queued again as they finish, its sequence
 *     gaps counted too.
 *
 * Each row (a minute, or --row-seconds): open fds and RSS of the server, send lateness p99 over
 * the row (from /metrics), datagrams lost on the two RTP receivers, and the recording's bytes
 * against the bytes the acquirers sent. At the end it fails (exit 1) on fd growth, RSS growth
 * past --rss-growth (default 25 %) from the second row to the last, any lost datagram, or a
 * recording that fell behind what was sent by more than the channel's buffer.
 *
 * @example
 * ```sh
 * npm run soak -- --minutes 60
 * bun soak/soak.ts --minutes 1.5 --row-seconds 15 --streams 50   # the CI version
 * ```
 */
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { ControlClient } from "../client/control_client.ts";
import { windowQuantile } from "../bench/control_load.ts";
import { cbrTs, toneWav } from "../bench/fixtures.ts";
import { BUN, CLK_TCK, firstLine, processTicks, terminate, waitForLog } from "../bench/processes.ts";
import { fmt, formatTable } from "../bench/stats.ts";
import { freeTcpPort, freeUdpPort } from "../tests/helpers/ports.ts";

const ROOT = resolve(import.meta.dir, "..");
const SINK = join(ROOT, "bench", "sink.ts");
const STREAM_RATE = 1_500_000;
const LIVE_RATE = 2_000_000;
const INTEREST_TIMEOUT_S = 3;
/** A recording may trail what was sent by the channel's ring (8 MiB) and what is in flight. */
const RECORDING_SLACK_BYTES = 9 << 20;
const FD_GROWTH_LIMIT = 16;
/** Sink ports of their own for the short jobs (a play to a looping job's destination would refresh that job). */
const SHORT_JOB_PORTS = 20;

interface Row {
  /** Seconds since the run began, at the row's end. */
  atS: number;
  fds: number;
  rssMiB: number;
  sendP99Us: number;
  cpuShare: number;
  lostStream: number;
  lostSpeaker: number;
  sentLiveBytes: number;
  recordedBytes: number;
  jobs: number;
  expired: number;
  acquireRuns: number;
}

/** "2:00" for 120 s: a row's place in the run. */
function clockText(seconds: number): string {
  const whole = Math.round(seconds); // rounded once, so 59.5 s reads 1:00, not 0:60
  return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, "0")}`;
}

/** Counts datagrams and sequence gaps of one RTP stream. */
async function rtpCounter() {
  let last = -1;
  let packets = 0;
  let lost = 0;
  const socket = await Bun.udpSocket({
    hostname: "127.0.0.1",
    socket: {
      data(_s, data) {
        const seq = data.readUInt16BE(2);
        if (last >= 0) {
          const gap = (seq - last - 1) & 0xffff;
          // A gap past half the space is a reordered or repeated packet, not a loss.
          if (gap > 0 && gap < 0x8000) lost += gap;
        }
        last = seq;
        packets++;
      },
      error() {},
    },
  });
  return { port: socket.port, stats: () => ({ packets, lost }), close: () => socket.close() };
}

function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function sendBuckets(httpPort: number): Promise<[number, number][]> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  const buckets: [number, number][] = [];
  for (const m of text.matchAll(/^pacer_lateness_microseconds_bucket\{kind="send",le="([^"]+)"\} (\d+)$/gm)) {
    buckets.push([m[1] === "+Inf" ? Infinity : Number(m[1]), Number(m[2])]);
  }
  return buckets;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Bun.argv.slice(2),
    options: {
      minutes: { type: "string", default: "60" },
      streams: { type: "string", default: "500" },
      "rss-growth": { type: "string", default: "25" },
      "row-seconds": { type: "string", default: "60" },
      bin: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log("usage: bun soak/soak.ts [--minutes 60] [--streams 500] [--rss-growth PERCENT] [--row-seconds 60] [--bin dist/pacer]");
    return 0;
  }
  const minutes = Number(values.minutes);
  const streams = Number(values.streams);
  const rssGrowth = Number(values["rss-growth"]) / 100;
  const rowSeconds = Number(values["row-seconds"]);
  // Growth is measured from the second row (the first warms up) to the last: three rows at least.
  const rows = Math.round((minutes * 60) / rowSeconds);
  if (!(rowSeconds >= 5) || !(rows >= 3) || !Number.isInteger(streams) || streams < 1) {
    console.error("soak: --minutes must hold three rows of --row-seconds (5 or more), and --streams be a whole number of streams");
    return 2;
  }
  // The sources by default (a stale dist/pacer would test old code); --bin dist/pacer for the build.
  const pacer = values.bin ? [resolve(values.bin)] : [BUN, join(ROOT, "main.ts")];
  const note = (m: string) => process.stderr.write(`[soak] ${m}\n`);

  // World-readable: started as root, the server drops to "nobody".
  const dir = mkdtempSync(join(tmpdir(), "pacer-soak-"));
  chmodSync(dir, 0o777);
  const media = join(dir, "media");
  const recordings = join(dir, "recordings");
  mkdirSync(media, { mode: 0o755 });
  mkdirSync(recordings);
  chmodSync(recordings, 0o777); // past the umask: the server writes here as "nobody"
  const clip = cbrTs(media, STREAM_RATE, 10);
  const liveClip = cbrTs(dir, LIVE_RATE, 15);
  for (const [i, seconds] of [7, 5, 9].entries()) toneWav(media, `track${i}.wav`, seconds);
  for (const f of readdirSync(media)) chmodSync(join(media, f), 0o644);
  const clipName = clip.path.slice(media.length + 1);

  const controlPort = await freeUdpPort();
  const httpPort = freeTcpPort();
  const livePort = freeTcpPort();
  const streamRx = await rtpCounter();
  const speakerRx = await rtpCounter();
  writeFileSync(
    join(dir, "pacer.toml"),
    [
      `control = "127.0.0.1:${controlPort}"`,
      `media_root = "${media}"`,
      `recording_root = "${recordings}"`,
      `http = "127.0.0.1:${httpPort}"`,
      `interest_timeout = ${INTEREST_TIMEOUT_S}`,
      "[limits]",
      `max_jobs = ${streams + 100}`,
      "requests_per_second = 100000",
      "request_burst = 100000",
      "[[live]]",
      'name = "cam"',
      `listen = "tcp://127.0.0.1:${livePort}"`,
      "[[recording]]",
      'name = "cam-rec"',
      'source = "live:cam"',
      'out = "cam/%Y%m%d-%H%M%S.ts"',
      'rotate = "20s"',
      "keep = 3",
      "[speaker]",
      `output = "rtp://127.0.0.1:${speakerRx.port}"`,
      "buffer_seconds = 2",
    ].join("\n") + "\n",
  );

  const sink = Bun.spawn([BUN, SINK, String(streams + SHORT_JOB_PORTS)], { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
  const server = Bun.spawn([...pacer, "serve", "--config", join(dir, "pacer.toml")], { stdin: "ignore", stdout: "ignore", stderr: "pipe" });
  let client: ControlClient | null = null;
  let acquire = null as Bun.Subprocess<"ignore", "ignore", "pipe"> | null;
  let acquireRuns = 0;
  let sentLiveBytes = 0;
  let stopping = false;
  const timers: ReturnType<typeof setInterval>[] = [];
  const table: Row[] = [];
  try {
    const sinkPorts = (JSON.parse((await firstLine(sink.stdout)).line) as { ports: number[] }).ports;
    await waitForLog(server.stderr, "pacer: serving", 20_000);
    client = await ControlClient.open(`127.0.0.1:${controlPort}`);
    const request = async (op: Parameters<ControlClient["request"]>[0], args: Record<string, unknown> = {}) => client!.request(op, args, { ttlMs: 5000 });

    note(`starting ${streams} streams`);
    for (let i = 0; i < streams; i++) {
      const reply = await request("play", { source: clipName, to: [`udp://127.0.0.1:${sinkPorts[i]}`], loop: true, persistent: true });
      if (!reply.ok) throw new Error(`play refused: ${reply.error.code} ${reply.error.message ?? ""}`);
    }
    const sampled = await request("play", { source: clipName, to: [`rtp://127.0.0.1:${streamRx.port}?rtcp=off`], loop: true, persistent: true });
    if (!sampled.ok) throw new Error(`play refused: ${sampled.error.code}`);
    await request("play", { source: "live:cam", to: [`udp://127.0.0.1:${sinkPorts[0]}`], persistent: true });

    // The live source: acquire runs the file; a random kill is a drop, the next run a reconnect.
    const runAcquire = () => {
      if (stopping) return;
      acquireRuns++;
      const proc = Bun.spawn([...pacer, "acquire", liveClip.path, "--to", `tcp://127.0.0.1:${livePort}`], { stdin: "ignore", stdout: "ignore", stderr: "pipe" });
      acquire = proc;
      void (async () => {
        const text = await new Response(proc.stderr).text();
        await proc.exited;
        const sent = /sent (\d+)/.exec(text);
        if (sent) sentLiveBytes += Number(sent[1]);
        if (!stopping) setTimeout(runAcquire, 500 + Math.random() * 1500);
      })();
    };
    runAcquire();
    timers.push(setInterval(() => {
      // A drop now and then: SIGTERM ends acquire cleanly, reporting what it sent.
      if (Math.random() < 0.3) acquire?.kill("SIGTERM");
    }, 10_000));
    await Bun.sleep(1000);
    const rec = await request("record", { action: "start", name: "cam-rec" });
    if (!rec.ok) throw new Error(`record start refused: ${rec.error.code} ${rec.error.message ?? ""}`);

    // The speaker: a queue that never runs dry.
    let trackSerial = 0;
    const queueTrack = async () => void (await request("queue", { path: `track${trackSerial % 3}.wav`, id: `t${trackSerial++}` }));
    for (let i = 0; i < 3; i++) await queueTrack();
    timers.push(setInterval(async () => {
      const status = await request("status", { limit: 1 });
      const speaker = status.ok ? (status.result as { speaker?: { queue_length: number } }).speaker : undefined;
      if ((speaker?.queue_length ?? 0) < 2) await queueTrack();
    }, 2000));

    // Control at random, and short jobs whose interest lapses.
    let expiredJobs = 0; // short jobs started: each should lapse
    timers.push(setInterval(async () => {
      const roll = Math.random();
      if (roll < 0.1) {
        const r = await request("play", { source: clipName, to: [`udp://127.0.0.1:${sinkPorts[streams + Math.floor(Math.random() * SHORT_JOB_PORTS)]}`] });
        if (r.ok && !(r.result as { refreshed?: boolean }).refreshed) expiredJobs++;
      } else if (roll < 0.4) await request("status", { limit: 5 });
      else if (roll < 0.6) await request("list", {});
      else await request("ping", {});
    }, 100));

    note(`running ${minutes} min`);
    let before = await sendBuckets(httpPort);
    let ticks = processTicks(server.pid);
    for (let row = 1; row <= rows; row++) {
      const started = Date.now();
      await Bun.sleep(rowSeconds * 1000);
      const after = await sendBuckets(httpPort);
      const nowTicks = processTicks(server.pid);
      const status = await request("status", { limit: 1 });
      const result = status.ok ? (status.result as { server: { jobs: number; jobs_total: { expired: number } }; recordings?: { name: string; running?: { bytes: number } }[] }) : null;
      const line: Row = {
        atS: row * rowSeconds,
        fds: fdCount(server.pid),
        rssMiB: rssMiB(server.pid),
        sendP99Us: windowQuantile(before, after, 0.99).value,
        cpuShare: (nowTicks - ticks) / CLK_TCK / ((Date.now() - started) / 1000),
        lostStream: streamRx.stats().lost,
        lostSpeaker: speakerRx.stats().lost,
        sentLiveBytes,
        recordedBytes: result?.recordings?.find((r) => r.name === "cam-rec")?.running?.bytes ?? 0,
        jobs: result?.server.jobs ?? NaN,
        expired: result?.server.jobs_total.expired ?? NaN,
        acquireRuns,
      };
      table.push(line);
      note(`at ${clockText(line.atS)}: fds ${line.fds}, RSS ${fmt(line.rssMiB, 1)} MiB, send p99 ${fmt(line.sendP99Us, 0)} µs, lost ${line.lostStream}/${line.lostSpeaker}, recorded ${line.recordedBytes} of ${line.sentLiveBytes} sent`);
      before = after;
      ticks = nowTicks;
    }
    const speakerPackets = speakerRx.stats().packets;
    const streamPackets = streamRx.stats().packets;
    stopping = true;
    for (const t of timers) clearInterval(t);
    acquire?.kill("SIGTERM");
    await Bun.sleep(1500);
    const stopped = await request("record", { action: "stop", name: "cam-rec" });
    const recorded = stopped.ok ? (stopped.result as { last: { bytes: number } }).last.bytes : 0;

    console.log(
      formatTable(
        `Soak: ${streams} + 1 sampled looping 1.5 Mbit/s streams, a ${LIVE_RATE / 1e6} Mbit/s live channel (acquire dropped at random) recorded with rotation, the speaker on RTP, random control; ${minutes} min`,
        ["at (min:s)", "fds", "RSS MiB", "send p99 µs", "server CPU", "jobs (expired so far)", "lost: stream / speaker", "live: sent by ended acquire runs / recorded bytes (runs)"],
        table.map((m) => [
          clockText(m.atS),
          String(m.fds),
          fmt(m.rssMiB, 1),
          fmt(m.sendP99Us, 0),
          `${fmt(m.cpuShare * 100, 0)} %`,
          `${m.jobs} (${m.expired})`,
          `${m.lostStream} / ${m.lostSpeaker}`,
          `${m.sentLiveBytes} / ${m.recordedBytes} (${m.acquireRuns})`,
        ]),
      ),
    );
    const first = table[1]!; // the first row warms up
    const last = table[table.length - 1]!;
    const failures: string[] = [];
    if (last.fds > first.fds + FD_GROWTH_LIMIT) failures.push(`open fds grew from ${first.fds} to ${last.fds}`);
    if (last.rssMiB > first.rssMiB * (1 + rssGrowth)) failures.push(`RSS grew from ${fmt(first.rssMiB, 1)} to ${fmt(last.rssMiB, 1)} MiB (more than ${values["rss-growth"]} %)`);
    if (last.lostStream > 0 || last.lostSpeaker > 0) failures.push(`lost datagrams: ${last.lostStream} on the stream, ${last.lostSpeaker} on the speaker`);
    if (streamPackets === 0 || speakerPackets === 0) failures.push(`a sampled receiver got nothing (stream ${streamPackets}, speaker ${speakerPackets})`);
    if (recorded + RECORDING_SLACK_BYTES < sentLiveBytes) failures.push(`the recording has ${recorded} bytes of the ${sentLiveBytes} sent`);
    if (recorded > sentLiveBytes) failures.push(`the recording has ${recorded} bytes, more than the ${sentLiveBytes} sent`);
    if (expiredJobs > 0 && !(last.expired > 0)) failures.push("no short job's interest lapsed");
    console.log(`\nrecording: ${recorded} bytes of ${sentLiveBytes} sent by ${acquireRuns} acquire runs; ${expiredJobs} short jobs started, ${last.expired} expired`);
    console.log(failures.length === 0 ? "soak: ok" : `soak: FAILED: ${failures.join("; ")}`);
    return failures.length === 0 ? 0 : 1;
  } finally {
    stopping = true;
    for (const t of timers) clearInterval(t);
    acquire?.kill("SIGKILL");
    client?.close();
    await terminate(server);
    sink.stdin.end();
    await sink.exited;
    streamRx.close();
    speakerRx.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

process.exit(await main());
