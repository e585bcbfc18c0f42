/**
 * A throwaway network namespace with only a loopback interface, multicast on and 224.0.0.0/4
 * routed to it: multicast tests (SAP, groups) send there and nowhere else. Needs root (or
 * CAP_SYS_ADMIN); where namespaces cannot be made the test skips with a message, except under CI,
 * which can make them.
 */
import { spawnSync } from "node:child_process";

export interface Netns {
  readonly name: string;
  /** Prefix for a command to run inside: `[...ns.exec, "ffmpeg", ...]`. */
  readonly exec: string[];
  /** Deletes the namespace (and with it its interfaces and routes). */
  remove(): void;
}

function ip(args: string[]): { ok: boolean; stderr: string } {
  const run = spawnSync("ip", args, { encoding: "utf8" });
  return { ok: run.status === 0, stderr: (run.stderr ?? "").trim() || String(run.error ?? "") };
}

/** Makes the namespace, or returns null (with a console warning) where that is not possible. */
export function makeLoopbackNetns(prefix: string): Netns | null {
  const name = `${prefix}-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
  const steps = [
    ["netns", "add", name],
    ["netns", "exec", name, "ip", "link", "set", "lo", "up", "multicast", "on"],
    ["netns", "exec", name, "ip", "route", "add", "224.0.0.0/4", "dev", "lo"],
  ];
  for (const step of steps) {
    const result = ip(step);
    if (!result.ok) {
      ip(["netns", "del", name]);
      const why = `cannot make a network namespace (ip ${step.join(" ")}: ${result.stderr})`;
      if (process.env.CI === "true") throw new Error(`${why}; CI must be able to`);
      console.warn(`skipping: ${why}`);
      return null;
    }
  }
  return {
    name,
    exec: ["ip", "netns", "exec", name],
    remove: () => void ip(["netns", "del", name]),
  };
}
