/** A process short of descriptors, made from outside: its soft RLIMIT_NOFILE lowered while it runs. */
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

/** The lowest descriptor number `pid` has free: with its soft limit there, its opens fail (EMFILE). */
export function lowestFreeDescriptor(pid: number): number {
  const held = new Set(readdirSync(`/proc/${pid}/fd`).map(Number));
  let n = 0;
  while (held.has(n)) n++;
  return n;
}

/** Sets `pid`'s soft descriptor limit (the hard limit where `soft` is null), as its own user. */
export function limitDescriptors(pid: number, soft: number | null): void {
  const hard = /^Max open files\s+\d+\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/limits`, "utf8"))![1]!;
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const [uid, gid] = ["Uid", "Gid"].map((field) => new RegExp(`^${field}:\\s+(\\d+)`, "m").exec(status)![1]!);
  const prlimit = ["prlimit", "--pid", String(pid), `--nofile=${soft ?? hard}:`];
  // As the process's own user: this host's root may lack CAP_SYS_RESOURCE over another user's process.
  const command = Number(uid) === process.getuid!() ? prlimit : ["setpriv", `--reuid=${uid}`, `--regid=${gid}`, "--clear-groups", ...prlimit];
  const run = spawnSync(command[0]!, command.slice(1), { encoding: "utf8" });
  if (run.status !== 0) throw new Error(`prlimit: ${run.stderr}`);
}
