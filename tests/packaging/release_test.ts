/**
 * The release archive works where nothing else of pacer is: unpacked into an empty folder, with
 * no Bun and no node_modules on PATH, `./pacer --version` answers and `./pacer play` sends a test
 * tone to a UDP receiver. Slow (a compile and a gzip of ~110 MB, about 10 s), so it runs under CI
 * or with PACER_RELEASE_TEST=1.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import { DEFAULT_CONFIG_TOML, parseConfig } from "../../server/config.ts";
import { release, TARGETS } from "../../scripts/release.ts";
import { REPO } from "../../scripts/help_text.ts";
import { udpReceiver } from "../helpers/udp_receiver.ts";

const wanted = process.env.PACER_RELEASE_TEST === "1" || process.env.CI === "true";
const work = mkdtempSync(join(tmpdir(), "pacer-release-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Runs a command with only the system's own PATH, where no bun or node_modules is. */
function run(argv: string[], cwd: string) {
  const result = Bun.spawnSync(argv, { cwd, stdout: "pipe", stderr: "pipe", env: { PATH: "/usr/bin:/bin", HOME: cwd } });
  return { code: result.exitCode, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

describe.skipIf(!wanted)("release archive", () => {
  test(
    "unpacked in an empty folder, the binary says its version and plays a tone to a UDP receiver",
    async () => {
      const out = join(work, "release");
      // An archive an earlier run (--only another target) left, with its sum: kept in SHA256SUMS.
      mkdirSync(out, { recursive: true });
      writeFileSync(join(out, "pacer-earlier.tar.gz"), "earlier");
      const earlierSum = `${new Bun.CryptoHasher("sha256").update("earlier").digest("hex")}  pacer-earlier.tar.gz\n`;
      writeFileSync(join(out, "SHA256SUMS"), earlierSum);
      const [archive] = await release(
        TARGETS.filter((t) => t.name === "linux-x64"),
        out,
      );
      const folder = `pacer-${pkg.version}-linux-x64`;
      expect(archive!.path).toBe(join(out, `${folder}.tar.gz`));
      expect(run(["sha256sum", "-c", "SHA256SUMS"], out).code).toBe(0);
      // Before, each run wrote only its own archives' lines.
      expect(readFileSync(join(out, "SHA256SUMS"), "utf8").split("\n").filter(Boolean).map((l) => l.split("  ")[1])).toEqual([`${folder}.tar.gz`, "pacer-earlier.tar.gz"]);

      const clean = join(work, "clean");
      expect(Bun.spawnSync(["mkdir", "-p", clean]).exitCode).toBe(0);
      expect(run(["tar", "-xzf", archive!.path, "-C", clean], clean).code).toBe(0);
      const unpacked = join(clean, folder);
      const files = (dir: string, prefix = ""): string[] =>
        readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
          e.isDirectory() ? files(join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`],
        );
      expect(files(unpacked).sort()).toEqual([
        "completions/_pacer",
        "completions/pacer.bash",
        "man/pacer.1",
        "man/pacer.toml.5",
        "pacer",
        "pacer.service",
        "pacer.toml.example",
      ]);
      const example = readFileSync(join(unpacked, "pacer.toml.example"), "utf8");
      const { source: _a, ...fromExample } = parseConfig(example, "example");
      const { source: _b, ...fromDefault } = parseConfig(DEFAULT_CONFIG_TOML, "default");
      expect(fromExample).toEqual(fromDefault);

      const version = run(["./pacer", "--version"], unpacked);
      expect(version.stdout).toBe(`pacer ${pkg.version}\n`);
      expect(version.code).toBe(0);

      // One second of the repository's test tone: 44.1 kHz s16le stereo, 176,400 bytes of samples.
      const tone = join(unpacked, "tone.wav");
      expect(Bun.spawnSync([process.execPath, join(REPO, "scripts", "tone.ts"), tone, "1"]).exitCode).toBe(0);
      const receiver = await udpReceiver();
      try {
        const play = Bun.spawn(["./pacer", "play", "tone.wav", "--to", `rtp://127.0.0.1:${receiver.port}`], {
          cwd: unpacked,
          env: { PATH: "/usr/bin:/bin", HOME: unpacked },
          stdout: "pipe",
          stderr: "pipe",
        });
        const code = await play.exited;
        expect({ code, stderr: await new Response(play.stderr).text() }).toEqual({ code: 0, stderr: "" });
        await Bun.sleep(100);
        const packets = receiver.packets;
        expect(packets.length).toBeGreaterThan(50);
        for (const p of packets) {
          expect(p.data[0]! >> 6).toBe(2); // RTP version 2
          expect(p.data[1]! & 0x7f).toBe(10); // L16 44.1 kHz stereo (RFC 3551)
        }
        const payloadBytes = packets.reduce((sum, p) => sum + p.data.length - 12, 0);
        expect(payloadBytes).toBe(176_400);
      } finally {
        receiver.close();
      }
    },
    60_000,
  );
});
