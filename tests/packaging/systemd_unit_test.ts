/**
 * contrib/pacer.service, checked by systemd's own tools against the binary `npm run build`
 * makes: `systemd-analyze verify` finds nothing to say, and `systemd-analyze security` rates its
 * sandbox as hardened.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildCommand } from "../../scripts/release.ts";
import { REPO } from "../../scripts/help_text.ts";
import { havePeer } from "../helpers/pacer.ts";

const UNIT = readFileSync(join(REPO, "contrib", "pacer.service"), "utf8");
const INSTALLED_PATH = "/usr/local/bin/pacer";
/** systemd-analyze security's scale: 0 is fully sandboxed, 10 not at all; below 2 it says "OK". */
const MOST_EXPOSURE = 2.5;

let dir = "";
let unitPath = "";
const haveSystemd = havePeer("systemd-analyze");

beforeAll(() => {
  if (!haveSystemd) return;
  dir = mkdtempSync(join(tmpdir(), "pacer-unit-"));
  const binary = join(dir, "pacer");
  const build = Bun.spawnSync(buildCommand(binary), { cwd: REPO, stdout: "pipe", stderr: "pipe" });
  if (build.exitCode !== 0) throw new Error(`build failed: ${build.stderr}`);
  // The unit as installed, with ExecStart= pointed at the binary just built.
  expect(UNIT).toContain(`ExecStart=${INSTALLED_PATH} `);
  unitPath = join(dir, "pacer.service");
  writeFileSync(unitPath, UNIT.replaceAll(`=${INSTALLED_PATH} `, `=${binary} `));
}, 60_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function analyze(args: string[]) {
  const result = Bun.spawnSync(["systemd-analyze", ...args, unitPath], { cwd: dir, stdout: "pipe", stderr: "pipe" });
  return { code: result.exitCode, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

describe("pacer.service", () => {
  test("systemd-analyze verify has nothing to say about it", () => {
    if (!haveSystemd) return;
    const verify = analyze(["verify", "--man=no"]);
    expect(verify.stderr + verify.stdout).toBe("");
    expect(verify.code).toBe(0);
  });

  test("systemd-analyze security rates its sandbox as hardened", () => {
    if (!haveSystemd) return;
    const security = analyze(["security", "--offline=yes", "--no-pager"]);
    const exposure = /Overall exposure level for pacer\.service: ([\d.]+)/.exec(security.stdout);
    expect(exposure).not.toBeNull();
    expect(Number(exposure![1])).toBeLessThanOrEqual(MOST_EXPOSURE);
  });

  test("it is a notify service that reloads with SIGHUP, restarts on failure and holds no capability by default", () => {
    const directives = new Map(
      UNIT.split("\n")
        .filter((line) => /^[A-Z]\w*=/.test(line))
        .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)] as const),
    );
    expect(directives.get("Type")).toBe("notify");
    expect(directives.get("ExecReload")).toBe("/bin/kill -HUP $MAINPID");
    expect(directives.get("Restart")).toBe("on-failure");
    expect(directives.get("ProtectSystem")).toBe("strict");
    expect(directives.get("DynamicUser")).toBe("yes");
    expect(directives.get("ReadWritePaths")).toBeDefined();
    expect(directives.get("WatchdogSec")).toMatch(/^[1-9]\d*s$/); // a watchdog that is on (0 turns it off)
    expect(directives.has("AmbientCapabilities")).toBe(false);
    expect(directives.get("CapabilityBoundingSet")).toBe("");
  });
});
