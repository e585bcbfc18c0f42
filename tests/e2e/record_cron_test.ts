/**
 * README "Recording from cron": its crontab lines, run as cron runs them (`sh -c`, `\%` made
 * `%`, the crontab's variables in the environment), in a network namespace with multicast on
 * its loopback so the feeds' group addresses work as written and nothing leaves the host.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, readdirSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { rampS16, writeWav } from "../helpers/audio.ts";
import { ffmpegTs, haveFfmpeg, makeTempDir } from "../helpers/mpeg_fixtures.ts";
import { MAIN, REPO } from "../helpers/pacer.ts";

/** The crontab block in README.md: variables and entries (command after the five time fields). */
function crontabFromReadme(): { env: Record<string, string>; commands: string[] } {
  const readme = readFileSync(join(REPO, "README.md"), "utf8");
  const block = /## Recording from cron[\s\S]*?```crontab\n([\s\S]*?)```/.exec(readme)![1]!;
  const env: Record<string, string> = {};
  const commands: string[] = [];
  for (const line of block.split("\n")) {
    if (!line.trim() || line.startsWith("#")) continue;
    const variable = /^(\w+)=(.*)$/.exec(line);
    if (variable) {
      env[variable[1]!] = variable[2]!;
      continue;
    }
    const fields = line.trim().split(/\s+/);
    // cron: an unescaped % ends the command; \% is a literal %.
    const command = line.trim().slice(line.trim().indexOf(fields[5]!));
    expect(/(^|[^\\])%/.test(command)).toBe(false);
    commands.push(command.replaceAll("\\%", "%"));
  }
  return { env, commands };
}

const ok = haveFfmpeg();
const NS = `pacer-cron-${process.pid}`;
let nsMade = false;
let temp: ReturnType<typeof makeTempDir>;
let bin: string;

function inNs(cmd: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn("ip", ["netns", "exec", NS, ...cmd], { cwd: REPO, env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, ...env }, stdio: ["ignore", "pipe", "pipe"] });
}

function exitOf(child: ChildProcess): Promise<{ code: number | null; stderr: string }> {
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  child.stdout!.on("data", () => {});
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, stderr })));
}

/** Waits until the namespace has UDP `port` bound (seen through a process inside it). */
async function waitForPort(pid: number, port: number): Promise<void> {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, "0")} `;
  for (let i = 0; i < 600; i++) {
    if (existsSync(`/proc/${pid}/net/udp`) && readFileSync(`/proc/${pid}/net/udp`, "utf8").includes(hex)) return;
    await Bun.sleep(25);
  }
  throw new Error(`port ${port} never bound`);
}

/** The pacer process under a `sh -c` (its only child). */
function pacerUnder(shPid: number): number {
  const children = readFileSync(`/proc/${shPid}/task/${shPid}/children`, "utf8").trim();
  return children ? Number(children.split(/\s+/)[0]) : shPid;
}

beforeAll(() => {
  if (!ok) return;
  temp = makeTempDir();
  bin = join(temp.dir, "bin");
  spawnSync("mkdir", ["-p", bin, join(temp.dir, "rec")]);
  writeFileSync(join(bin, "pacer"), `#!/bin/sh\nexec "${process.execPath}" "${MAIN}" "$@"\n`);
  chmodSync(join(bin, "pacer"), 0o755);
  const made = spawnSync("ip", ["netns", "add", NS], { encoding: "utf8" });
  if (made.status !== 0) {
    if (process.env.CI === "true") throw new Error(`cannot make a network namespace: ${made.stderr}`);
    console.warn(`skipping the README's crontab: cannot make a network namespace (${made.stderr.trim()})`);
    return;
  }
  nsMade = true;
  spawnSync("ip", ["netns", "exec", NS, "ip", "link", "set", "lo", "up", "multicast", "on"]);
  spawnSync("ip", ["netns", "exec", NS, "ip", "route", "add", "224.0.0.0/4", "dev", "lo"]);
});

afterAll(() => {
  if (nsMade) spawnSync("ip", ["netns", "del", NS]);
  temp?.cleanup();
});

describe.if(ok)("README: Recording from cron", () => {
  test("the crontab lines work as written: nightly recording, the 75 guard, clean-up", async () => {
    if (!nsMade) return;
    const { env, commands } = crontabFromReadme();
    expect(commands.length).toBe(3);
    const rec = join(temp.dir, "rec");
    // The crontab's PATH as cron would use it, with this test's pacer where an install puts it.
    expect(env.PATH?.split(":")).toContain("/usr/local/bin");
    const cronEnv = { ...env, REC: rec, PATH: `${bin}:${env.PATH}` };
    const [nightly, guarded, cleanup] = commands as [string, string, string];

    // The nightly recording, stopped early (SIGTERM finishes the file and exits 0).
    const source = ffmpegTs(temp.dir, 3);
    const news = inNs(["sh", "-c", nightly], cronEnv);
    const newsDone = exitOf(news);
    await waitForPort(news.pid!, 5000);
    const sent = await exitOf(inNs([process.execPath, MAIN, "play", source, "--to", "udp://239.1.1.1:5000?ttl=1"]));
    expect(sent.code).toBe(0);
    await Bun.sleep(300);
    process.kill(pacerUnder(news.pid!), "SIGTERM");
    const newsExit = await newsDone;
    expect(newsExit.code).toBe(0);
    const newsFiles = readdirSync(rec).filter((n) => /^news-\d{8}\.ts$/.test(n));
    expect(newsFiles.length).toBe(1);
    expect(readFileSync(join(rec, newsFiles[0]!)).equals(readFileSync(source))).toBe(true);

    // The guard: a second start while one runs is quiet and exits 0.
    const radio = inNs(["sh", "-c", guarded], cronEnv);
    const radioDone = exitOf(radio);
    await waitForPort(radio.pid!, 5004);
    const again = await exitOf(inNs(["sh", "-c", guarded], cronEnv));
    expect(again.code).toBe(0);
    const tone = join(temp.dir, "tone.wav");
    writeWav(tone, { encoding: "s16le", rate: 44_100, channels: 2 }, rampS16(44_100 * 2));
    expect((await exitOf(inNs([process.execPath, MAIN, "play", tone, "--to", "rtp://239.1.1.2:5004?ttl=1"]))).code).toBe(0);
    await Bun.sleep(300);
    process.kill(pacerUnder(radio.pid!), "SIGTERM");
    expect((await radioDone).code).toBe(0);
    const radioFiles = readdirSync(rec).filter((n) => /^radio-\d{8}-\d{4}\.wav$/.test(n));
    expect(radioFiles.length).toBe(1);
    const probe = spawnSync("ffprobe", ["-v", "error", "-show_entries", "stream=duration", "-of", "csv=p=0", join(rec, radioFiles[0]!)], { encoding: "utf8" });
    expect(Number(probe.stdout.trim())).toBeGreaterThan(1.5);

    // Clean-up: news older than 14 days goes, the rest stays.
    const old = join(rec, "news-20000101.ts");
    writeFileSync(old, "");
    const longAgo = Date.now() / 1000 - 20 * 86_400;
    utimesSync(old, longAgo, longAgo);
    const swept = spawnSync("sh", ["-c", cleanup], { env: { ...process.env, ...cronEnv } });
    expect(swept.status).toBe(0);
    expect(existsSync(old)).toBe(false);
    expect(existsSync(join(rec, newsFiles[0]!))).toBe(true);
  }, 60_000);
});
