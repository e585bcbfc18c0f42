/**
 * `npm run release [-- --only linux-x64,... --out DIR]`: one archive per target in dist/release,
 * pacer-VERSION-TARGET.tar.gz, each holding
 *
 *   pacer                  the binary, compiled as `npm run build` compiles it
 *   pacer.service          the systemd unit (contrib/)
 *   pacer.toml.example     every config key, commented out, with its default
 *   man/pacer.1, man/pacer.toml.5
 *   completions/pacer.bash, completions/_pacer (zsh)
 *
 * and SHA256SUMS beside them (`sha256sum -c SHA256SUMS`). Targets: linux-x64 with the Bun this
 * repository pins; linux-x64-baseline (CPUs without AVX2) and linux-arm64 with the Bun runtime of
 * the same version from its npm package (@oven/bun-linux-x64-baseline, @oven/bun-linux-aarch64),
 * fetched once with `npm pack` into .cache/bun-runtimes, so the compile itself downloads nothing.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { parseArgs } from "node:util";
import pkg from "../package.json" with { type: "json" };
import { DEFAULT_CONFIG_TOML } from "../server/config.ts";
import { renderCompletions } from "./completions.ts";
import { exampleConfig } from "./config_doc.ts";
import { collectHelp, REPO } from "./help_text.ts";
import { renderManPages, writeFiles } from "./man.ts";

export interface Target {
  /** The archive's suffix. */
  name: string;
  /** bun build --target. */
  bunTarget: string;
  /** The npm package whose bin/bun is this target's runtime; none: the Bun running this script. */
  runtimePackage?: string;
  /** ELF e_machine of the binary, checked before packing: 62 x86-64, 183 AArch64. */
  machine: number;
}

export const TARGETS: readonly Target[] = [
  { name: "linux-x64", bunTarget: "bun-linux-x64", machine: 62 },
  { name: "linux-x64-baseline", bunTarget: "bun-linux-x64-baseline", runtimePackage: "@oven/bun-linux-x64-baseline", machine: 62 },
  { name: "linux-arm64", bunTarget: "bun-linux-arm64", runtimePackage: "@oven/bun-linux-aarch64", machine: 183 },
];

const RUNTIMES = join(REPO, ".cache", "bun-runtimes");

