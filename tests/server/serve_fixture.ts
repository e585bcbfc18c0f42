/**
 * A real `pacer serve` for end-to-end tests: a temp directory with a config, a media root with a
 * small CBR transport stream, and the server process on a free loopback port. When the tests run
 * as root the server drops to "nobody", so everything it must read is made world-readable.
 */
import type { ChildProcess } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeRequest, type Op } from "../../protocol/control.ts";
import { makeCbrTs } from "../helpers/mpeg_fixtures.ts";
import { startPacer } from "../helpers/pacer.ts";
import { freeUdpPort } from "../helpers/ports.ts";

/** 1.5 s at 1 Mbit/s: 997 TS packets, a whole number of them. */
export const CLIP = makeCbrTs({ bitrate: 1_000_000, duration: 1.5 });
export const KEY_TEXT = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
export const KEY = new Uint8Array(Buffer.from(KEY_TEXT, "hex"));

export { freeTcpPort, freeUdpPort } from "../helpers/ports.ts";

export interface ServeOptions {
  /** Extra TOML lines (before any table). */
  readonly config?: string;
  /** Extra TOML under [limits]. */
  readonly limits?: string;
  /** Configure key_file with KEY. */
  readonly keyed?: boolean;
  /** Runs the server through this command (RunOptions.launcher). */
  readonly launcher?: string[];
  /** More arguments for `pacer serve`. */
  readonly args?: string[];
}

export interface ServeFixture {
  readonly dir: string;
  readonly mediaRoot: string;
  readonly configPath: string;
  readonly port: number;
  /** "127.0.0.1:PORT" */
  readonly address: string;
  readonly child: ChildProcess;
  stderr(): string;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
  cleanup(): void;
}

/** A world-readable temp directory (the server may run as nobody). */
export function makeSharedDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o755);
  return dir;
}

export async function startServe(options: ServeOptions = {}): Promise<ServeFixture> {
  const prepared = await prepareServe(options);
  const fixture = launch(prepared.dir, prepared.mediaRoot, prepared.configPath, prepared.port, options.launcher, options.args);
  await fixture.ready;
  return fixture;
}

/** Writes the temp directory, media and config for a server, without starting it. */
export async function prepareServe(options: ServeOptions = {}) {
  const dir = makeSharedDir("pacer-serve-");
  const mediaRoot = join(dir, "media");
  mkdirSync(mediaRoot);
  chmodSync(mediaRoot, 0o755);
  writeFileSync(join(mediaRoot, "clip.ts"), CLIP, { mode: 0o644 });
  const port = await freeUdpPort();
  const lines = [`control = "127.0.0.1:${port}"`, `media_root = "${mediaRoot}"`];
  if (options.keyed) {
    const keyPath = join(dir, "key");
    writeFileSync(keyPath, KEY_TEXT + "\n", { mode: 0o644 });
    lines.push(`key_file = "${keyPath}"`);
  }
  if (options.config) lines.push(options.config);
  if (options.limits) lines.push("[limits]", options.limits);
  const configPath = join(dir, "pacer.toml");
  writeFileSync(configPath, lines.join("\n") + "\n", { mode: 0o644 });
  return { dir, mediaRoot, configPath, port, address: `127.0.0.1:${port}` };
}

/** Starts `pacer serve --config configPath`; `ready` resolves once it logs "serving". */
export function launch(dir: string, mediaRoot: string, configPath: string, port: number, launcher?: string[], args: string[] = []): ServeFixture & { ready: Promise<void> } {
  const child = startPacer(["serve", "--config", configPath, ...args], { launcher });
  let stderr = "";
  let exited = false;
  const exit = new Promise<number | null>((resolve) => child.on("exit", (code) => ((exited = true), resolve(code))));
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`pacer serve did not start:\n${stderr}`)), 10_000);
    child.stderr!.on("data", (d) => {
      stderr += d;
      if (stderr.includes("pacer: serving")) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exit.then((code) => {
      clearTimeout(timer);
      reject(new Error(`pacer serve exited with ${code}:\n${stderr}`));
    });
  });
  ready.catch(() => {});
  return {
    dir,
    mediaRoot,
    configPath,
    port,
    address: `127.0.0.1:${port}`,
    child,
    ready,
    stderr: () => stderr,
    stop: async () => {
      if (!exited) child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      const code = await exit;
      clearTimeout(timer);
      return code;
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A raw control peer: sends exact datagrams and collects the exact reply bytes. */
export async function rawPeer(hostname = "127.0.0.1") {
  const replies: Uint8Array[] = [];
  let wake: (() => void) | null = null;
  const socket = await Bun.udpSocket({
    hostname,
    socket: {
      data(_s, data) {
        replies.push(new Uint8Array(data));
        wake?.();
      },
      error() {},
    },
  });
  return {
    replies,
    port: socket.port,
    send: (bytes: Uint8Array, port: number) => socket.send(bytes, port, "127.0.0.1"),
    /** The next reply, or null after `timeoutMs`. */
    async next(timeoutMs = 1000): Promise<Uint8Array | null> {
      const deadline = Date.now() + timeoutMs;
      while (replies.length === 0 && Date.now() < deadline) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, Math.max(1, deadline - Date.now()));
        });
        wake = null;
      }
      return replies.shift() ?? null;
    },
    close: () => socket.close(),
  };
}

let counter = 0;

/** A valid request datagram, padded so any reply fits (keyless) or MACed (keyed). */
export function requestBytes(op: Op, args: Record<string, unknown> = {}, o: { key?: Uint8Array; id?: string; ts?: number } = {}): Uint8Array {
  const id = o.id ?? `t${process.pid}-${++counter}`;
  return encodeRequest({ v: 1, id, ts: o.ts ?? Date.now(), op, args }, o.key, o.key ? {} : { padTo: 1400 });
}

/** Resident memory of a process, kB (Linux). */
export async function rssKb(pid: number): Promise<number> {
  const status = await Bun.file(`/proc/${pid}/status`).text();
  return Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? NaN);
}

/** Uid line of a process: real, effective, saved, fs. */
export async function uids(pid: number): Promise<number[]> {
  const status = await Bun.file(`/proc/${pid}/status`).text();
  return (/^Uid:\s+(.*)$/m.exec(status)?.[1] ?? "").trim().split(/\s+/).map(Number);
}
