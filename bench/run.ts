/**
 * `npm run bench`: pacer's timing goals, measured. Prints one table per
 * section and a summary of every target; takes about 4–6 minutes, or about
 * one with `--quick`. Receivers always run in processes of their own, on
 * 127.0.0.1, and every run is bounded in time.
 *
 *   1. start-up of dist/pacer (built first if missing)
 *   2. audio pacing, WAV → RTP (issue 2)
 *   3. MPEG push: one stream vs multicat, then 100–1000 streams (issue 3)
 *   4. sample-format conversion speed (issue 4)
 *   5. control requests answered while 500 streams run (issue 5)
 *   6. scale: one job to 500–1500 destinations, batched sends vs a socket each (issue 14)
 *   7. AES67: L24 in 1 ms packets, pacer beside GStreamer's rtpL24pay sync=true (issue 15)
 *   8. recording 100 Mbit/s of UDP: loss, CPU, write lag, beside multicat (issue 12)
 *   9. live relay: a 20 Mbit/s channel to 100 live: jobs, beside 100 file jobs (issue 13)
 *  10. the speaker over RTP: queue → first packet, track boundaries, pause latency (issue 11)
 *
 * @example
 * ```sh
 * bun run bench/run.ts --quick
 * bun run bench/run.ts --only audio,mpeg --json /tmp/bench.json
 * bun run bench/run.ts --only mpeg --streams 500      # the many-streams runs at 500 only
 * bun run bench/run.ts --only scale --streams 500,1000 # batched sends vs a socket per destination
 * ```
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { benchAes67 } from "./aes67.ts";
import { benchAudio } from "./audio_pacing.ts";
import type { BenchContext, SectionResult } from "./context.ts";
import { benchControl } from "./control_load.ts";
import { benchConvert } from "./convert_bench.ts";
import { openKernelStampedSockets } from "./kernel_udp.ts";
import { benchLive } from "./live.ts";
import { benchMpeg } from "./mpeg_push.ts";
import { benchRecord } from "./record.ts";
import { benchScale } from "./scale.ts";
import { benchSpeaker } from "./speaker.ts";
import { benchStartup } from "./startup.ts";
import { type BenchRow, formatRows, formatTable, okText, row } from "./stats.ts";

const ROOT = resolve(import.meta.dir, "..");
/** The binary under test: dist/pacer, or PACER_BENCH_BIN (another build, or a wrapper that profiles). */
const PACER = process.env.PACER_BENCH_BIN ?? join(ROOT, "dist", "pacer");
const CONVERT_TARGET_X = 200;

async function convertSection(): Promise<SectionResult> {
  const table = await benchConvert();
  const headers = Object.keys(table[0] ?? {});
  const headline = table[0]!;
  const speed = Number(headline["× real time"]);
  const rows: BenchRow[] = [
    row(`${headline.from} → ${headline.to} (one core)`, `${speed} × real time`, `≥ ${CONVERT_TARGET_X} ×`, speed >= CONVERT_TARGET_X),
  ];
  return {
    tables: [formatTable("4. Conversion speed (bench/convert_bench.ts)", headers, table.map((r) => headers.map((h) => String(r[h])))), formatRows("4. Conversion: target", rows)],
    rows,
    figures: { chains: table },
  };
}

/** Which arrival stamps the receivers will use (bench/receiver.ts). */
function stampsNote(): string {
  try {
    openKernelStampedSockets(1, 0).close();
    return "arrivals stamped by the kernel (SO_TIMESTAMPNS)";
  } catch {
    return "arrivals stamped in user space (no SO_TIMESTAMPNS here): lateness includes receiver delays";
  }
}

function buildIfMissing(note: (m: string) => void): void {
  if (existsSync(PACER)) return;
  note("dist/pacer is missing: npm run build");
  const r = Bun.spawnSync(["bun", "run", "build"], { cwd: ROOT, stdout: "inherit", stderr: "inherit", env: { ...process.env, PATH: `${join(ROOT, "node_modules", ".bin")}:${process.env.PATH}` } });
  if (r.exitCode !== 0 || !existsSync(PACER)) throw new Error("npm run build failed; the bench needs dist/pacer");
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Bun.argv.slice(2),
    options: {
      quick: { type: "boolean" },
      only: { type: "string" },
      json: { type: "string" },
      streams: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log("usage: bun run bench/run.ts [--quick] [--only startup,audio,mpeg,convert,control,scale,aes67,record,live,speaker] [--streams 100,500] [--json FILE]");
    return 0;
  }
  const started = Bun.nanoseconds();
  const note = (m: string) => process.stderr.write(`[bench ${((Bun.nanoseconds() - started) / 1e9).toFixed(0).padStart(3)} s] ${m}\n`);
  buildIfMissing(note);
  const dir = mkdtempSync(join(tmpdir(), "pacer-bench-"));
  const streams = values.streams?.split(",").map(Number);
  if (streams && !streams.every((n) => Number.isInteger(n) && n > 0)) {
    console.error(`--streams "${values.streams}": expected stream counts such as 100 or 100,500`);
    return 2;
  }
  const ctx: BenchContext = { quick: values.quick ?? false, pacer: PACER, dir, note, streams };
  const sections: [string, () => Promise<SectionResult>][] = [
    ["startup", () => benchStartup(ctx)],
    ["audio", () => benchAudio(ctx)],
    ["mpeg", () => benchMpeg(ctx)],
    ["convert", () => convertSection()],
    ["control", () => benchControl(ctx)],
    ["scale", () => benchScale(ctx)],
    ["aes67", () => benchAes67(ctx)],
    ["record", () => benchRecord(ctx)],
    ["live", () => benchLive(ctx)],
    ["speaker", () => benchSpeaker(ctx)],
  ];
  const only = values.only ? new Set(values.only.split(",")) : null;
  const summary: { section: string; row: BenchRow }[] = [];
  const figures: Record<string, unknown> = {};
  const failed: string[] = [];
  console.log(`pacer bench (${ctx.quick ? "quick" : "full"}), ${navigator.hardwareConcurrency} CPUs, Bun ${Bun.version}; load average ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}; ${stampsNote()}\n`);
  try {
    for (const [name, run] of sections) {
      if (only && !only.has(name)) continue;
      note(`section ${name}`);
      try {
        const result = await run();
        console.log(result.tables.join("\n\n") + "\n");
        for (const r of result.rows) summary.push({ section: name, row: r });
        figures[name] = result.figures;
      } catch (error) {
        failed.push(name);
        console.log(`== ${name}: FAILED: ${(error as Error).message}\n`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // Rows with no target (figures for reference, such as a peer's) are shown but not counted.
  const judged = summary.filter((s) => s.row.ok !== null);
  const missed = judged.filter((s) => s.row.ok === false);
  console.log(
    formatTable(
      `Summary: ${judged.length - missed.length}/${judged.length} targets met${failed.length ? `; sections failed: ${failed.join(", ")}` : ""} (${((Bun.nanoseconds() - started) / 1e9).toFixed(0)} s)`,
      ["section", "name", "value", "target", "ok?"],
      summary.map((s) => [s.section, s.row.name, s.row.value, s.row.target, okText(s.row.ok)]),
    ),
  );
  if (values.json) writeFileSync(values.json, JSON.stringify({ quick: ctx.quick, summary, figures }, null, 2));
  return failed.length > 0 ? 1 : 0;
}

process.exit(await main());