function run(argv: string[], cwd = REPO): string {
  const result = Bun.spawnSync(argv, { cwd, stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) {
    throw new Error(`${argv.join(" ")} exited ${result.exitCode}: ${result.stderr.toString().trim()}`);
  }
  return result.stdout.toString();
}

/** The target's Bun runtime, from its npm package (cached), or null for the running Bun. */
function runtimeFor(target: Target): string | null {
  if (!target.runtimePackage) return null;
  const folder = join(RUNTIMES, `${basename(target.runtimePackage)}-${Bun.version}`);
  const bun = join(folder, "package", "bin", "bun");
  if (!existsSync(bun)) {
    mkdirSync(folder, { recursive: true });
    const tarball = run(["npm", "pack", `${target.runtimePackage}@${Bun.version}`, "--silent", "--pack-destination", folder])
      .trim()
      .split("\n")
      .at(-1)!;
    run(["tar", "-xzf", join(folder, tarball), "-C", folder, "package/bin/bun"]);
    rmSync(join(folder, tarball));
  }
  return bun;
}

/**
 * `npm run build`'s own command, to another output (and target): the flags live in one place,
 * package.json, so a release binary is the binary the tests and benchmarks measure.
 */
export function buildCommand(outfile: string, target?: Target, runtime?: string | null): string[] {
  const words = pkg.scripts.build.split(/\s+/);
  if (words[0] !== "bun" || words[1] !== "build") throw new Error(`package.json "build" is not a bun build: ${pkg.scripts.build}`);
  const argv = [process.execPath, ...words.slice(1).filter((w, i, all) => w !== "--outfile" && all[i - 1] !== "--outfile")];
  argv.push("--outfile", outfile);
  if (target) argv.push(`--target=${target.bunTarget}`);
  if (runtime) argv.push(`--compile-executable-path=${runtime}`);
  return argv;
}

/** Compiles pacer for `target` into `outfile`, and checks the result is for that machine. */
export function compile(target: Target, outfile: string): void {
  run(buildCommand(outfile, target, runtimeFor(target)));
  const header = readFileSync(outfile).subarray(0, 20);
  const machine = header.readUInt16LE(18);
  if (header.readUInt32BE(0) !== 0x7f454c46 || machine !== target.machine) {
    throw new Error(`${outfile}: expected an ELF for machine ${target.machine}, got machine ${machine}`);
  }
}

/** The files every archive carries besides the binary, by their path in it. */
async function packagingFiles(): Promise<Record<string, string>> {
  const help = await collectHelp();
  return {
    ...renderManPages(help),
    ...renderCompletions(help),
    "pacer.service": readFileSync(join(REPO, "contrib", "pacer.service"), "utf8"),
    "pacer.toml.example": exampleConfig(DEFAULT_CONFIG_TOML),
  };
}

/** When the sources were last committed, so archives made twice from one commit are alike. */
function sourceDateEpoch(): string {
  try {
    return run(["git", "log", "-1", "--format=%ct"]).trim() || String(Math.floor(Date.now() / 1000));
  } catch {
    return String(Math.floor(Date.now() / 1000));
  }
}

export interface Archive {
  target: string;
  path: string;
  bytes: number;
  binaryBytes: number;
}

/**
 * SHA256SUMS for this run's archives and those an earlier run (`--only` another target) left in
 * the folder, each hashed afresh: each run had written only its own, so the others' no longer
 * checked.
 */
function mergedSums(path: string, archives: readonly Archive[]): string {
  const names = new Set(archives.map((a) => basename(a.path)));
  if (existsSync(path)) {
    for (const line of readFileSync(path, "utf8").split("\n")) {
      const name = /^[0-9a-f]{64} {2}(.+)$/.exec(line)?.[1];
      if (name && existsSync(join(dirname(path), name))) names.add(name);
    }
  }
  const sum = (name: string) => new Bun.CryptoHasher("sha256").update(readFileSync(join(dirname(path), name))).digest("hex");
  return [...names].sort().map((name) => `${sum(name)}  ${name}\n`).join("");
}

/** Builds the archives for `targets` into `outDir`, with SHA256SUMS (and the sums of archives already there). */
export async function release(targets: readonly Target[], outDir: string): Promise<Archive[]> {
  mkdirSync(outDir, { recursive: true });
  const files = await packagingFiles();
  const epoch = sourceDateEpoch();
  const archives: Archive[] = [];
  for (const target of targets) {
    const folder = `pacer-${pkg.version}-${target.name}`;
    const stage = join(outDir, folder);
    rmSync(stage, { recursive: true, force: true });
    writeFiles(files, stage);
    compile(target, join(stage, "pacer"));
    chmodSync(join(stage, "pacer"), 0o755);
    const path = join(outDir, `${folder}.tar.gz`);
    run(
      [
        "tar",
        "--sort=name",
        "--owner=0",
        "--group=0",
        "--numeric-owner",
        `--mtime=@${epoch}`,
        "--use-compress-program=gzip -n",
        "-cf",
        path,
        folder,
      ],
      outDir,
    );
    archives.push({ target: target.name, path, bytes: statSync(path).size, binaryBytes: statSync(join(stage, "pacer")).size });
    rmSync(stage, { recursive: true, force: true });
  }
  writeFileSync(join(outDir, "SHA256SUMS"), mergedSums(join(outDir, "SHA256SUMS"), archives));
  return archives;
}

const MB = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

if (import.meta.main) {
  const { values } = parseArgs({
    options: { only: { type: "string" }, out: { type: "string", default: join(REPO, "dist", "release") } },
  });
  const wanted = values.only?.split(",") ?? TARGETS.map((t) => t.name);
  const unknown = wanted.filter((name) => !TARGETS.some((t) => t.name === name));
  if (unknown.length > 0) throw new Error(`unknown target ${unknown.join(", ")}; targets: ${TARGETS.map((t) => t.name).join(", ")}`);
  const archives = await release(
    TARGETS.filter((t) => wanted.includes(t.name)),
    values.out!,
  );
  for (const a of archives) console.log(`${a.path}: ${MB(a.bytes)} (binary ${MB(a.binaryBytes)})`);
  console.log(`${join(values.out!, "SHA256SUMS")}`);
}
